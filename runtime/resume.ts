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
import { MAX_TIMER_MS } from "./limits.js";
import {
  backoffDelay,
  isRetryable,
  type ResolvedResume,
  type ResumedEndInfo,
  type RetryInfo,
} from "./resume-policy.js";
import { messageOf, RpcError, Status } from "./rpc-error.js";

/** Starts one attempt, numbered from 1: an ordinary server-streaming call. */
export type Attempt<Req, Res> = (request: Req, options: CallOptions, attempt: number) => AsyncIterable<Res>;

export interface ResumeContext<Req, Res> {
  attempt: Attempt<Req, Res>;
  settings: ResolvedResume<Req, Res>;
  /** The call's options; `timeoutMs` is already resolved (0: none). */
  options: CallOptions & { timeoutMs: number };
  method: string;
  /** The last attempt's peer: the address it connected to, or the target. */
  peer: () => string;
  /** The client's `onRetry` hook, if any. */
  hook: ((info: RetryInfo) => void) | undefined;
  /** The client's `onResumedEnd` hook, if any (guarded). */
  onEnd: ((info: ResumedEndInfo) => void) | undefined;
  /** The client's set of things in flight: the stream is in it from its first read to its end. */
  inFlight: Set<{ end(error: RpcError): void }>;
}

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true });

/** The outcome of a stream whose reader left it (`return()`). */
const LEFT: unique symbol = Symbol("left");

/**
 * The caller's iterator over every attempt. It is written by hand rather
 * than as an async generator because a generator queues `return()` behind
 * a pending `next()`: a `break` while an attempt waited for its next message
 * (or while the call waited to retry) would keep the call alive. Here
 * `return()` ends the attempt or the wait at once, and the pending `next()`
 * resolves as done.
 */
export class ResumingStream<Req, Res> implements AsyncIterator<Res> {
  private readonly deadline: number | undefined;
  private attempts = 0;
  private emptyInRow = 0;
  private request: Req;
  private current: AsyncIterator<Res> | undefined;
  private received = false;
  private lastMessage: Res | undefined;
  /** Set once the stream has ended, by its end, an error, `return()` or the client's close. */
  private ended = false;
  /** The error the client's `close()` ended the stream with, if it did. */
  private closedWith: RpcError | undefined;
  private wait: BackoffWait | undefined;
  /** `performance.now()` at the start, when an `onResumedEnd` hook wants the duration. */
  private readonly since: number;

  constructor(
    request: Req,
    private readonly context: ResumeContext<Req, Res>,
  ) {
    this.request = request;
    const { timeoutMs } = context.options;
    this.deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    this.since = context.onEnd === undefined ? 0 : performance.now();
    context.inFlight.add(this);
  }

  async next(): Promise<IteratorResult<Res>> {
    while (!this.ended) {
      const attempt = this.current ?? this.startAttempt();
      let result: IteratorResult<Res>;
      try {
        result = await attempt.next();
      } catch (thrown) {
        this.current = undefined;
        await this.afterAttempt(RpcError.from(thrown));
        continue;
      }
      if (this.ended) {
        break;
      }
      if (result.done === true) {
        this.finish(undefined);
        return DONE;
      }
      this.received = true;
      this.lastMessage = result.value;
      return result;
    }
    if (this.closedWith !== undefined) {
      const error = this.closedWith;
      this.closedWith = undefined;
      throw error;
    }
    return DONE;
  }

  /** Ends the stream at once: the attempt in progress is cancelled, or the wait for the next one is cut short. */
  return(): Promise<IteratorResult<Res>> {
    this.stop(LEFT);
    return Promise.resolve(DONE);
  }

  /** The client closed: the pending read, or the next one, fails with `error`. */
  end(error: RpcError): void {
    if (!this.ended) {
      this.closedWith = error.afterAttempts(this.attempts);
      this.stop(this.closedWith);
    }
  }

  private stop(outcome: RpcError | typeof LEFT): void {
    const current = this.current;
    this.finish(outcome);
    this.wait?.cut();
    // The attempt's own return() cancels its call, and its pending read rejects.
    current?.return?.()?.catch(() => {});
  }

  /** `outcome`: undefined for a normal end, LEFT when the reader left, else the error it ended with. */
  private finish(outcome: RpcError | typeof LEFT | undefined): void {
    const first = !this.ended;
    this.ended = true;
    this.current = undefined;
    this.context.inFlight.delete(this);
    const { onEnd, method, peer } = this.context;
    if (first && onEnd !== undefined) {
      onEnd({
        method,
        peer: peer(),
        attempts: this.attempts,
        reason: outcome === undefined ? "ok" : outcome === LEFT ? "cancelled" : outcome.reason,
        code: outcome === undefined ? Status.OK : outcome === LEFT ? Status.CANCELLED : outcome.code,
        durationMs: performance.now() - this.since,
      });
    }
  }

