/**
 * The streams a client may reset on one connection before the server ends
 * the connection, as nghttp2 counts them.
 *
 * Against the rapid-reset attack (CVE-2023-44487), nghttp2 1.57 and later
 * give each server session a token bucket: 1000 tokens, 33 more each
 * second, one taken by each RST_STREAM received. When none is left it sends
 * GOAWAY (INTERNAL_ERROR) for every stream received so far. Node's client
 * then destroys the session, so a grpc-js client that cancels many calls
 * also loses calls it never cancelled ("Session closed with error code 2").
 * Node's `streamResetBurst` and `streamResetRate` server options
 * (nodejs/node#54875) would change the bucket, but Node 20 ignores them
 * (measured on 20.20: GOAWAY after the 1001st reset whatever they say),
 * and grpc-js does not pass them to the HTTP/2 server it creates.
 *
 * So a leaksafe server keeps the same count, and when half the bucket is
 * spent it tells the client to leave first: a shutdown notice, GOAWAY
 * (NO_ERROR) naming the largest stream id, which also stops nghttp2's own
 * count. One PING round trip later, when every stream the client opened
 * before it read the notice has arrived, a final GOAWAY names the last of
 * them, and nghttp2 ignores any stream after it; once the connection's last
 * stream has ended, `session.close()` (see server-sessions.ts). The streams
 * the client sent before the final GOAWAY finish as usual; the client's
 * nghttp2 refuses the ones it sends later, which grpc-js retries on a new
 * connection. Between the notice and the final GOAWAY the connection has a
 * fresh bucket, for the streams still open and those opened before the
 * client read the notice; after it, resets are bounded by the streams open
 * and are not counted. A peer that empties the fresh bucket before it
 * answers the PING, as only an attacker would, has its connection
 * destroyed: at most half a bucket more than nghttp2 itself allows.
 */

/** nghttp2's bucket: NGHTTP2_DEFAULT_STREAM_RESET_BURST and _RATE. */
export const RESET_BURST = 1000;
const RESET_RATE_PER_S = 33;
/** Tokens left when the connection is closed gracefully. */
const GRACEFUL_AT = RESET_BURST / 2;

/** What a connection's reset count asks of it. */
export type ResetVerdict = "carry-on" | "close" | "destroy";

/** One connection's count of the streams its peer reset. */
export class ResetBudget {
  private tokens = RESET_BURST;
  private second = nowSecond();

  /** Counts one reset by the peer, and says what the connection should do. */
  take(): ResetVerdict {
    const second = nowSecond();
    if (second > this.second) {
      // As nghttp2 refills it: whole seconds, on a monotonic clock.
      this.tokens = Math.min(RESET_BURST, this.tokens + RESET_RATE_PER_S * (second - this.second));
      this.second = second;
    }
    this.tokens = Math.max(0, this.tokens - 1);
    if (this.tokens === 0) {
      return "destroy";
    }
    return this.tokens <= GRACEFUL_AT ? "close" : "carry-on";
  }
}

function nowSecond(): number {
  return Math.floor(performance.now() / 1000);
}
