import { Metadata } from "@grpc/grpc-js";
import { combineHooks, type HooksOption, type ResolvedHooks } from "./combine-hooks.js";
import { EndLog } from "./end-log.js";
import type { ResumedEndInfo, RetryInfo } from "./resume-policy.js";
import type { RpcError, RpcErrorReason } from "./rpc-error.js";
import { Status } from "./rpc-error.js";
import type { MethodKind } from "./service.js";
import type { UnservedCallInfo } from "./unserved-calls.js";

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

/**
 * What `onCallStart` gets. `onCallEnd` later gets this same object, with
 * the end's fields filled in, so a hook can keep per-call state in a
 * WeakMap keyed by it.
 */
export interface CallStartInfo {
  /** The gRPC path, e.g. "/example.v1.Chat/Say". */
  method: string;
  kind: MethodKind;
  /** The other side: the client's address on a server, the target as given to `createClient` on a client. */
  peer: string;
  /** Which side of the call this is. */
  side: "client" | "server";
  /**
   * On a client, the request metadata about to be sent: a hook may add to
   * it (a trace context, say); it is a copy when the caller passed a
   * `Metadata`. On a server, the request metadata received.
   */
  metadata: Metadata;
  /** On a client, for an attempt of a resumed stream: its number, from 1. Otherwise undefined. */
  attempt: number | undefined;
}

/** What `onCallEnd` gets. `reason` is "ok" for a call that succeeded. */
export interface CallEndInfo extends CallStartInfo {
  reason: RpcErrorReason | "ok";
  code: Status;
  /** From the call's start to its end, in milliseconds, with sub-millisecond precision. */
  durationMs: number;
  messagesIn: number;
  messagesOut: number;
  /**
   * The bytes of the messages received and sent, each counted as serialized
   * (what goes on the wire when messages are not compressed; leaksafe never
   * compresses). Counted only when some hooks object sets `messageSizes`;
   * otherwise undefined.
   */
  bytesIn: number | undefined;
  bytesOut: number | undefined;
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
 * `hooks` on a server or client takes one such object or an array of them,
 * each hook run in the array's order.
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
  /**
   * Client only: a resumed stream ended for good, after its last attempt's
   * end (each attempt had its own `onCallEnd`) or during a wait between two.
   */
  onResumedEnd?: ((info: ResumedEndInfo) => void) | undefined;
  /**
   * Server only: a call that no handler of this server serves ended. grpc-js
   * answered it itself (UNIMPLEMENTED), so the other hooks never saw it.
   * `method` is whatever path the peer sent; `registered` tells whether it
   * is a method of a service added to the server.
   */
  onUnservedCall?: ((info: UnservedCallInfo) => void) | undefined;
  /**
   * Counts the bytes of every call's messages for `onCallEnd` (`bytesIn`,
   * `bytesOut`). Default false: it costs a wrapper around the call's
   * serializer and deserializer, per call.
   */
  messageSizes?: boolean | undefined;
}

/** The registry's own, writable view of a live call. */
export interface LiveCall {
  readonly id: number;
  readonly method: string;
  readonly kind: MethodKind;
  /** The other side; on a client, the target until the call ends (see `peerSource`). */
  peer: string;
  /**
   * Client only: the grpc-js call, which knows the address it connected to
   * once it has one (`getPeer()`); read when the registry is shown and when
   * the call ends, then dropped.
   */
  peerSource: { getPeer(): string } | undefined;
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
  /** What the start and end hooks see, or undefined when neither is set. */
  readonly hooked: HookedCall | undefined;
}

/** A call as the start and end hooks see it. */
export interface HookedCall {
  readonly info: CallEndInfo;
  /** `performance.now()` at the start. */
  readonly since: number;
  /**
   * When set, `onCallEnd` waits until this calls `report`: a server counting
   * bytes reports once the HTTP/2 stream has closed, since the responses a
   * stream still buffers at the call's end are serialized only as they go out.
   */
  hold: ((report: () => void) => void) | undefined;
}

/** The live calls of one server or client. */
export class Registry {
  private nextId = 1;
  private readonly live = new Map<number, LiveCall>();
  /** The calls that ended: counts by reason and the newest few, for `recentEnds()`. */
  readonly ends = new EndLog();

