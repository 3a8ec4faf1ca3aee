/**
 * What leaksafe does below grpc-js, at the level of a server's HTTP/2
 * connections: it reads `grpc-timeout` strictly before grpc-js does, it
 * closes the sockets of sessions that grpc-js has only half-closed, and it
 * closes a connection gracefully before nghttp2's rapid-reset limit ends
 * it abruptly (reset-budget.ts).
 *
 * It reaches grpc-js's `node:http2` servers through `http2ServersOf`
 * (grpc-internals.ts).
 */

import type http2 from "node:http2";
import { constants } from "node:http2";
import type { Socket } from "node:net";
import type { Server } from "@grpc/grpc-js";
import { afterPingRoundTrip } from "./end-barrier.js";
import {
  boundStreamBuffers,
  findHttp2Stream,
  grpcInternalsError,
  http2ServersOf,
  ownStream,
} from "./grpc-internals.js";
import { parseGrpcTimeout } from "./grpc-timeout.js";
import { MAX_TIMER_MS } from "./limits.js";
import { ResetBudget } from "./reset-budget.js";
import { hearResetOnlyPromise } from "./reset-only.js";
import { holdSessionPastStream } from "./session-hold.js";

type AnyHttp2Server = http2.Http2Server | http2.Http2SecureServer;
type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => void;

/** A call that leaksafe does not track in its registry, as shutdown's report lists it. */
export interface UntrackedCall {
  method: string;
  peer: string;
  startedAt: number;
}

/** The connections of one leaksafe server, across every port it listens on. */
export class ServerSessions {
  private readonly sockets = new Set<Socket>();
  private readonly watched = new WeakSet<AnyHttp2Server>();
  /**
   * The open streams of methods that no service added through leaksafe
   * serves: handlers added on the grpc-js server directly, and calls grpc-js
   * answers UNIMPLEMENTED. Shutdown's report counts them, as it counts the
   * registry's calls.
   */
  private readonly untracked = new Map<http2.ServerHttp2Stream, UntrackedCall>();

  /** `isTracked(path)`: whether a method's calls go through leaksafe's registry. */
  constructor(private readonly isTracked: (path: string) => boolean) {}

  /** Watches the HTTP/2 servers grpc-js made for the ports bound so far. Call it after each bind. */
  watch(server: Server): void {
    for (const http2Server of http2ServersOf(server)) {
      if (!this.watched.has(http2Server)) {
        this.watched.add(http2Server);
        gateStreams(http2Server);
        http2Server.on("connection", (socket: Socket) => this.track(socket));
        http2Server.on("stream", countResets);
        http2Server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) =>
          this.watchUntracked(stream, headers),
        );
        http2Server.on("session", hearResetOnlyPromise);
      }
    }
  }

  /** The untracked calls open now (see `untracked`). */
  untrackedCalls(): UntrackedCall[] {
    return [...this.untracked.values()];
  }

  private watchUntracked(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const path = headers[":path"] ?? "";
    if (this.isTracked(path)) {
      return;
    }
    const socket = stream.session?.socket;
    const host = socket?.remoteAddress ?? "unknown";
    const peer = `${host.includes(":") ? `[${host}]` : host}:${socket?.remotePort ?? 0}`;
    this.untracked.set(stream, { method: path, peer, startedAt: Date.now() });
    stream.on("close", () => this.untracked.delete(stream));
  }

  /** Destroys every connection still open, whatever its streams are doing. */
  destroyAll(): void {
    for (const socket of this.sockets) {
      socket.destroy();
    }
    this.sockets.clear();
  }

  /**
   * A session that Node closes gracefully (GOAWAY from grpc-js's idle
   * timer or shutdown) only ends its socket's writing side, and waits for
   * the peer to close the other. A peer that never does would hold the
   * socket for ever, and Node's `server.close()` with it. HTTP/2 ends a
   * socket's writing side only when the session is over, so once that end
   * is written ('finish'), the socket is destroyed.
   */
  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.once("finish", () => socket.destroy());
  }
}

/** What the reset count knows of one connection. */
interface Connection {
  /** Streams open, and the largest stream id the peer opened. */
  open: number;
  lastStreamId: number;
  /** The count of the streams its peer reset, made at its first reset. */
  budget: ResetBudget | undefined;
  /** Sent a shutdown notice for its resets: closed once the last of its streams ends, as the peer may ignore GOAWAY. */
  toldToLeave: boolean;
  /**
   * Its final GOAWAY was sent (or its destruction is on its way): it takes
   * no new stream, so the resets still to come are bounded by the streams
   * already open, and are no longer counted.
   */
  closedToNewStreams: boolean;
}

const connections = new WeakMap<http2.Http2Session, Connection>();

/** Watches one stream: if the peer resets it, the reset is counted against its connection. */
function countResets(stream: http2.ServerHttp2Stream): void {
  const session = stream.session;
  if (session === undefined) {
    return;
  }
  let connection = connections.get(session);
  if (connection === undefined) {
    connection = { open: 0, lastStreamId: 0, budget: undefined, toldToLeave: false, closedToNewStreams: false };
    connections.set(session, connection);
  }
  const state = connection;
  state.open++;
  state.lastStreamId = Math.max(state.lastStreamId, stream.id ?? 0);
  // `on`, not `once`: a stream closes once, and `once` costs a wrapper per stream.
  stream.on("close", () => {
    state.open--;
    if (state.open === 0 && state.toldToLeave && !session.closed) {
      session.close(); // its last stream is done: no PING is needed any more
    }
    // A reset has a code; a stream that ended both ways closes with 0. A
    // reset this server sent is counted too: it only brings the notice
    // nearer.
    if (stream.rstCode === undefined || stream.rstCode === 0 || session.destroyed || state.closedToNewStreams) {
      return;
    }
    state.budget ??= new ResetBudget();
    const verdict = state.budget.take();
    if (verdict === "close" && !state.toldToLeave) {
      tellToLeave(session, state);
    } else if (verdict === "destroy") {
      // Not from inside this 'close' event: nghttp2 is still delivering
      // the frame that reset the stream, and Node 20 destroying the
      // session's other streams from here was seen to spin for minutes.
      state.closedToNewStreams = true;
      setImmediate(() => {
        if (!session.destroyed) {
          session.goaway(INTERNAL_ERROR);
          session.destroy();
        }
      });
    }
  });
}

