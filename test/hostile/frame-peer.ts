/**
 * A hostile HTTP/2 peer below `node:http2`: a TCP socket that writes frames
 * by hand, so it can do what Node's own client never does, such as open
 * more streams than the server's SETTINGS allow. It reads the frames the
 * server sends back and keeps the ones a test asserts on.
 */
import { once } from "node:events";
import net from "node:net";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
export const HEADERS = 0x1;
const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
const GOAWAY = 0x7;
export const END_HEADERS = 0x4;
const ACK = 0x1;
const CANCEL = 0x8;

export interface FramePeer {
  /** RST_STREAM error codes the server sent, by stream id. */
  readonly resets: Map<number, number>;
  /** Stream ids the server sent response HEADERS on. */
  readonly answered: Set<number>;
  /** The GOAWAY the server sent, if any. */
  goaway: { lastStreamId: number; code: number } | undefined;
  /** Whether the server's SETTINGS came. */
  settingsReceived: boolean;
  /** Opens stream `id` (odd) to `path` with gRPC's request headers, without END_STREAM. */
  open(id: number, path: string): void;
  /** Resets stream `id` with RST_STREAM (CANCEL). */
  reset(id: number): void;
  /** Acknowledges the server's SETTINGS, which makes its limits binding. */
  ackSettings(): void;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  /** Whether the socket has closed. */
  readonly isClosed: boolean;
  destroy(): void;
}

/** Connects to 127.0.0.1:`port` and sends the preface and an empty SETTINGS, but no SETTINGS ACK. */
export async function connectFramePeer(port: number): Promise<FramePeer> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  await once(socket, "connect");
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))]));
  let pending = Buffer.alloc(0);
  // Writes nothing once the server has closed the socket, as a flood would.
  const send = (bytes: Buffer): void => {
    if (socket.writable) {
      socket.write(bytes, () => {});
    }
  };
  const peer: FramePeer = {
    resets: new Map(),
    answered: new Set(),
    goaway: undefined,
    settingsReceived: false,
    open(id, path) {
      const block = Buffer.concat(
        [
          [":method", "POST"],
          [":scheme", "http"],
          [":path", path],
          [":authority", `127.0.0.1:${port}`],
          ["content-type", "application/grpc"],
          ["te", "trailers"],
        ].map(([name, value]) => literal(name as string, value as string)),
      );
      send(frame(HEADERS, END_HEADERS, id, block));
    },
    reset(id) {
      const code = Buffer.alloc(4);
      code.writeUInt32BE(CANCEL);
      send(frame(RST_STREAM, 0, id, code));
    },
    ackSettings() {
      send(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
    },
    closed: new Promise((resolve) => socket.once("close", () => resolve())),
    get isClosed() {
      return socket.destroyed;
    },
    destroy() {
      socket.destroy();
    },
  };
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3);
      const type = pending[3];
      const flags = pending[4] as number;
      const id = pending.readUInt32BE(5) & 0x7fffffff;
      const payload = pending.subarray(9, 9 + length);
      pending = pending.subarray(9 + length);
      if (type === RST_STREAM) {
        peer.resets.set(id, payload.readUInt32BE(0));
      } else if (type === HEADERS) {
        peer.answered.add(id);
      } else if (type === GOAWAY) {
        peer.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
      } else if (type === SETTINGS && (flags & ACK) === 0) {
        peer.settingsReceived = true;
      }
    }
  });
  return peer;
}

/** One HTTP/2 frame: the 9-byte header, then `payload`. */
export function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK literal header field without indexing, with a new name, no Huffman coding (RFC 7541, 6.2.2). */
export function literal(name: string, value: string): Buffer {
  if (name.length > 126 || value.length > 126) {
    throw new RangeError("a header this long needs a multi-byte length");
  }
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}
