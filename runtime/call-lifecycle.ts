import type { RpcError } from "./rpc-error.js";

/** The method a part of a call implements to be released when the call ends. */
export const RELEASE: unique symbol = Symbol("leaksafe.release");
/** The method a part of a call implements to hear that the call failed. */
export const FAILED: unique symbol = Symbol("leaksafe.failed");

/** Something released when its call ends: a function, or an object with a `[RELEASE]()` method. */
export type Cleanup = (() => void) | { [RELEASE](): void };

/** Something told when its call fails: a function, or an object with a `[FAILED](error)` method. */
export type FailHook = ((error: RpcError) => void) | { [FAILED](error: RpcError): void };

/**
 * The state of one call, shared by its receive loop, its send pump and its
 * adapter. A call ends exactly once: `finish()` for success, `fail()` for
 * anything else. Whatever was registered with `onFail` and `defer` runs then,
 * so every listener and timer of the call is released on every exit path.
 *
 * Parts of a call register themselves (objects with `[RELEASE]()` or
 * `[FAILED]()`) rather than closures, so a long-lived idle call holds as few
 * objects as possible.
 *
 * Ending a call is exception-safe. Every fail hook, the removal of the
 * signal listener and every cleanup run even if some of them throw; `fail()`
 * and `finish()` then return as usual, and the first error thrown is raised
 * once, afterwards, by {@link raiseLater}.
 */
export class CallLifecycle {
  /** Set when the call failed; the error every pending wait rejects with. */
  failure: RpcError | undefined;
  ended = false;
  // Four slots each, sized exactly by the literal, with counts: a call
  // registers about four of each, and an array grown by push() from empty
  // takes 17 slots at once.
  private readonly failHooks: Array<FailHook | undefined> = [undefined, undefined, undefined, undefined];
  private failHookCount = 0;
  private readonly cleanups: Array<Cleanup | undefined> = [undefined, undefined, undefined, undefined];
  private cleanupCount = 0;
  private signal: AbortSignal | undefined;
  private abortError: ((signal: AbortSignal) => RpcError) | undefined;

  /** Runs `hook` if the call fails. Registered once per call, never per message. */
  onFail(hook: FailHook): void {
    this.failHooks[this.failHookCount++] = hook;
  }

  /** Runs `cleanup` when the call ends, however it ends. */
  defer(cleanup: Cleanup): void {
    if (this.ended) {
      raiseLater(release(cleanup, NONE));
    } else {
      this.cleanups[this.cleanupCount++] = cleanup;
    }
  }

  /**
   * Fails the call with `abortError(signal)` when `signal` aborts. The
   * lifecycle itself is the listener, and it is removed when the call ends.
   */
  follow(signal: AbortSignal, abortError: (signal: AbortSignal) => RpcError): void {
    if (signal.aborted) {
      this.fail(abortError(signal));
      return;
    }
    this.signal = signal;
    this.abortError = abortError;
    signal.addEventListener("abort", this, { once: true });
  }

  /** The followed signal aborted (the EventListener interface). */
  handleEvent(): void {
    if (this.signal !== undefined && this.abortError !== undefined) {
      this.fail(this.abortError(this.signal));
    }
  }

  /** Ends the call successfully. Returns false if it had already ended. Never throws. */
  finish(): boolean {
    if (this.ended) {
      return false;
    }
    this.ended = true;
    raiseLater(this.release(NONE));
    return true;
  }

  /** Ends the call with `error`. Returns false if it had already ended. Never throws. */
  fail(error: RpcError): boolean {
    if (this.ended) {
      return false;
    }
    this.ended = true;
    this.failure = error;
    let thrown: unknown = NONE;
    // A hook registered while these run (there should be none) runs too.
    for (let i = 0; i < this.failHookCount; i++) {
      const hook = this.failHooks[i] as FailHook;
      try {
        if (typeof hook === "function") {
          hook(error);
        } else {
          hook[FAILED](error);
        }
      } catch (hookError) {
        if (thrown === NONE) {
          thrown = hookError;
        }
      }
    }
    raiseLater(this.release(thrown));
    return true;
  }

