/**
 * A hostile gRPC peer: a raw `node:http2` server on 127.0.0.1:0 whose
 * stream handler the test scripts. It can send any headers, any bytes as
 * gRPC frames and any trailers, or never answer at all, so the client's
 * handling of a misbehaving server can be tested without grpc-js's server
 * tidying the wire first.
 */
import { once } from "node:events";
import http2 from "node:http2";

/** What a test's script gets for one incoming call. */
export interface RawCall {
  stream: http2.ServerHttp2Stream;
  /** The request's `:path`, such as `/example.v1.Chat/Post`. */
  path: string;
  /** Sends `:status 200` and `content-type: application/grpc`, plus `extra`; waits for trailers. */
  respond(extra?: http2.OutgoingHttpHeaders): void;
  /** Writes one gRPC frame: 1 byte compressed flag, 4 byte big-endian length, then `payload`. */
  writeMessage(payload: Uint8Array, options?: { compressed?: boolean; length?: number }): void;
  /** Sends trailers and ends the stream; `grpc-status` is written as given, not checked. */
  trail(trailers: http2.OutgoingHttpHeaders): void;
  /** Answers with one HEADERS frame that ends the stream: `:status 200`, `content-type` and `trailers`. */
  trailersOnly(trailers: http2.OutgoingHttpHeaders): void;
}

export interface RawServer {
  port: number;
  /** How many calls have arrived so far. */
  calls(): number;
  /** Destroys every stream and session, then closes the server. */
  close(): Promise<void>;
}

/** One gRPC frame's bytes. `length` overrides the length prefix, to lie about it. */
export function grpcFrame(payload: Uint8Array, options: { compressed?: boolean; length?: number } = {}): Buffer {
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt8(options.compressed === true ? 1 : 0, 0);
  frame.writeUInt32BE(options.length ?? payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

/**
 * Starts a raw HTTP/2 server; `script` runs once per incoming call. The
 * request body is drained and ignored unless the script reads it first.
 */
export async function startRawServer(script: (call: RawCall) => void | Promise<void>): Promise<RawServer> {
  const server = http2.createServer({ maxSessionMemory: 1000, maxSendHeaderBlockLength: 4 << 20 });
  const sessions = new Set<http2.ServerHttp2Session>();
  let count = 0;
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    count++;
    stream.on("error", () => {});
    stream.resume();
    const call: RawCall = {
      stream,
      path: String(headers[":path"]),
      respond(extra = {}) {
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...extra }, { waitForTrailers: true });
      },
      writeMessage(payload, options) {
        stream.write(grpcFrame(payload, options));
      },
      trail(trailers) {
        stream.once("wantTrailers", () => stream.sendTrailers(trailers));
        stream.end();
      },
      trailersOnly(trailers) {
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      },
    };
    void Promise.resolve(script(call)).catch((error: unknown) => stream.destroy(error as Error));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("the raw server has no port");
  }
  return {
    port: address.port,
    calls: () => count,
    async close() {
      for (const session of sessions) {
        session.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
