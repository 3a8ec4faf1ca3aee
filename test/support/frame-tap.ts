/**
 * A TCP forwarder on loopback that reads the HTTP/2 frames a client sends
 * on their way to the server, so a test can assert what went on the wire
 * (an END_STREAM flag, a RST_STREAM code, a PING's payload) and in which
 * order. It forwards every byte unchanged and in order, frame by frame;
 * `holdAfter` can make it hold back everything that follows a frame for a
 * while, as a slow network or a stalled client would.
 */
import { connect, createServer, type Socket } from "node:net";

/** One frame from client to server. */
export interface TappedFrame {
  type: string;
  streamId: number;
  /** END_STREAM on DATA and HEADERS; ACK on PING and SETTINGS. */
  endOrAck: boolean;
  /** A RST_STREAM's or GOAWAY's error code; a PING's payload in latin1. */
  detail: string | number | undefined;
}

export interface FrameTap {
  readonly port: number;
  /** The frames each connection's client sent, one list per connection, in order. */
  readonly connections: TappedFrame[][];
  close(): Promise<void>;
}

const TYPES = [
  "DATA",
  "HEADERS",
  "PRIORITY",
  "RST_STREAM",
  "SETTINGS",
  "PUSH_PROMISE",
  "PING",
  "GOAWAY",
  "WINDOW_UPDATE",
  "CONTINUATION",
];
const PREFACE_LENGTH = 24;
const HEADER_LENGTH = 9;

export interface FrameTapOptions {
  /** Milliseconds to hold back every client byte after this frame (0: none). */
  holdAfter?: (frame: TappedFrame) => number;
}

export async function startFrameTap(targetPort: number, { holdAfter }: FrameTapOptions = {}): Promise<FrameTap> {
  const connections: TappedFrame[][] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const frames: TappedFrame[] = [];
    connections.push(frames);
    const upstream = connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    let pending = Buffer.alloc(0);
    let prefaceLeft = PREFACE_LENGTH;
    // Bytes held back, in order, until `releaseAt`.
    let held: Buffer[] = [];
    let releaseAt = 0;
    const forward = (bytes: Buffer): void => {
      if (held.length > 0 || Date.now() < releaseAt) {
        held.push(bytes);
        return;
      }
      upstream.write(bytes);
    };
    const release = (): void => {
      for (const bytes of held) upstream.write(bytes);
      held = [];
    };
    client.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const skip = Math.min(prefaceLeft, pending.length);
      if (skip > 0) forward(pending.subarray(0, skip));
      prefaceLeft -= skip;
      pending = pending.subarray(skip);
      while (pending.length >= HEADER_LENGTH && pending.length >= HEADER_LENGTH + pending.readUIntBE(0, 3)) {
        const length = pending.readUIntBE(0, 3);
        const bytes = pending.subarray(0, HEADER_LENGTH + length);
        const frame = parse(bytes);
        frames.push(frame);
        forward(bytes);
        pending = pending.subarray(HEADER_LENGTH + length);
        const ms = holdAfter?.(frame) ?? 0;
        if (ms > 0) {
          releaseAt = Date.now() + ms;
          setTimeout(release, ms).unref();
        }
      }
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function parse(frame: Buffer): TappedFrame {
  const typeCode = frame[3] ?? -1;
  const type = TYPES[typeCode] ?? `type ${typeCode}`;
  const flags = frame[4] ?? 0;
  const streamId = frame.readUInt32BE(5) & 0x7fffffff;
  const payload = frame.subarray(HEADER_LENGTH);
  let detail: string | number | undefined;
  if (type === "RST_STREAM") {
    detail = payload.readUInt32BE(0);
  } else if (type === "GOAWAY") {
    detail = payload.readUInt32BE(4);
  } else if (type === "PING") {
    detail = payload.toString("latin1");
  }
  return { type, streamId, endOrAck: (flags & 0x1) !== 0, detail };
}
