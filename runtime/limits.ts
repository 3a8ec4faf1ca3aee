/**
 * Stream limits, in milliseconds. `0` disables a limit; undefined means
 * "not set here", so the next source in the precedence order decides.
 */
export interface StreamLimits {
  /** The total deadline of the call. */
  timeoutMs?: number | undefined;
  /** The most time allowed without receiving a message, counted from the last one (or the start). */
  idleTimeoutMs?: number | undefined;
  /** The most time one send may wait for the peer to take a message (HTTP/2 flow control). */
  sendTimeoutMs?: number | undefined;
}

/** Limits with every field decided; `0` means disabled. */
export interface ResolvedLimits {
  timeoutMs: number;
  idleTimeoutMs: number;
  sendTimeoutMs: number;
}

/**
 * The built-in defaults for streaming calls. Every one is finite, so a
 * stream nobody watches ends by itself:
 * - `timeoutMs`: 1 hour;
 * - `idleTimeoutMs`: 5 minutes without a message;
 * - `sendTimeoutMs`: 30 seconds for the peer to take a message.
 * A unary call has no default total deadline, as in grpc-js.
 */
export const STREAM_DEFAULTS: Readonly<ResolvedLimits> = Object.freeze({
  timeoutMs: 3_600_000,
  idleTimeoutMs: 300_000,
  sendTimeoutMs: 30_000,
});

const UNARY_DEFAULTS: Readonly<ResolvedLimits> = Object.freeze({ timeoutMs: 0, idleTimeoutMs: 0, sendTimeoutMs: 0 });

/** The largest limit accepted: 30 days. Every value up to it works as written. */
export const MAX_LIMIT_MS = 30 * 24 * 3_600_000;

/**
 * The longest wait one Node timer can make: 2^31−1 ms, about 24.8 days. A
 * longer delay is taken as 1 ms (with a TimeoutOverflowWarning), so every
 * timer of leaksafe waits at most this long, then re-arms for the rest.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves limits from sources in precedence order: the first source that
 * sets a field wins, then the built-in default for the method kind.
 */
export function resolveLimits(streaming: boolean, ...sources: Array<StreamLimits | undefined>): ResolvedLimits {
  const defaults = streaming ? STREAM_DEFAULTS : UNARY_DEFAULTS;
  return {
    timeoutMs: pick("timeoutMs", sources, defaults.timeoutMs),
    idleTimeoutMs: pick("idleTimeoutMs", sources, defaults.idleTimeoutMs),
    sendTimeoutMs: pick("sendTimeoutMs", sources, defaults.sendTimeoutMs),
  };
}

function pick(key: keyof StreamLimits, sources: Array<StreamLimits | undefined>, fallback: number): number {
  for (const source of sources) {
    const value = source?.[key];
    if (value !== undefined) {
      return checkLimit(key, value);
    }
  }
  return fallback;
}

/**
 * Why `value` is not a limit, or undefined when it is one: a whole number
 * of milliseconds from 0 (disabled) to {@link MAX_LIMIT_MS}. The plugin and
 * the runtime both check limits with this, so the words are the same.
 */
export function limitProblem(value: number): string | undefined {
  if (!Number.isFinite(value) || !Number.isInteger(value)) {
    return "must be a whole number of milliseconds";
  }
  if (value < 0) {
    return "must not be negative (0 disables the limit)";
  }
  if (value > MAX_LIMIT_MS) {
    return `must be at most ${MAX_LIMIT_MS} ms (30 days)`;
  }
  return undefined;
}

/** Throws a TypeError naming the limit, `key`, unless `value` is a limit (see {@link limitProblem}). */
export function checkLimit(key: string, value: number): number {
  const problem = limitProblem(value);
  if (problem !== undefined) {
    throw new TypeError(`${key} ${problem}, got ${value}`);
  }
  return value;
}
