/**
 * Calls that no handler of a leaksafe server serves: grpc-js answers them
 * itself (UNIMPLEMENTED) before any interceptor or handler, so the registry
 * never sees them. For an `onUnservedCall` hook, and only then, the server
 * watches its HTTP/2 streams and reports each such call when it closes.
 */
import type http2 from "node:http2";
import { Metadata, type Server } from "@grpc/grpc-js";
import { http2ServersOf } from "./grpc-internals.js";
import { Status } from "./rpc-error.js";

/** What `onUnservedCall` gets. */
export interface UnservedCallInfo {
  /** The path the peer sent, e.g. "/example.v1.Chat/Nope": untrusted text, of any length. */
  method: string;
  /** True for a method of a service added to the server that its implementation lacks; false for any other path. */
  registered: boolean;
  /** The client's address. */
  peer: string;
  /** The request metadata. */
  metadata: Metadata;
  /** The status grpc-js answered with: UNIMPLEMENTED, or CANCELLED if the stream was reset before any answer. */
  code: Status;
  /** From the request's HEADERS to the stream's close, in milliseconds. */
  durationMs: number;
}

type AnyHttp2Server = http2.Http2Server | http2.Http2SecureServer;

/** The watch of one server's unserved calls. */
export class UnservedCalls {
  private readonly watched = new WeakSet<AnyHttp2Server>();

  constructor(
    private readonly hook: (info: UnservedCallInfo) => void,
    /** Whether a handler of the server serves `path`. */
    private readonly served: (path: string) => boolean,
    /** Whether `path` is a method of a service added to the server. */
    private readonly registered: (path: string) => boolean,
  ) {}

  /** Watches the HTTP/2 servers grpc-js made for the ports bound so far. Call it after each bind. */
  watch(server: Server): void {
    for (const http2Server of http2ServersOf(server)) {
      if (!this.watched.has(http2Server)) {
        this.watched.add(http2Server);
        http2Server.on("stream", this.stream);
      }
    }
  }

  private readonly stream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    const path = headers[":path"];
    const type = headers["content-type"];
    // grpc-js refuses what is not gRPC with HTTP 415: not a call.
    if (typeof path !== "string" || typeof type !== "string" || !type.startsWith("application/grpc")) return;
    if (this.served(path)) return;
    const since = performance.now();
    const socket = stream.session?.socket;
    const peer = socket?.remoteAddress === undefined ? "unknown" : `${socket.remoteAddress}:${socket.remotePort}`;
    stream.once("close", () => {
      this.hook({
        method: path,
        registered: this.registered(path),
        peer,
        metadata: Metadata.fromHttp2Headers(headers),
        code: sentStatus(stream),
        durationMs: performance.now() - since,
      });
    });
  };
}

/** The `grpc-status` this server sent on `stream`, in its trailers or a trailers-only response. */
function sentStatus(stream: http2.ServerHttp2Stream): Status {
  const sent = stream.sentTrailers?.["grpc-status"] ?? stream.sentHeaders?.["grpc-status"];
  const code = Number(sent);
  return sent === undefined || !Number.isInteger(code) ? Status.CANCELLED : (code as Status);
}
