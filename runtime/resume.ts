/**
 * A server-streaming call that survives its connection: when an attempt
 * ends with a retryable status, the call waits (jittered exponential
 * backoff) and re-issues itself, with a request rebuilt from the last
 * message received. The caller reads one continuous async iterable.
 *
 * Each attempt is an ordinary leaksafe call with its own idle limit,
 * listeners and registry entry, all released when it ends; the total
 * deadline spans every attempt and the waits between them.
 */
import type { CallOptions } from "./call-options.js";
import { backoffDelay, isRetryable, type ResolvedResume, type RetryInfo } from "./resume-policy.js";
import { RpcError, Status } from "./rpc-error.js";

/** Starts one attempt: an ordinary server-streaming call. */
export type Attempt<Req, Res> = (request: Req, options: CallOptions) => AsyncIterable<Res>;

export interface ResumeContext<Req, Res> {
  attempt: Attempt<Req, Res>;
  settings: ResolvedResume<Req, Res>;
  /** The call's options; `timeoutMs` is already resolved (0: none). */
  options: CallOptions & { timeoutMs: number };
  method: string;
  peer: string;
  /** The client's `onRetry` hook, if any. */
  hook: ((info: RetryInfo) => void) | undefined;
}

export async function* resumeStream<Req, Res>(request: Req, context: ResumeContext<Req, Res>): AsyncGenerator<Res> {
  const { attempt, settings, options } = context;
  const deadline = options.timeoutMs > 0 ? Date.now() + options.timeoutMs : undefined;
  let attempts = 0;
  let emptyInRow = 0;
  let current = request;
  for (;;) {
    attempts++;
    let received = false;
    let lastMessage: Res | undefined;
    let atYield = false;
    try {
      const remaining = deadline === undefined ? 0 : Math.max(1, deadline - Date.now());
      for await (const message of attempt(current, { ...options, timeoutMs: remaining })) {
        received = true;
        lastMessage = message;
        atYield = true;
        yield message;
        atYield = false;
      }
      return;
    } catch (thrown) {
      if (atYield) {
        throw thrown; // thrown in by the caller, not an end of the attempt
      }
      const error = RpcError.from(thrown);
      emptyInRow = received ? 0 : emptyInRow + 1;
      const outOfAttempts = settings.maxAttempts > 0 && emptyInRow >= settings.maxAttempts;
      if (!isRetryable(error, settings.retryCodes) || outOfAttempts) {
        throw error.afterAttempts(attempts);
      }
      if (received) {
        current = nextRequest(settings, lastMessage as Res, current, attempts);
      }
      const delayMs = backoffDelay(settings, emptyInRow);
      const info: RetryInfo = { method: context.method, peer: context.peer, attempt: attempts, error, delayMs };
      notify(settings.onRetry, info);
      notify(context.hook, info);
      await sleep(delayMs, options.signal, deadline, error, attempts);
    }
  }
}

function nextRequest<Req, Res>(settings: ResolvedResume<Req, Res>, last: Res, current: Req, attempts: number): Req {
  if (settings.resumeRequest === undefined) {
    return current;
  }
  try {
    return settings.resumeRequest(last, current);
  } catch (thrown) {
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    throw new RpcError(Status.CANCELLED, `resumeRequest threw: ${message}`, {
      reason: "cancelled",
      cause: thrown,
      attempts,
    });
  }
}

function notify(hook: ((info: RetryInfo) => void) | undefined, info: RetryInfo): void {
  if (hook === undefined) {
    return;
  }
  try {
    hook(info);
  } catch {
    // A hook's failure is the hook's problem; the call goes on.
  }
}

/**
 * Waits `delayMs` before the next attempt. An abort ends the wait at once
 * (CANCELLED), and so does reaching the total deadline (DEADLINE_EXCEEDED);
 * either way the timer and the listener are gone when it settles. The timer
 * is not unref'd: a call waiting to resume is still a call in progress.
 */
function sleep(
  delayMs: number,
  signal: AbortSignal | undefined,
  deadline: number | undefined,
  lastAttemptError: RpcError,
  attempts: number,
): Promise<void> {
  const untilDeadline = deadline === undefined ? Number.POSITIVE_INFINITY : deadline - Date.now();
  const hitsDeadline = untilDeadline <= delayMs;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(
        new RpcError(Status.CANCELLED, "the call was aborted by its AbortSignal while waiting to resume", {
          reason: "cancelled",
          cause: signal?.reason,
          attempts,
          lastAttemptError,
        }),
      );
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        if (hitsDeadline) {
          reject(
            new RpcError(Status.DEADLINE_EXCEEDED, "the total deadline passed while waiting to resume", {
              reason: "deadline",
              attempts,
              lastAttemptError,
            }),
          );
        } else {
          resolve();
        }
      },
      Math.max(0, Math.min(delayMs, untilDeadline)),
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