  private startAttempt(): AsyncIterator<Res> {
    this.attempts++;
    this.received = false;
    const { deadline } = this;
    const timeoutMs = deadline === undefined ? 0 : Math.max(1, deadline - Date.now());
    this.current = this.context
      .attempt(this.request, { ...this.context.options, timeoutMs }, this.attempts)
      [Symbol.asyncIterator]();
    return this.current;
  }

  /** An attempt ended with `error`: throws unless another attempt follows, after the backoff wait. */
  private async afterAttempt(error: RpcError): Promise<void> {
    if (this.ended) {
      return;
    }
    const { context } = this;
    const { settings } = context;
    this.emptyInRow = this.received ? 0 : this.emptyInRow + 1;
    const outOfAttempts = settings.maxAttempts > 0 && this.emptyInRow >= settings.maxAttempts;
    if (!isRetryable(error, settings.retryCodes) || outOfAttempts) {
      const final = error.afterAttempts(this.attempts);
      this.finish(final);
      throw final;
    }
    if (this.received) {
      this.request = this.nextRequest(this.lastMessage as Res);
    }
    const delayMs = backoffDelay(settings, this.emptyInRow);
    const info: RetryInfo = { method: context.method, peer: context.peer(), attempt: this.attempts, error, delayMs };
    notify(settings.onRetry, info);
    notify(context.hook, info);
    if (this.ended) {
      return; // a hook ended the stream
    }
    this.wait = new BackoffWait(delayMs, context.options.signal, this.deadline, error, this.attempts);
    try {
      await this.wait.promise;
    } catch (waitError) {
      this.finish(waitError as RpcError);
      throw waitError;
    } finally {
      this.wait = undefined;
    }
  }

  private nextRequest(last: Res): Req {
    const { resumeRequest } = this.context.settings;
    if (resumeRequest === undefined) {
      return this.request;
    }
    try {
      return resumeRequest(last, this.request);
    } catch (thrown) {
      const error = new RpcError(Status.CANCELLED, `resumeRequest threw: ${messageOf(thrown)}`, {
        reason: "cancelled",
        cause: thrown,
        attempts: this.attempts,
      });
      this.finish(error);
      throw error;
    }
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
 * The wait before the next attempt. An abort ends it at once (CANCELLED),
 * and so does reaching the total deadline (DEADLINE_EXCEEDED); `cut()` ends
 * it quietly. Either way the timer and the listener are gone when it
 * settles. The timer is not unref'd: a call waiting to resume is still a
 * call in progress. A wait longer than Node's longest timer re-arms.
 */
class BackoffWait {
  readonly promise: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: RpcError) => void;
  private timer: NodeJS.Timeout | undefined;
  private readonly until: number;
  private readonly hitsDeadline: boolean;

  constructor(
    delayMs: number,
    private readonly signal: AbortSignal | undefined,
    deadline: number | undefined,
    private readonly lastAttemptError: RpcError,
    private readonly attempts: number,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    const now = Date.now();
    this.hitsDeadline = deadline !== undefined && deadline - now <= delayMs;
    this.until = this.hitsDeadline ? (deadline as number) : now + delayMs;
    if (signal?.aborted) {
      this.handleEvent();
      return;
    }
    signal?.addEventListener("abort", this, { once: true });
    this.arm();
  }

  /** The signal aborted (the EventListener interface). */
  handleEvent(): void {
    this.settle(
      new RpcError(Status.CANCELLED, "the call was aborted by its AbortSignal while waiting to resume", {
        reason: "cancelled",
        cause: this.signal?.reason,
        attempts: this.attempts,
        lastAttemptError: this.lastAttemptError,
      }),
    );
  }

  /** Ends the wait without an error: the stream was left or closed. */
  cut(): void {
    this.settle(undefined);
  }

  private arm(): void {
    const left = this.until - Date.now();
    this.timer = setTimeout(() => this.elapsed(), Math.min(MAX_TIMER_MS, Math.max(0, left)));
  }

  private elapsed(): void {
    if (Date.now() < this.until) {
      this.arm();
      return;
    }
    this.settle(
      this.hitsDeadline
        ? new RpcError(Status.DEADLINE_EXCEEDED, "the total deadline passed while waiting to resume", {
            reason: "deadline",
            attempts: this.attempts,
            lastAttemptError: this.lastAttemptError,
          })
        : undefined,
    );
  }

  private settle(error: RpcError | undefined): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener("abort", this);
    if (error === undefined) {
      this.resolve();
    } else {
      this.reject(error);
    }
  }
}