  /** Releases everything, whatever throws. Returns `thrown`, or the first error if `thrown` is NONE. */
  private release(thrown: unknown): unknown {
    this.failHooks.fill(undefined);
    this.failHookCount = 0;
    if (this.signal !== undefined) {
      this.signal.removeEventListener("abort", this);
      this.signal = undefined;
      this.abortError = undefined;
    }
    // A cleanup registered while these run is released at once by defer().
    for (let i = 0; i < this.cleanupCount; i++) {
      const cleanup = this.cleanups[i] as Cleanup;
      this.cleanups[i] = undefined;
      thrown = release(cleanup, thrown);
    }
    this.cleanupCount = 0;
    return thrown;
  }
}

/** Stands for "nothing was thrown", since `undefined` can be thrown. */
const NONE: unique symbol = Symbol("nothing thrown");

/** Runs `cleanup`. Returns `thrown`, or what the cleanup threw if `thrown` is NONE. */
function release(cleanup: Cleanup, thrown: unknown): unknown {
  try {
    if (typeof cleanup === "function") {
      cleanup();
    } else {
      cleanup[RELEASE]();
    }
  } catch (error) {
    return thrown === NONE ? error : thrown;
  }
  return thrown;
}

/**
 * Raises what a fail hook or a cleanup threw (unless NONE) as an uncaught
 * exception, from a microtask: the process's `'uncaughtException'` event
 * sees it, and without a listener the process exits, as for any bug.
 *
 * A hook or cleanup that throws is a bug: leaksafe's own parts do not throw,
 * and user hooks such as `onCallEnd` are guarded before they get here. It is
 * raised later, not rethrown, because `fail()` and `finish()` are called
 * from grpc-js event handlers, stream callbacks, promise reactions and abort
 * listeners. A synchronous throw there would unwind grpc-js mid-event, or
 * become an unhandled rejection with no trace of the call. This is also what
 * Node does with an EventTarget listener that throws. Only the first error
 * of one call's end is raised; the ones after it are most likely its
 * consequences.
 */
function raiseLater(thrown: unknown): void {
  if (thrown !== NONE) {
    queueMicrotask(() => {
      throw thrown;
    });
  }
}

/** What an interrupted wait rejects with when its call ended successfully. */
export const CALL_ENDED: unique symbol = Symbol("the call ended");

/**
 * Awaits one promise at a time, but gives up as soon as the call fails. This
 * replaces `Promise.race` against a long-lived promise, which would retain
 * every message: here the call's failure reaches the single pending wait
 * through one hook registered once.
 */
export class Interruptible {
  private resolve: ((value: unknown) => void) | undefined;
  private reject: ((error: unknown) => void) | undefined;
  // Bound once per call, so a wait allocates only its own promise.
  private readonly settleValue = (value: unknown): void => {
    const resolve = this.resolve;
    this.resolve = this.reject = undefined;
    resolve?.(value);
  };
  private readonly settleError = (error: unknown): void => {
    const reject = this.reject;
    this.resolve = this.reject = undefined;
    reject?.(error);
  };

  constructor(private readonly life: CallLifecycle) {
    life.defer(this);
  }

  /**
   * The call ended: so does the pending wait. On success too (a server may
   * answer before the client has sent everything), with CALL_ENDED.
   */
  [RELEASE](): void {
    this.settleError(this.life.failure ?? CALL_ENDED);
  }

  wait<T>(promise: PromiseLike<T>): Promise<T> {
    if (this.life.ended) {
      return Promise.reject(this.life.failure ?? CALL_ENDED);
    }
    return new Promise<T>((resolve, reject) => {
      this.resolve = resolve as (value: unknown) => void;
      this.reject = reject;
      promise.then(this.settleValue, this.settleError);
    });
  }
}
