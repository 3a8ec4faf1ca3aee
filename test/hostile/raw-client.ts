/**
 * A hostile gRPC client: a raw `node:http2` session to a server on
 * 127.0.0.1, whose streams the test scripts frame by frame. It can send
 * headers alone, a message cut short, any `grpc-timeout`, or never read
 * what comes back, so the server's handling of a misbehaving peer can be
 * tested without grpc-js's client tidying the wire first.
 */
import { once } from "node:events";
import http2 from "node:http2";
import { grpcFrame } from "./raw-server.js";

/** How one raw stream ended, as the client saw it. */
export interface RawOutcome {
  /** `grpc-status` from the trailers (or trailers-only headers), as sent; undefined if none came. */
  status: string | undefined;
  /** `grpc-message`, as sent. */
  message: string | undefined;
  /** The gRPC messages' payloads that arrived before the end. */
  messages: Buffer[];
  /** The RST_STREAM code that closed the stream, 0 (NO_ERROR) after a clean end. */
  rstCode: number;
}

/** One raw call on a raw session. */
export interface RawStream {
  readonly stream: http2.ClientHttp2Stream;
  /** Writes one gRPC frame; `length` lies about the length prefix. */
  writeMessage(payload: Uint8Array, options?: { compressed?: boolean; length?: number }): void;
  /** Writes raw bytes, such as part of a frame. */
  writeBytes(bytes: Uint8Array): void;
  /** Sends END_STREAM. */
  end(): void;
  /** Resolves when the stream has closed, with what came back. */
  readonly outcome: Promise<RawOutcome>;
}

export interface RawClient {
  readonly session: http2.ClientHttp2Session;
  /**
   * Opens a call to `path` with gRPC's request headers plus `headers`.
   * `read: false` never reads the response, so the flow-control window the
   * server may send into is only the initial one.
   */
  open(path: string, options?: { headers?: http2.OutgoingHttpHeaders; read?: boolean }): RawStream;
  /** Destroys the session and its socket. */
  close(): Promise<void>;
}

/**
 * Connects to 127.0.0.1:`port`; `settings` go into the session's SETTINGS
 * frame, and `options` to `http2.connect`, such as a `maxSendHeaderBlockLength`
 * above Node's 64 KiB so that a header flood reaches the server.
 */
export async function connectRaw(
  port: number,
  settings: http2.Settings = {},
  options: http2.ClientSessionOptions = {},
): Promise<RawClient> {
  const session = http2.connect(`http://127.0.0.1:${port}`, { ...options, settings });
  session.on("error", () => {});
  await once(session, "connect");
  return {
    session,
    open(path, { headers = {}, read = true } = {}) {
      const stream = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        ...headers,
      });
      stream.on("error", () => {});
      const outcome = collect(stream, read);
      return {
        stream,
        writeMessage(payload, options) {
          stream.write(grpcFrame(payload, options));
        },
        writeBytes(bytes) {
          stream.write(bytes);
        },
        end() {
          stream.end();
        },
        outcome,
      };
    },
    async close() {
      if (!session.destroyed) {
        session.destroy();
        await once(session, "close");
      }
    },
  };
}

function collect(stream: http2.ClientHttp2Stream, read: boolean): Promise<RawOutcome> {
  const messages: Buffer[] = [];
  let pending = Buffer.alloc(0);
  let status: string | undefined;
  let message: string | undefined;
  const take = (headers: http2.IncomingHttpHeaders): void => {
    if (headers["grpc-status"] !== undefined) {
      status = String(headers["grpc-status"]);
      message = headers["grpc-message"] === undefined ? undefined : decodeURIComponent(String(headers["grpc-message"]));
    }
  };
  stream.on("response", take);
  stream.on("trailers", take);
  if (read) {
    stream.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const length = pending.readUInt32BE(1);
        messages.push(pending.subarray(5, 5 + length));
        pending = pending.subarray(5 + length);
      }
    });
  } else {
    stream.pause();
  }
  return new Promise((resolve) => {
    stream.on("close", () => resolve({ status, message, messages, rstCode: stream.rstCode ?? 0 }));
  });
}
