import type { RpcError } from "./rpc-error.js";

/**
 * The state of one call, shared by its receive loop, its send pump and its
 * adapter. A call ends exactly once: `finish()` for success, `fail()` for
 * anything else. Whatever was registered with `onFail` and `defer` runs then,
 * so every listener and timer of the call is released on every exit path.
 */
export class CallLifecycle {
  /** Set when the call failed; the error every pending wait rejects with. */
  failure: RpcError | undefined;
  ended = false;
  private readonly failHooks: Array<(error: RpcError) => void> = [];
  private readonly cleanups: Array<() => void> = [];

  /** Runs `hook` if the call fails. Registered once per call, never per message. */
  onFail(hook: (error: RpcError) => void): void {
    this.failHooks.push(hook);
  }

  /** Runs `cleanup` when the call ends, however it ends. */
  defer(cleanup: () => void): void {
    if (this.ended) {
      cleanup();
    } else {
      this.cleanups.push(cleanup);
    }
  }

  /** Ends the call successfully. Returns false if it had already ended. */
  finish(): boolean {
    if (this.ended) {
      return false;
    }
    this.ended = true;
    this.release();
    return true;
  }

  /** Ends the call with `error`. Returns false if it had already ended. */
  fail(error: RpcError): boolean {
    if (this.ended) {
      return false;
    }
    this.ended = true;
    this.failure = error;
    for (const hook of this.failHooks) {
      hook(error);
    }
    this.release();
    return true;
  }

  private release(): void {
    this.failHooks.length = 0;
    for (const cleanup of this.cleanups.splice(0)) {
      cleanup();
    }
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
  private reject: ((error: unknown) => void) | undefined;

  constructor(private readonly life: CallLifecycle) {
    // On success the waits end too (a server may answer before the client
    // has sent everything); they reject with CALL_ENDED.
    life.defer(() => {
      const reject = this.reject;
      this.reject = undefined;
      reject?.(life.failure ?? CALL_ENDED);
    });
  }

  wait<T>(promise: PromiseLike<T>): Promise<T> {
    if (this.life.ended) {
      return Promise.reject(this.life.failure ?? CALL_ENDED);
    }
    return new Promise<T>((resolve, reject) => {
      this.reject = reject;
      promise.then(
        (value) => {
          this.reject = undefined;
          resolve(value);
        },
        (error: unknown) => {
          this.reject = undefined;
          reject(error);
        },
      );
    });
  }
}
