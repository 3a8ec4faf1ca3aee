import type { LiveCall } from "./registry.js";
import { RpcError, Status } from "./rpc-error.js";

/** What a call's timer watches, as functions of the call's live state. */
export interface TimerWatch {
  record: LiveCall;
  /** Disabled when 0. */
  idleTimeoutMs: number;
  /** Disabled when 0. */
  sendTimeoutMs: number;
  /** The absolute total deadline (epoch ms), or Infinity. */
  deadline: number;
  /** Whether the receive side is still open, so idleness counts. */
  receiving: () => boolean;
  /** Whether received messages are waiting to be read: then the peer is not idle. */
  buffered: () => boolean;
}

/**
 * The one timer of a call. It enforces the idle deadline, the send deadline
 * and (on a server) the total deadline.
 *
 * A message costs it nothing: the receive loop already stamps
 * `record.lastMessageInAt`, and the timer reads that stamp when it fires. If
 * the deadline moved on since it was armed, it re-arms for the time left.
 * So there is no timer operation per message, and no `setTimeout` per message.
 */
export class CallTimer {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Number.POSITIVE_INFINITY;
  private sendWaitSince: number | undefined;
  private stopped = false;

  constructor(
    private readonly watch: TimerWatch,
    private readonly expire: (error: RpcError) => void,
  ) {
    this.arm(this.nextDue(Date.now()));
  }

  /** A send began waiting for `drain`. */
  sendBlocked(): void {
    if (this.watch.sendTimeoutMs === 0 || this.stopped) {
      return;
    }
    const now = Date.now();
    this.sendWaitSince = now;
    this.arm(Math.min(this.dueAt, now + this.watch.sendTimeoutMs));
  }

  /** The send's `drain` came. */
  sendUnblocked(): void {
    this.sendWaitSince = undefined;
  }

  /** Stops for good; called when the call ends. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.dueAt = Number.POSITIVE_INFINITY;
    if (this.stopped) {
      return;
    }
    const now = Date.now();
    const error = this.expired(now);
    if (error !== undefined) {
      this.stop();
      this.expire(error);
    } else {
      this.arm(this.nextDue(now));
    }
  };

  private expired(now: number): RpcError | undefined {
    const { deadline, idleTimeoutMs, sendTimeoutMs } = this.watch;
    if (now >= deadline) {
      return new RpcError(Status.DEADLINE_EXCEEDED, "the call's deadline passed", { reason: "deadline" });
    }
    if (sendTimeoutMs > 0 && this.sendWaitSince !== undefined && now - this.sendWaitSince >= sendTimeoutMs) {
      return new RpcError(
        Status.DEADLINE_EXCEEDED,
        `the peer took no message for ${sendTimeoutMs} ms (sendTimeoutMs)`,
        { reason: "send-timeout" },
      );
    }
    if (
      idleTimeoutMs > 0 &&
      this.idleSince(now) !== undefined &&
      now - (this.idleSince(now) as number) >= idleTimeoutMs
    ) {
      return new RpcError(Status.DEADLINE_EXCEEDED, `no message arrived for ${idleTimeoutMs} ms (idleTimeoutMs)`, {
        reason: "idle",
      });
    }
    return undefined;
  }

  /** Since when the receive side has been idle, or undefined when it is not. */
  private idleSince(now: number): number | undefined {
    if (!this.watch.receiving()) {
      return undefined;
    }
    if (this.watch.buffered()) {
      return now;
    }
    return this.watch.record.lastMessageInAt ?? this.watch.record.startedAt;
  }

  private nextDue(now: number): number {
    const { deadline, idleTimeoutMs, sendTimeoutMs } = this.watch;
    let due = deadline;
    const idle = this.idleSince(now);
    if (idleTimeoutMs > 0 && idle !== undefined) {
      due = Math.min(due, idle + idleTimeoutMs);
    }
    if (sendTimeoutMs > 0 && this.sendWaitSince !== undefined) {
      due = Math.min(due, this.sendWaitSince + sendTimeoutMs);
    }
    return due;
  }

  private arm(at: number): void {
    if (at === this.dueAt && this.timer !== undefined) {
      return;
    }
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.dueAt = at;
    if (at === Number.POSITIVE_INFINITY) {
      return;
    }
    this.timer = setTimeout(this.fire, Math.max(0, at - Date.now()));
    this.timer.unref();
  }
}
