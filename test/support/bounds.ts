/**
 * How tests bound time. A test asserts a time only where the time is the
 * feature: a deadline fires when it should, or a fault is noticed without
 * waiting for a timer. Speeds and throughputs are measured in bench/, never
 * asserted here. Every bound leaves a slow or loaded machine HEADROOM times
 * the time it is expected to take.
 */
import assert from "node:assert/strict";
import { CLIENT_KEEPALIVE, SERVER_KEEPALIVE, STREAM_DEFAULTS } from "leaksafe";

/** How many times slower than expected a machine may be before a bound fails. */
export const HEADROOM = 10;

/**
 * The earliest that a built-in timer can end a call nobody configured: a
 * default stream limit, or keepalive's verdict (a ping's interval plus its
 * timeout) on either side. A test that uses assertNoticedAtOnce sets no
 * faster timer that gives the same reason.
 */
export const FIRST_BUILT_IN_TIMER_MS = Math.min(
  STREAM_DEFAULTS.sendTimeoutMs,
  STREAM_DEFAULTS.idleTimeoutMs,
  STREAM_DEFAULTS.timeoutMs,
  SERVER_KEEPALIVE.timeMs + SERVER_KEEPALIVE.timeoutMs,
  CLIENT_KEEPALIVE.timeMs + CLIENT_KEEPALIVE.timeoutMs,
);

/** How soon a fault that needs no timer must be noticed: HEADROOM times sooner than any built-in timer. */
export const NOTICE_MS = FIRST_BUILT_IN_TIMER_MS / HEADROOM;

/**
 * A limit of `limitMs` fired `elapsedMs` after the moment it counts from.
 * - Never early: a slow machine can only delay a timer. The 2 ms allow for
 *   two clock reads taken at slightly different points.
 * - At most HEADROOM × the limit.
 */
export function assertFiredOnTime(elapsedMs: number, limitMs: number, what: string): void {
  assert.ok(elapsedMs >= limitMs - 2, `${what} fired early: after ${elapsedMs} ms, limit ${limitMs} ms`);
  assert.ok(
    elapsedMs <= HEADROOM * limitMs,
    `${what} fired late: after ${elapsedMs} ms, limit ${limitMs} ms (bound ${HEADROOM * limitMs} ms)`,
  );
}

/**
 * Something that needs no timer (a cancel, a reset, a peer's closed socket)
 * was noticed `elapsedMs` after it happened: within NOTICE_MS, so no
 * built-in timer can have found it instead. The caller also asserts the
 * reason, which tells it apart from any timer the test sets itself.
 */
export function assertNoticedAtOnce(elapsedMs: number, what: string): void {
  assert.ok(
    elapsedMs <= NOTICE_MS,
    `${what} took ${elapsedMs} ms, bound ${NOTICE_MS} ms (the first built-in timer fires at ${FIRST_BUILT_IN_TIMER_MS} ms)`,
  );
}

/**
 * A shutdown whose grace of `graceMs` ran out took `tookMs`, and had to force
 * `forced` calls while peers held `heldStreams` more HTTP/2 streams open
 * (calls that had ended, whose peer never took the status or never closed
 * its side). The README's bound is the grace plus 0.1 ms for each forced
 * call and each held stream, the cost of tearing them down; a turn of the
 * event loop (10 ms) comes on top, and the overshoot gets HEADROOM. Never
 * early: the grace is given in full.
 */
export function assertShutdownOnTime(tookMs: number, graceMs: number, forced: number, heldStreams = 0): void {
  const bound = graceMs + HEADROOM * (10 + 0.1 * (forced + heldStreams));
  assert.ok(tookMs >= graceMs - 2, `shutdown took ${tookMs} ms, less than its grace of ${graceMs} ms`);
  assert.ok(
    tookMs <= bound,
    `shutdown took ${tookMs} ms with graceMs ${graceMs}, ${forced} forced and ${heldStreams} held (bound ${bound} ms)`,
  );
}
