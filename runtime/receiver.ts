import type { Readable } from "node:stream";
import { type CallLifecycle, FAILED, RELEASE } from "./call-lifecycle.js";
import type { ReceiveState } from "./call-timer.js";
import { countIn, type LiveCall } from "./registry.js";
import type { RpcError } from "./rpc-error.js";

/** Who a receiver tells that its stream ended, or that its reader left early. */
export interface ReceiverOwner {
  /** The stream's natural end (END_STREAM), before the reader sees `done`. */
  receiveEnded(): void;
  /** The reader left before the end (`return()`). */
  receiveAbandoned(): void;
}

/**
 * Proves a request stream's end before the receiver reports it: calls
 * `receiver.endConfirmed()` once the END_STREAM is known not to be the first
 * half of a client's cancel, or never if it was.
 */
export type EndConfirmer = (receiver: ConfirmableEnd) => void;

/** What a confirmer may do with the receiver whose end it proves. */
export interface ConfirmableEnd {
  endConfirmed(): void;
  armConfirmTimer(ms: number): void;
}

/** An owner that needs neither event, shared by every call that has one. */
export const NO_OWNER: ReceiverOwner = { receiveEnded() {}, receiveAbandoned() {} };

/**
 * Reads a grpc-js message stream as an async iterator.
 *
 * It pulls with `read()`, so messages wait in the stream's own bounded buffer
 * (16 messages); when the consumer lags, grpc-js stops asking the transport
 * for more and HTTP/2 flow control pushes back on the sender. A failure of
 * the call ends the iteration with the call's RpcError; the stream's natural
 * end ends it normally. The owner hears of both the end and an early leave.
 */
export class Receiver<T> implements AsyncIterableIterator<T>, ReceiveState {
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private done = false;
  private confirmTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: Readable,
    private readonly life: CallLifecycle,
    private readonly record: LiveCall,
    private readonly owner: ReceiverOwner,
    private readonly confirmEnd: EndConfirmer | undefined = undefined,
  ) {
    stream.on("readable", this.onReadable);
    stream.on("end", this.onEnd);
    life.onFail(this);
    life.defer(this);
  }

  /** The call ended: stop listening (the lifecycle's cleanup). */
  [RELEASE](): void {
    this.stream.off("readable", this.onReadable);
    this.stream.off("end", this.onEnd);
    clearTimeout(this.confirmTimer);
  }

  /** The call failed: a pending read rejects with its error. */
  [FAILED](error: RpcError): void {
    if (this.waiting !== undefined) {
      this.done = true;
      this.takeWaiting()?.reject(error);
    }
  }

  /** Whether messages may still arrive for a reader: not ended, not left. */
  get receiving(): boolean {
    return !this.ended && !this.done;
  }

  /** Whether received messages wait to be read. */
  get buffered(): boolean {
    return this.stream.readableLength > 0;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.done) {
      return Promise.resolve({ value: undefined, done: true });
    }
    const message = this.take();
    if (message !== undefined) {
      return Promise.resolve({ value: message, done: false });
    }
    if (this.life.failure !== undefined) {
      this.done = true;
      return Promise.reject(this.life.failure);
    }
    if (this.ended) {
      this.done = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    this.record.receiveWaitingSince = Date.now();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** Takes the pending wait, marking that this side no longer waits on the peer. */
  private takeWaiting(): { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) {
      this.record.receiveWaitingSince = undefined;
    }
    return waiting;
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.done) {
      this.done = true;
      if (!this.ended) {
        this.owner.receiveAbandoned();
      }
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  private take(): T | undefined {
    const message = this.stream.read() as T | null;
    if (message === null) {
      return undefined;
    }
    countIn(this.record, message);
    return message;
  }

  private readonly onReadable = (): void => {
    if (this.waiting === undefined) {
      return;
    }
    const message = this.take();
    if (message !== undefined) {
      this.takeWaiting()?.resolve({ value: message, done: false });
    }
  };

  private readonly onEnd = (): void => {
    if (this.confirmEnd !== undefined) {
      // A Node http2 client that cancels sends END_STREAM and then
      // RST_STREAM, so grpc-js first reports a half-close and only later the
      // cancel. The confirmer proves the end first (see end-barrier.ts).
      this.confirmEnd(this);
      return;
    }
    this.endConfirmed();
  };

  /** Arms the fallback confirmation timer (released with the call). */
  armConfirmTimer(ms: number): void {
    clearTimeout(this.confirmTimer);
    this.confirmTimer = setTimeout(confirmEnd, ms, this);
    this.confirmTimer.unref();
  }

  /** The end stands: no failure came first. Only the receiver and its confirmer call this. */
  endConfirmed(): void {
    if (this.ended || (this.life.ended && this.life.failure !== undefined)) {
      return;
    }
    this.ended = true;
    this.owner.receiveEnded();
    if (this.waiting !== undefined && this.life.failure === undefined) {
      this.done = true;
      this.takeWaiting()?.resolve({ value: undefined, done: true });
    }
  }
}

/**
 * The fallback confirmer, used only when no PING can prove the end (see
 * end-barrier.ts): waits briefly for a RST_STREAM that may follow. This is a
 * guess, not a proof; the timer is cleared if the call ends first.
 */
export function confirmAfterDelay(receiver: ConfirmableEnd): void {
  receiver.armConfirmTimer(END_CONFIRM_FALLBACK_MS);
}

function confirmEnd(receiver: { endConfirmed(): void }): void {
  receiver.endConfirmed();
}

/** How long the fallback confirmer waits after END_STREAM for a RST_STREAM. */
const END_CONFIRM_FALLBACK_MS = 5;