  /** The hooks, combined and guarded (see {@link combineHooks}). */
  readonly hooks: ResolvedHooks;
  /** The `onRetry` hook, guarded; undefined when unset. */
  readonly onRetry: ((info: RetryInfo) => void) | undefined;
  /** True when a start or end hook is set: calls then carry a {@link HookedCall}. */
  readonly observed: boolean;

  /** `where` names the option in errors about bad hooks, e.g. "createServer's hooks". */
  constructor(
    hooks: HooksOption | undefined = undefined,
    private readonly side: "client" | "server" = "server",
    where = "hooks",
  ) {
    this.hooks = combineHooks(hooks, where);
    this.onRetry = this.hooks.onRetry;
    this.observed = this.hooks.onCallStart !== undefined || this.hooks.onCallEnd !== undefined;
  }

  /** `metadata` and `attempt` are for the hooks (see {@link CallStartInfo}). */
  open(
    method: string,
    kind: MethodKind,
    peer: string,
    deadline: number | undefined,
    metadata?: Metadata,
    attempt?: number,
  ): LiveCall {
    const call: LiveCall = {
      id: this.nextId++,
      method,
      kind,
      peer,
      peerSource: undefined,
      startedAt: Date.now(),
      deadline,
      messagesIn: 0,
      messagesOut: 0,
      lastMessageInAt: undefined,
      lastMessageOutAt: undefined,
      sendBlockedSince: undefined,
      receiveWaitingSince: undefined,
      onMessage: this.hooks.onMessage,
      hooked: this.observed ? this.hook(method, kind, peer, metadata, attempt) : undefined,
    };
    this.live.set(call.id, call);
    const onCallStart = this.hooks.onCallStart;
    if (onCallStart !== undefined) {
      onCallStart((call.hooked as HookedCall).info);
    }
    return call;
  }

  private hook(
    method: string,
    kind: MethodKind,
    peer: string,
    metadata: Metadata | undefined,
    attempt: number | undefined,
  ): HookedCall {
    const bytes = this.hooks.messageSizes ? 0 : undefined;
    const info: CallEndInfo = {
      method,
      kind,
      peer,
      side: this.side,
      metadata: metadata ?? new Metadata(),
      attempt,
      // Filled in at the end; set now, so the object keeps one shape.
      reason: "ok",
      code: Status.OK,
      durationMs: 0,
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: bytes,
      bytesOut: bytes,
    };
    return { info, since: performance.now(), hold: undefined };
  }

  /** Removes a call that ended, with the error it failed with, if any. */
  close(call: LiveCall, failure: RpcError | undefined): void {
    this.live.delete(call.id);
    if (call.peerSource !== undefined) {
      call.peer = this.peerOf(call);
      call.peerSource = undefined;
    }
    this.ends.record(call, failure?.reason ?? "ok", failure?.code ?? Status.OK, Date.now());
    const onCallEnd = this.hooks.onCallEnd;
    const hooked = call.hooked;
    if (onCallEnd !== undefined && hooked !== undefined) {
      const { info } = hooked;
      info.reason = failure?.reason ?? "ok";
      info.code = failure?.code ?? Status.OK;
      info.durationMs = performance.now() - hooked.since;
      info.messagesIn = call.messagesIn;
      info.messagesOut = call.messagesOut;
      info.peer = call.peer;
      if (hooked.hold === undefined) {
        onCallEnd(info);
      } else {
        hooked.hold(() => onCallEnd(info));
      }
    }
  }

  get size(): number {
    return this.live.size;
  }

  /** A snapshot: copies without the hooks, so a caller holding them keeps nothing alive. */
  snapshot(): CallRecord[] {
    return [...this.live.values()].map((call) => {
      const { onMessage: _, hooked: __, peerSource: ___, ...record } = call;
      return { ...record, peer: this.peerOf(call) };
    });
  }

  /**
   * A client call's peer: the address its grpc-js call connected to, once
   * grpc-js knows it, else the target. grpc-js answers "unknown" until a
   * call with retries commits to an attempt (its response headers), and the
   * channel's target until a call without them is on a connection.
   */
  private peerOf(call: LiveCall): string {
    const source = call.peerSource;
    if (source === undefined) return call.peer;
    let known: string;
    try {
      known = source.getPeer();
    } catch {
      return call.peer;
    }
    return known === "unknown" || known === "" || known === this.channelTarget ? call.peer : known;
  }

  /** Client only: the channel's own name for its target, which grpc-js gives as a peer before a connection. */
  channelTarget: string | undefined;
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