/**
 * Closes a connection gracefully, in two steps (RFC 9113, 6.8). First a
 * shutdown notice, GOAWAY (NO_ERROR) naming the largest stream id, so that
 * streams the client sent meanwhile are still served, not refused (not
 * every client retries them); from then on nghttp2 stops counting resets
 * itself (`session_update_stream_reset_ratelim` returns early once any
 * GOAWAY was submitted). Then, one PING round trip later, when the client
 * has read the notice and every stream it opened before has arrived, the
 * final GOAWAY naming the last of them: nghttp2 ignores any stream after it,
 * so the resets still to come are bounded by the streams open. It is
 * closed (`session.close()`) only once its last stream has ended.
 */
function tellToLeave(session: http2.Http2Session, state: Connection): void {
  state.toldToLeave = true;
  // Until the final GOAWAY, the client may still reset every stream it has
  // open and every stream it opens before it reads the notice: up to one
  // full bucket more, as nghttp2 would allow a new connection.
  state.budget = new ResetBudget();
  session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
  if (state.open === 0) {
    session.close();
    return;
  }
  const final = (): void => {
    if (session.destroyed || state.closedToNewStreams) return;
    state.closedToNewStreams = true;
    session.goaway(constants.NGHTTP2_NO_ERROR, state.lastStreamId);
  };
  afterPingRoundTrip(session, { done: final, cannot: final });
}

const INTERNAL_ERROR = 2;
const MAX_STREAM_ID = 2 ** 31 - 1;

/**
 * Deadlines from a `grpc-timeout` too long for grpc-js (its arithmetic
 * overflows past 2^31 − 1 ms), by the HTTP/2 stream that carried them.
 */
const longDeadlines = new WeakMap<http2.Http2Stream, number>();
let longDeadlineCount = 0;

/**
 * The client's deadline for a grpc-js server call (the call a handler gets,
 * or the call an interceptor gets), as epoch ms, or Infinity when it sent
 * none. A deadline too long for grpc-js was taken off the headers before
 * grpc-js read them, and is found here instead.
 */
export function clientDeadline(call: { getDeadline(): Date | number }): number {
  if (longDeadlineCount > 0) {
    const stream = streamOf(call);
    const long = stream === undefined ? undefined : longDeadlines.get(stream);
    if (long !== undefined) {
      return long;
    }
  }
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY;
}

/**
 * The HTTP/2 stream under a grpc-js call: grpc-js's innermost intercepting
 * call holds it as `stream`; a handler's call reaches it through
 * `call.nextCall…` (`findHttp2Stream`, grpc-internals.ts).
 */
function streamOf(call: object): http2.Http2Stream | undefined {
  const own = ownStream(call);
  if (typeof own === "object" && own !== null && longDeadlines.has(own as http2.Http2Stream)) {
    return own as http2.Http2Stream;
  }
  return findHttp2Stream(call);
}

/**
 * Puts a check in front of grpc-js's `stream` listeners: a stream whose
 * `grpc-timeout` breaks the spec is answered INTERNAL here and never
 * reaches grpc-js, whose own reading accepts `-1S`, `1.5S` or 9 digits.
 */
function gateStreams(http2Server: AnyHttp2Server): void {
  const inner = http2Server.listeners("stream") as StreamListener[];
  if (inner.length === 0) {
    throw grpcInternalsError("a 'stream' listener of grpc-js on its node:http2 server");
  }
  http2Server.removeAllListeners("stream");
  http2Server.on(
    "stream",
    (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      boundStreamBuffers(stream);
      holdSessionPastStream(stream);
      if (admit(stream, headers)) {
        for (const listener of inner) {
          listener.call(http2Server, stream, headers, ...rest);
        }
      }
    },
  );
}

/** Checks `grpc-timeout`; false once the stream was answered here. */
function admit(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
  const value = headers["grpc-timeout"];
  if (value === undefined) {
    return true;
  }
  const ms = typeof value === "string" ? parseGrpcTimeout(value) : undefined;
  if (ms === undefined) {
    refuse(stream, `invalid grpc-timeout "${String(value)}": expected 1 to 8 digits and one unit of H, M, S, m, u, n`);
    return false;
  }
  if (ms > MAX_TIMER_MS) {
    // grpc-js would compute it with `| 0` and end the call at once.
    delete headers["grpc-timeout"];
    longDeadlines.set(stream, Date.now() + ms);
    longDeadlineCount++;
    stream.once("close", () => longDeadlineCount--);
  }
  return true;
}

/** Ends a stream with INTERNAL in trailers-only form, and drops whatever the peer still sends. */
function refuse(stream: http2.ServerHttp2Stream, message: string): void {
  stream.on("error", () => {});
  stream.resume();
  if (!stream.headersSent && !stream.destroyed) {
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc+proto",
        "grpc-status": "13",
        "grpc-message": encodeURIComponent(message),
      },
      { endStream: true },
    );
  }
}
