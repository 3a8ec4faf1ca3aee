/**
 * Resumption of server-streaming calls: the settings, where they come from
 * and how long to wait before each new attempt.
 */
import type { CallOptions } from "./call-options.js";
import { checkLimit } from "./limits.js";
import type { RpcError, RpcErrorReason } from "./rpc-error.js";
import { Status } from "./rpc-error.js";

/**
 * How a resumable method re-issues its call. The .proto declares it with
 * `option (leaksafe.v1.stream) = { resumable: true … }`; the generated
 * descriptor carries it, and a call may override any field.
 */
export interface ResumePolicy {
  /** Status codes that end an attempt but not the call. Default: `[Status.UNAVAILABLE]`. */
  retryCodes?: readonly Status[] | undefined;
  /** The wait before the first new attempt, in ms. Default 100. */
  initialBackoffMs?: number | undefined;
  /** The longest wait between attempts, in ms. Default 10,000. */
  maxBackoffMs?: number | undefined;
  /**
   * The most attempts in a row that end without receiving a message; the
   * call then fails with the last attempt's error. An attempt that receives a
   * message starts the count again. `0` means no limit. Default 10.
   */
  maxAttempts?: number | undefined;
}

/** What `onRetry` gets each time an attempt ends and another one is due. */
export interface RetryInfo {
  method: string;
  peer: string;
  /** The attempt that just ended, counted from 1. */
  attempt: number;
  /** Why it ended. */
  error: RpcError;
  /** How long the call waits before the next attempt, in ms. */
  delayMs: number;
}

/**
 * What `onResumedEnd` gets when a resumed stream ends for good: its total
 * duration across every attempt and wait, and how it ended.
 */
export interface ResumedEndInfo {
  method: string;
  peer: string;
  /** How many attempts it made. */
  attempts: number;
  /** "ok" when the stream ended normally; "cancelled" when its reader left it. */
  reason: RpcErrorReason | "ok";
  code: Status;
  /** From the first read to the end, in milliseconds, with sub-millisecond precision. */
  durationMs: number;
}

/** The per-call side of resumption: the policy plus the caller's callbacks. */
export interface ResumeOptions<Req, Res> extends ResumePolicy {
  /**
   * Builds the next attempt's request from the last message received and the
   * request of the attempt that delivered it, for example to ask for the
   * revision after the last one seen. Without it, every attempt sends the
   * original request, so a server that replays from the start repeats messages.
   */
  resumeRequest?: ((lastMessage: Res, request: Req) => Req) | undefined;
  /** Called before each wait, with the attempt that ended and why. */
  onRetry?: ((info: RetryInfo) => void) | undefined;
}

/** Options of a server-streaming call: the common ones, plus resumption. */
export interface ServerStreamCallOptions<Req = unknown, Res = unknown> extends CallOptions {
  /**
   * Re-issue the call when it ends with a retryable status. Unset: as the
   * method's .proto declares. `true`: on, with the .proto's settings or the
   * defaults. `false`: off. An object: on, its fields over the .proto's.
   */
  resume?: boolean | ResumeOptions<Req, Res> | undefined;
}

/** Resumption with every setting decided. */
export interface ResolvedResume<Req, Res> {
  retryCodes: readonly Status[];
  initialBackoffMs: number;
  maxBackoffMs: number;
  maxAttempts: number;
  resumeRequest: ((lastMessage: Res, request: Req) => Req) | undefined;
  onRetry: ((info: RetryInfo) => void) | undefined;
}

/** The built-in resumption settings, for what neither the call nor the .proto sets. */
export const RESUME_DEFAULTS = Object.freeze({
  retryCodes: Object.freeze([Status.UNAVAILABLE]) as readonly Status[],
  initialBackoffMs: 100,
  maxBackoffMs: 10_000,
  maxAttempts: 10,
});

/** The most attempts in a row that may be asked for. */
const MAX_ATTEMPTS = 1_000_000;

