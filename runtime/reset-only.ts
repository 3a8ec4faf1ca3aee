/**
 * A promise from a leaksafe client to a leaksafe server, made once per
 * HTTP/2 connection: "I cancel a stream with RST_STREAM alone, never with
 * END_STREAM first". A server that holds it may report a request stream's
 * END_STREAM at once, without the PING barrier of end-barrier.ts, which
 * exists only because Node's http2 client sends END_STREAM and then
 * RST_STREAM when it cancels a stream it has not ended.
 *
 * The promise is a PING whose payload is {@link RESET_ONLY_PING}, sent
 * before the connection's first stream. A PING is never forwarded, so a
 * proxy in between cannot pass on a promise that its own cancels might
 * break: the server hears it only from the peer whose frames it reads. It
 * counts only when it arrives before any stream of that connection.
 *
 * A client that lies hurts only its own calls: their cancels may then be
 * taken for ends. See docs/end-of-stream.md, "The promise of our own
 * clients".
 */

import { type ClientHttp2Session, type ClientHttp2Stream, constants, type Http2Session } from "node:http2";
import { nodeAbortError } from "./grpc-internals.js";

/** The promise's PING payload: "ls-rst-1", leaksafe's RST-only cancels, version 1. */
export const RESET_ONLY_PING = Buffer.from("ls-rst-1", "latin1");

// --- The client's half ------------------------------------------------------

/** Sessions whose peer was sent the promise. */
const promised = new WeakSet<ClientHttp2Session>();

/**
 * Sends the promise on a session, once; its streams must then cancel with
 * {@link cancelWithResetOnly}. Returns whether the session carries it.
 */
export function promiseResetOnly(session: ClientHttp2Session): boolean {
  if (promised.has(session)) {
    return true;
  }
  if (session.closed || session.destroyed || nodeAbortError() === null) {
    return false;
  }
  // Node refuses a ping only past maxOutstandingPings; then no promise is made.
  if (!session.ping(RESET_ONLY_PING, ignore)) {
    return false;
  }
  promised.add(session);
  return true;
}

/** Whether a session was sent the promise, so that all its streams must keep it. */
export function madeResetOnlyPromise(session: Http2Session | undefined): boolean {
  return session !== undefined && promised.has(session as ClientHttp2Session);
}

/**
 * Makes a client stream's cancel, before it has ended its writable side,
 * send RST_STREAM(CANCEL) alone.
 *
 * grpc-js cancels with `http2Stream.close(NGHTTP2_CANCEL)`. Node's
 * `closeStream` then calls `stream.end()` first, so END_STREAM goes out
 * before the RST_STREAM, in a separate write. Destroying the stream with
 * Node's own `AbortError` (what the `signal` option of `session.request()`
 * does) runs `closeStream` with its writable side already destroyed, so
 * `_final` never runs and only RST_STREAM(CANCEL) is sent; grpc-js, which
 * has already set the call's status, reads the stream's 'error' as the end
 * of a failed stream. A close with any other code, or after the writable
 * side ended, is Node's own.
 */
export function cancelWithResetOnly(stream: ClientHttp2Stream): void {
  stream.close = closeWithResetOnly;
}

/** `close` of a stream that keeps the promise; one function shared by every such stream. */
function closeWithResetOnly(this: ClientHttp2Stream, code?: number, callback?: () => void): void {
  const AbortError = code === constants.NGHTTP2_CANCEL && !this.writableEnded && !this.closed ? nodeAbortError() : null;
  if (AbortError === null) {
    // Node's own `Http2Stream.prototype.close`, under this own property.
    (Object.getPrototypeOf(this) as ClientHttp2Stream).close.call(this, code, callback);
    return;
  }
  if (callback !== undefined) {
    this.once("close", callback);
  }
  this.destroy(new AbortError());
}

function ignore(): void {}

// --- The server's half ------------------------------------------------------

/** Server sessions whose peer made the promise before its first stream. */
const holding = new WeakSet<Http2Session>();

/** Listens for the promise on a server session, from its start. */
export function hearResetOnlyPromise(session: Http2Session): void {
  const onPing = (payload: Buffer): void => {
    // `lastProcStreamID` is 0 until nghttp2 has taken a stream's HEADERS: a
    // promise that comes after a stream does not count, nor does one after that.
    const first = session.state.lastProcStreamID === 0;
    if (first && !RESET_ONLY_PING.equals(payload)) {
      return;
    }
    session.off("ping", onPing);
    if (first) {
      holding.add(session);
    }
  };
  session.on("ping", onPing);
}

/** Whether the peer of this server session promised to cancel with RST_STREAM alone. */
export function heldToResetOnly(session: Http2Session): boolean {
  return holding.has(session);
}
