import type { Writable } from "node:stream";
import { CALL_ENDED, type CallLifecycle, Interruptible, RELEASE } from "./call-lifecycle.js";
import type { CallTimer } from "./call-timer.js";
import { countOut, type LiveCall } from "./registry.js";

/** What a send needs from its call. */
export interface SendContext {
  life: CallLifecycle;
  record: LiveCall;
  /** Bounds each wait for `drain` by the send deadline. */
  timer: CallTimer;
  /** Runs once, before the first message is written (to send response headers). */
  beforeFirstWrite?: (() => void) | undefined;
}

/**
 * Writes every message of `source` to a grpc-js stream, honouring
 * backpressure: when `write()` returns false it waits for `drain` before the
 * next message, for at most the send deadline. Every wait gives up as soon
 * as the call fails; the source's
 * iterator is then closed with `return()`, so a generator's `finally` runs.
 * Resolves when the source is exhausted, or when the call ended successfully
 * first (the source is then closed); rejects with the source's error or the
 * call's failure.
 */
export async function sendAll<T>(
  source: AsyncIterable<T> | Iterable<T>,
  sink: Writable,
  { life, record, timer, beforeFirstWrite }: SendContext,
): Promise<void> {
  const write = (message: T): boolean => {
    if (record.messagesOut === 0) {
      beforeFirstWrite?.();
    }
    countOut(record, message);
    return sink.write(message);
  };
  const waits = new Interruptible(life);
  // Made at the first full buffer: a stream that never fills one (most) pays nothing for it.
  let drain: DrainWaiter | undefined;
  if (!(Symbol.asyncIterator in source)) {
    // A plain iterable needs no promise per message; only drains are awaited.
    const iterator = source[Symbol.iterator]();
    try {
      for (let r = iterator.next(); r.done !== true && !life.ended; r = iterator.next()) {
        if (!write(r.value)) {
          drain ??= new DrainWaiter(sink, life, timer, record);
          await waits.wait(drain.next());
        }
      }
      if (life.ended) {
        closeQuietly(iterator);
      }
    } catch (error) {
      closeQuietly(iterator);
      return rethrowUnlessEnded(error);
    }
    return;
  }
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const result = await waits.wait(iterator.next());
      if (result.done === true) {
        return;
      }
      if (!write(result.value)) {
        drain ??= new DrainWaiter(sink, life, timer, record);
        await waits.wait(drain.next());
      }
    }
  } catch (error) {
    closeQuietly(iterator);
    return rethrowUnlessEnded(error);
  }
}

/** A call that ended successfully while sending simply stops sending. */
function rethrowUnlessEnded(error: unknown): void {
  if (error !== CALL_ENDED) {
    throw error;
  }
}

/**
 * Asks an iterator to stop, ignoring how it answers: an async generator that
 * is still running settles its `return()` only later, and a rejection there
 * must not become an unhandled one.
 */
function closeQuietly(iterator: AsyncIterator<unknown> | Iterator<unknown>): void {
  try {
    const result = iterator.return?.();
    if (result !== undefined && typeof (result as PromiseLike<unknown>).then === "function") {
      (result as Promise<unknown>).then(undefined, () => undefined);
    }
  } catch {
    // The iterator's own failure to stop changes nothing for the call.
  }
}

/** One `drain` listener per stream for the call's lifetime, not one per wait. */
class DrainWaiter {
  private resolve: (() => void) | undefined;
  private readonly onDrain = (): void => {
    const resolve = this.resolve;
    this.resolve = undefined;
    this.timer.sendUnblocked();
    this.record.sendBlockedSince = undefined;
    resolve?.();
  };

  constructor(
    private readonly sink: Writable,
    life: CallLifecycle,
    private readonly timer: CallTimer,
    private readonly record: LiveCall,
  ) {
    sink.on("drain", this.onDrain);
    life.defer(this);
  }

  /** The call ended: stop listening (the lifecycle's cleanup). */
  [RELEASE](): void {
    this.sink.off("drain", this.onDrain);
  }

  next(): Promise<void> {
    if (!this.sink.writableNeedDrain) {
      return Promise.resolve();
    }
    this.timer.sendBlocked();
    this.record.sendBlockedSince = Date.now();
    return new Promise((resolve) => {
      this.resolve = resolve;
    });
  }
}