/** Whether and how a call resumes: the call's `resume` option over the method's policy. Throws a TypeError on a bad value. */
export function resolveResume<Req, Res>(
  fromCall: boolean | ResumeOptions<Req, Res> | undefined,
  fromMethod: ResumePolicy | undefined,
): ResolvedResume<Req, Res> | undefined {
  if (fromCall === false || (fromCall === undefined && fromMethod === undefined)) {
    return undefined;
  }
  const call: ResumeOptions<Req, Res> = typeof fromCall === "object" ? fromCall : {};
  const method = fromMethod ?? {};
  const initialBackoffMs = checkLimit(
    "initialBackoffMs",
    call.initialBackoffMs ?? method.initialBackoffMs ?? RESUME_DEFAULTS.initialBackoffMs,
  );
  const maxBackoffMs = checkLimit(
    "maxBackoffMs",
    call.maxBackoffMs ?? method.maxBackoffMs ?? RESUME_DEFAULTS.maxBackoffMs,
  );
  if (maxBackoffMs < initialBackoffMs) {
    throw new TypeError(`maxBackoffMs (${maxBackoffMs}) must not be less than initialBackoffMs (${initialBackoffMs})`);
  }
  const maxAttempts = call.maxAttempts ?? method.maxAttempts ?? RESUME_DEFAULTS.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 0 || maxAttempts > MAX_ATTEMPTS) {
    throw new TypeError(`maxAttempts must be a whole number from 0 (no limit) to ${MAX_ATTEMPTS}, got ${maxAttempts}`);
  }
  const retryCodes = call.retryCodes ?? method.retryCodes ?? RESUME_DEFAULTS.retryCodes;
  checkRetryCodes("retryCodes", retryCodes);
  return {
    retryCodes,
    initialBackoffMs,
    maxBackoffMs,
    maxAttempts,
    resumeRequest: call.resumeRequest,
    onRetry: call.onRetry,
  };
}

/** Throws a TypeError naming `name` unless every code is a gRPC status code other than OK. */
export function checkRetryCodes(name: string, codes: readonly Status[]): void {
  for (const code of codes) {
    if (!Number.isInteger(code) || Status[code] === undefined || code === Status.OK) {
      throw new TypeError(`${name} must hold gRPC status codes other than OK, got ${String(code)}`);
    }
  }
}

/**
 * Whether an attempt that ended with `error` is followed by another. A local
 * end (abort, a loop left early, the total deadline, a send timeout) never
 * is; an idle attempt always is, since the idle limit bounds each attempt;
 * anything else is when its code is one of `retryCodes`. An attempt whose
 * connection was lost (`peer-gone`) counts as `UNAVAILABLE` whatever its
 * code: a server that closes an aged connection (grpc-js's
 * `grpc.max_connection_age_grace_ms`) resets its streams first, and grpc-js
 * reports such a reset as INTERNAL, though it is the connection going away.
 */
export function isRetryable(error: RpcError, retryCodes: readonly Status[]): boolean {
  switch (error.reason) {
    case "cancelled":
    case "deadline":
    case "send-timeout":
      return false;
    case "idle":
      return true;
    case "peer-gone":
      return retryCodes.includes(Status.UNAVAILABLE) || retryCodes.includes(error.code);
    default:
      return retryCodes.includes(error.code);
  }
}

/**
 * The wait before the next attempt: `initialBackoffMs` after an attempt
 * that received a message or after the first one that received nothing,
 * then doubled for each further attempt in a row that ended without a
 * message (`emptyInRow` counts them, the one that just ended included),
 * capped at `maxBackoffMs`, then spread by ±20 % so that many clients cut
 * off together do not come back together.
 */
export function backoffDelay(settings: { initialBackoffMs: number; maxBackoffMs: number }, emptyInRow: number): number {
  const doublings = Math.min(Math.max(emptyInRow - 1, 0), 40);
  const base = Math.min(settings.maxBackoffMs, settings.initialBackoffMs * 2 ** doublings);
  const jittered = base * (0.8 + Math.random() * 0.4);
  return Math.round(Math.min(settings.maxBackoffMs, jittered));
}
