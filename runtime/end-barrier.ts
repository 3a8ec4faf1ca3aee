import { constants, type Http2Session, type Http2Stream } from "node:http2";
import { findHttp2Stream, pingThroughHandle } from "./grpc-internals.js";
import { heldToResetOnly } from "./reset-only.js";

/**
 * Confirms a request stream's END_STREAM before the request loop may end
 * normally, so that a client that cancels before it half-closes is never
 * taken for one that finished.
 *
 * Node's http2 client, when it cancels a stream it has not ended, sends
 * END_STREAM and then RST_STREAM (`closeStream` in lib/internal/http2/core.js
 * calls `stream.end()` before `finishCloseStream`). The RST_STREAM is handed
 * to nghttp2 no later than the socket write that carried the END_STREAM
 * completes, and before the client can read anything this server sent after
 * receiving that END_STREAM. A PING ACK is queued ahead of RST_STREAM inside
 * nghttp2 (`ob_urgent` before `ob_reg`), so the first ACK may still precede
 * the RST_STREAM, but only within the same client write; the ACK of a second
 * PING, sent once the first ACK arrived, is written later and so arrives after
 * the RST_STREAM. See docs (end-of-stream.md) for the full argument.
 *
 * One barrier per HTTP/2 session: every stream whose END_STREAM arrives
 * while a PING is out waits for the next one, so at most one PING of ours is
 * outstanding per session whatever the number of streams.
 */
class SessionBarrier {
  private waiting: Waiter[] = [];
  private inFlight = false;

  constructor(private readonly session: Http2Session) {}

  /**
   * Calls `done` after one full PING round trip begun after this call. If no
   * PING can be sent (too many are outstanding, or Node's native handle is
   * out of reach) or it fails, calls `cannot` instead; if the session is
   * destroyed, calls neither (its streams end with a cancel).
   */
  afterRoundTrip(waiter: Waiter): void {
    this.waiting.push(waiter);
    if (!this.inFlight) {
      this.send();
    }
  }

  private send(): void {
    const batch = this.waiting;
    this.waiting = [];
    if (this.session.destroyed) return;
    this.inFlight = true;
    const sent = ping(this.session, (acknowledged) => {
      this.inFlight = false;
      if (!acknowledged) {
        if (!this.session.destroyed) for (const waiter of batch) waiter.cannot();
      } else {
        for (const waiter of batch) waiter.done();
      }
      if (this.waiting.length > 0) this.send();
    });
    if (!sent) {
      this.inFlight = false;
      for (const waiter of batch) waiter.cannot();
    }
  }
}

/**
 * Sends a PING and calls `done` with whether it was acknowledged; returns
 * false, and never calls `done`, when it cannot be sent at all.
 *
 * Node's `ping()` answers at once with ERR_HTTP2_PING_CANCEL on a session
 * that is `closed`: one that has sent GOAWAY (`close()`) or received
 * GOAWAY NO_ERROR from its peer (`onGoawayData` calls `close()`), and now
 * waits for its streams. nghttp2 still sends PINGs and reads their ACKs
 * until the session ends, and those streams are the ones that need the
 * proof: a grpc-js client that leaves a connection sends GOAWAY first, and
 * may still cancel the calls it has open there. So on a closed session the
 * PING goes through the native handle, as Node's `ping()` itself does.
 */
function ping(session: Http2Session, done: (acknowledged: boolean) => void): boolean {
  if (!session.closed) {
    session.ping((error) => done(error === null));
    return true;
  }
  return pingThroughHandle(session, (acknowledged: unknown) => done(acknowledged === true));
}

interface Waiter {
  done(): void;
  cannot(): void;
}

const barriers = new WeakMap<Http2Session, SessionBarrier>();

function barrierOf(session: Http2Session): SessionBarrier {
  let barrier = barriers.get(session);
  if (barrier === undefined) {
    barrier = new SessionBarrier(session);
    barriers.set(session, barrier);
  }
  return barrier;
}

/**
 * Calls `waiter.done` after one PING round trip on `session` begun now,
 * sharing the PING with the streams that wait for their end's proof; or
 * `waiter.cannot` when no PING can be sent or it failed.
 */
export function afterPingRoundTrip(session: Http2Session, waiter: Waiter): void {
  barrierOf(session).afterRoundTrip(waiter);
}

/** Whether the peer reset the stream (RST_STREAM with an error code). */
function wasReset(stream: Http2Stream): boolean {
  return stream.aborted || (stream.closed && stream.rstCode !== constants.NGHTTP2_NO_ERROR);
}

/**
 * Calls `confirmed` once a request stream's end is proven not to be the first
 * half of a cancel: after two PING round trips begun after the END_STREAM,
 * unless the stream was reset meanwhile (then never: the call fails instead).
 * `fallback` runs instead when no PING can prove it: the grpc-js internals
 * that reach the HTTP/2 stream are missing, or a ping could not be sent or
 * failed while the session lives. A closing session (GOAWAY sent or
 * received) still pings, through Node's native handle (see `ping`).
 */
export function confirmEndOfStream(call: object, confirmed: () => void, fallback: () => void): void {
  const stream = findHttp2Stream(call);
  if (stream !== undefined && wasReset(stream)) return;
  const session = stream?.session;
  if (stream === undefined || session === undefined) {
    // No grpc-js internals, or the stream is already gone without a reset.
    fallback();
    return;
  }
  if (heldToResetOnly(session)) {
    // Its client cancels with RST_STREAM alone (reset-only.ts): this END_STREAM is a half-close.
    confirmed();
    return;
  }
  const barrier = barrierOf(session);
  const cannot = (): void => {
    if (!wasReset(stream)) fallback();
  };
  barrier.afterRoundTrip({
    done() {
      if (wasReset(stream)) return;
      barrier.afterRoundTrip({
        done() {
          if (!wasReset(stream)) confirmed();
        },
        cannot,
      });
    },
    cannot,
  });
}
