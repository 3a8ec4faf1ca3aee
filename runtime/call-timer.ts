import { RELEASE } from "./call-lifecycle.js";
import { MAX_TIMER_MS } from "./limits.js";
import type { LiveCall } from "./registry.js";
import { RpcError, Status } from "./rpc-error.js";

/** The receive side of a call, as the idle deadline reads it. */
export interface ReceiveState {
  /** Whether the receive side is still open, so idleness counts. */
  readonly receiving: boolean;
  /** Whether received messages are waiting to be read: then the peer is not idle. */
  readonly buffered: boolean;
}

/** The limits a call's timer enforces, in ms; 0 disables one. */
export interface TimerLimits {
  idleTimeoutMs: number;
  sendTimeoutMs: number;
  /** The absolute total deadline (epoch ms), or Infinity. */
  deadline: number;
  /** When a server ends the stream for rebalancing (`maxStreamAgeMs`, epoch ms), or Infinity. */
  ageAt?: number | undefined;
}

/**
 * The one timer of a call. It enforces the idle deadline, the send deadline
 * and (on a server) the total deadline and the stream's maximum age.
 *
 * A message costs it nothing: the receive loop already stamps
 * `record.lastMessageInAt`, and the timer reads that stamp when it fires. If
 * the deadline moved on since it was armed, it re-arms for the time left.
 * So there is no timer operation per message, and no `setTimeout` per message.
 * It holds no closure: Node's timer calls a module function with the timer.
 */
export class CallTimer {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Number.POSITIVE_INFINITY;
  private sendWaitSince: number | undefined;
  private stopped = false;
  private readonly idleTimeoutMs: number;
  private readonly sendTimeoutMs: number;
  private readonly deadline: number;
  private readonly ageAt: number;

  /** `receive` is undefined when the call receives nothing the idle deadline watches. */
  constructor(
    private readonly record: LiveCall,
    limits: TimerLimits,
    private readonly receive: ReceiveState | undefined,
    private readonly life: { fail(error: RpcError): unknown },
  ) {
    this.idleTimeoutMs = receive === undefined ? 0 : limits.idleTimeoutMs;
    this.sendTimeoutMs = limits.sendTimeoutMs;
    this.deadline = limits.deadline;
    this.ageAt = limits.ageAt ?? Number.POSITIVE_INFINITY;
    this.arm(this.nextDue(Date.now()));
  }

  /** A send began waiting for `drain`. */
  sendBlocked(): void {
    if (this.sendTimeoutMs === 0 || this.stopped) {
      return;
    }
    const now = Date.now();
    this.sendWaitSince = now;
    this.arm(Math.min(this.dueAt, now + this.sendTimeoutMs));
  }

  /** The send's `drain` came. */
  sendUnblocked(): void {
    this.sendWaitSince = undefined;
  }

  /** Stops for good when the call ends (the lifecycle's cleanup). */
  [RELEASE](): void {
    this.stopped = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** The timer went off; only `fireTimer` calls this. */
  fire(): void {
    this.timer = undefined;
    this.dueAt = Number.POSITIVE_INFINITY;
    if (this.stopped) {
      return;
    }
    const now = Date.now();
    const error = this.expired(now);
    if (error !== undefined) {
      this[RELEASE]();
      this.life.fail(error);
    } else {
      this.arm(this.nextDue(now));
    }
  }

  private expired(now: number): RpcError | undefined {
    const { deadline, idleTimeoutMs, sendTimeoutMs } = this;
    if (now >= deadline) {
      return new RpcError(Status.DEADLINE_EXCEEDED, "the call's deadline passed", { reason: "deadline" });
    }
    if (now >= this.ageAt) {
      return new RpcError(
        Status.UNAVAILABLE,
        "the stream reached the server's maxStreamAgeMs; resume it, on any replica",
        { reason: "shutdown" },
      );
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
    if (this.receive === undefined || !this.receive.receiving) {
      return undefined;
    }
    if (this.receive.buffered) {
      return now;
    }
    return this.record.lastMessageInAt ?? this.record.startedAt;
  }

  private nextDue(now: number): number {
    const { deadline, idleTimeoutMs, sendTimeoutMs } = this;
    let due = Math.min(deadline, this.ageAt);
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
    // A deadline past Node's longest timer fires early, finds nothing due, and re-arms.
    this.timer = setTimeout(fireTimer, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())), this);
    this.timer.unref();
  }
}

function fireTimer(timer: CallTimer): void {
  timer.fire();
}
