import { EndLog } from "./end-log.js";
import type { RetryInfo } from "./resume-policy.js";
import type { RpcError, RpcErrorReason } from "./rpc-error.js";
import { Status } from "./rpc-error.js";
import type { MethodKind } from "./service.js";

/**
 * One live call, as `activeStreams()` shows it. Times are epoch
 * milliseconds. `sendBlockedSince` and `receiveWaitingSince` tell, in a
 * dump, which side of a stuck stream is waiting: set `sendBlockedSince` means
 * the peer is not taking our messages; set `receiveWaitingSince` means we
 * wait for the peer to send; neither means this side's own code is busy.
 */
export interface CallRecord {
  readonly id: number;
  /** The gRPC path, e.g. "/example.v1.Chat/Watch". */
  readonly method: string;
  readonly kind: MethodKind;
  /** The other side: the client's address on a server, the target on a client. */
  readonly peer: string;
  readonly startedAt: number;
  /** The total deadline, or undefined when there is none. */
  readonly deadline: number | undefined;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly lastMessageInAt: number | undefined;
  readonly lastMessageOutAt: number | undefined;
  /** Since when a send has waited for the peer to take a message (HTTP/2 flow control), if it is waiting. */
  readonly sendBlockedSince: number | undefined;
  /** Since when this side's reader has waited for the peer's next message, if it is waiting. */
  readonly receiveWaitingSince: number | undefined;
}

/** What `onCallStart` gets. */
export interface CallStartInfo {
  method: string;
  kind: MethodKind;
  peer: string;
}

/** What `onCallEnd` gets. `reason` is "ok" for a call that succeeded. */
export interface CallEndInfo extends CallStartInfo {
  reason: RpcErrorReason | "ok";
  code: Status;
  durationMs: number;
  messagesIn: number;
  messagesOut: number;
}

/** What `onMessage` gets: one message, as it was received or sent. */
export interface MessageEvent {
  method: string;
  direction: "in" | "out";
  message: unknown;
}

/**
 * Observability hooks. Each runs synchronously on the call's path, so keep
 * them cheap; an exception from a hook is caught and ignored, never failing
 * the call. `onMessage` runs once per message and costs nothing when unset.
 */
export interface CallHooks {
  onCallStart?: ((info: CallStartInfo) => void) | undefined;
  onCallEnd?: ((info: CallEndInfo) => void) | undefined;
  onMessage?: ((event: MessageEvent) => void) | undefined;
  /**
   * Client only: an attempt of a resumed stream ended and another follows
   * after `delayMs`. Each attempt is also a call of its own for the other hooks.
   */
  onRetry?: ((info: RetryInfo) => void) | undefined;
}

/** The registry's own, writable view of a live call. */
export interface LiveCall {
  readonly id: number;
  readonly method: string;
  readonly kind: MethodKind;
  readonly peer: string;
  readonly startedAt: number;
  deadline: number | undefined;
  messagesIn: number;
  messagesOut: number;
  lastMessageInAt: number | undefined;
  lastMessageOutAt: number | undefined;
  sendBlockedSince: number | undefined;
  receiveWaitingSince: number | undefined;
  /** The per-message hook, or undefined, so the hot path tests one field. */
  readonly onMessage: ((event: MessageEvent) => void) | undefined;
}

/** The live calls of one server or client. */
export class Registry {
  private nextId = 1;
  private readonly live = new Map<number, LiveCall>();
  /** The calls that ended: counts by reason and the newest few, for `recentEnds()`. */
  readonly ends = new EndLog();

  /** The `onRetry` hook, guarded; undefined when unset. */
  readonly onRetry: ((info: RetryInfo) => void) | undefined;

  constructor(private readonly hooks: CallHooks = {}) {
    this.onRetry = hooks.onRetry === undefined ? undefined : guard(hooks.onRetry);
  }

  open(method: string, kind: MethodKind, peer: string, deadline: number | undefined): LiveCall {
    const onMessage = this.hooks.onMessage;
    const call: LiveCall = {
      id: this.nextId++,
      method,
      kind,
      peer,
      startedAt: Date.now(),
      deadline,
      messagesIn: 0,
      messagesOut: 0,
      lastMessageInAt: undefined,
      lastMessageOutAt: undefined,
      sendBlockedSince: undefined,
      receiveWaitingSince: undefined,
      onMessage: onMessage === undefined ? undefined : guard(onMessage),
    };
    this.live.set(call.id, call);
    const onCallStart = this.hooks.onCallStart;
    if (onCallStart !== undefined) {
      guard(onCallStart)({ method, kind, peer });
    }
    return call;
  }

  /** Removes a call that ended, with the error it failed with, if any. */
  close(call: LiveCall, failure: RpcError | undefined): void {
    this.live.delete(call.id);
    this.ends.record(call, failure?.reason ?? "ok", failure?.code ?? Status.OK, Date.now());
    const onCallEnd = this.hooks.onCallEnd;
    if (onCallEnd !== undefined) {
      guard(onCallEnd)({
        method: call.method,
        kind: call.kind,
        peer: call.peer,
        reason: failure?.reason ?? "ok",
        code: failure?.code ?? Status.OK,
        durationMs: Date.now() - call.startedAt,
        messagesIn: call.messagesIn,
        messagesOut: call.messagesOut,
      });
    }
  }

  get size(): number {
    return this.live.size;
  }

  /** A snapshot: copies without the hooks, so a caller holding them keeps nothing alive. */
  snapshot(): CallRecord[] {
    return [...this.live.values()].map(({ onMessage: _, ...record }) => record);
  }
}

/** Counts a message received on a call, and shows it to the `onMessage` hook if there is one. */
export function countIn(call: LiveCall, message: unknown): void {
  call.messagesIn++;
  call.lastMessageInAt = Date.now();
  if (call.onMessage !== undefined) {
    call.onMessage({ method: call.method, direction: "in", message });
  }
}

/** Counts a message sent on a call, and shows it to the `onMessage` hook if there is one. */
export function countOut(call: LiveCall, message: unknown): void {
  call.messagesOut++;
  call.lastMessageOutAt = Date.now();
  if (call.onMessage !== undefined) {
    call.onMessage({ method: call.method, direction: "out", message });
  }
}

function guard<T>(hook: (arg: T) => void): (arg: T) => void {
  return (arg) => {
    try {
      hook(arg);
    } catch {
      // A hook's failure is the hook's problem; the call goes on.
    }
  };
}
