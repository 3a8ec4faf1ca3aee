import type { Http2Stream } from "node:http2";
import type { Metadata } from "@grpc/grpc-js";
import { CallLifecycle, RELEASE } from "./call-lifecycle.js";
import { CallTimer, type ReceiveState } from "./call-timer.js";
import { DEADLINE_SKEW_MS, findHttp2Stream, noteMissing, replaceServerCodec } from "./grpc-internals.js";
import type { ResolvedLimits } from "./limits.js";
import { countedInfo, countingDeserializer, countingSerializer } from "./message-bytes.js";
import type { HookedCall, LiveCall, Registry } from "./registry.js";
import { RpcError, Status } from "./rpc-error.js";
import type { MethodDescriptor, MethodKind } from "./service.js";

/** A server method's limits, with the stream age that `maxStreamAgeMs` gives a server-streaming method. */
export interface ServerCallLimits extends ResolvedLimits {
  /** Ends the call, UNAVAILABLE, once it is this old (±10 %); 0 or unset: never. */
  maxStreamAgeMs?: number | undefined;
}

/** What every call of one server shares. */
export interface ServerScope {
  registry: Registry;
  /** The lifecycle of every call in flight, so shutdown can end them. */
  live: Set<{ kind: MethodKind; life: CallLifecycle }>;
  /** Set once shutdown began: new calls fail with it at once. */
  stopping: RpcError | undefined;
  /** The call opened at its HEADERS for this handler's call, if any (see request-wait.ts). */
  takeWaiting(call: object): OpenedCall | undefined;
}

/** A server call as it opens: its lifecycle, registry entry and total deadline. */
export interface OpenedCall {
  life: CallLifecycle;
  record: LiveCall;
  /** The absolute deadline: the smaller of the client's and this server's own. */
  deadline: number;
  /** The call's one timer, when the call opened before its handler ran (request-wait.ts). */
  timer?: CallTimer | undefined;
  /** Its HTTP/2 stream, when the call opened before its handler ran: the wait found it. */
  stream?: Http2Stream | undefined;
}

/**
 * Opens one call: its lifecycle, its registry entry, and its place in the
 * list shutdown ends. Both leave when the lifecycle ends. The caller
 * registers how a failure answers the peer, then calls {@link refuseIfStopping}.
 * `call` is grpc-js's call (a handler's, or an intercepting one), and
 * `metadata` its request metadata, for the hooks.
 */
export function openCall(
  scope: ServerScope,
  method: MethodDescriptor,
  peer: string,
  clientDeadline: Date | number | undefined,
  limits: ResolvedLimits,
  metadata: Metadata,
  call: object,
): OpenedCall {
  const life = new CallLifecycle();
  const incoming = clientDeadline === undefined ? Number.POSITIVE_INFINITY : Number(clientDeadline);
  const own = limits.timeoutMs > 0 ? Date.now() + limits.timeoutMs : Number.POSITIVE_INFINITY;
  const deadline = Math.min(Number.isNaN(incoming) ? Number.POSITIVE_INFINITY : incoming, own);
  const record = scope.registry.open(
    method.path,
    method.kind,
    peer,
    Number.isFinite(deadline) ? deadline : undefined,
    metadata,
  );
  const counted = countedInfo(record.hooked);
  if (counted !== undefined) {
    countBytes(call, record.hooked as HookedCall);
  }
  const entry = new LiveEntry(method.kind, life, scope, record);
  scope.live.add(entry);
  life.defer(entry);
  return { life, record, deadline };
}

/**
 * Counts the bytes of the call's messages into its hooks' end info. The
 * responses a stream still buffers when the call ends are serialized as
 * they go out, so `onCallEnd` waits for the HTTP/2 stream's close.
 */
function countBytes(call: object, hooked: HookedCall): void {
  const { info } = hooked;
  const replaced = replaceServerCodec(call, ({ serialize, deserialize }) => ({
    serialize: countingSerializer(serialize, info),
    deserialize: countingDeserializer(deserialize, info),
  }));
  if (!replaced) {
    noteMissing("BaseServerInterceptingCall.handler (message sizes for hooks)");
    return;
  }
  const stream = findHttp2Stream(call);
  if (stream !== undefined) {
    hooked.hold = (report) => {
      if (stream.closed) report();
      else stream.once("close", report);
    };
  }
}

/** A call's place in the list shutdown ends; it leaves, with its registry entry, when the call ends. */
class LiveEntry {
  constructor(
    readonly kind: MethodKind,
    readonly life: CallLifecycle,
    private readonly scope: ServerScope,
    private readonly record: LiveCall,
  ) {}

  [RELEASE](): void {
    this.scope.live.delete(this);
    this.scope.registry.close(this.record, this.life.failure);
  }
}

/**
 * Starts a call's one timer: its total deadline, its idle deadline while
 * `receive` is receiving, its send deadline and its maximum age. It stops
 * when the call ends.
 */
export function startCallTimer(
  { life, record, deadline }: OpenedCall,
  limits: ServerCallLimits,
  receive: ReceiveState | undefined,
): CallTimer {
  const { idleTimeoutMs, sendTimeoutMs, maxStreamAgeMs = 0 } = limits;
  // ±10 %, so that the streams opened together (after a restart) end apart.
  const ageAt = maxStreamAgeMs > 0 ? record.startedAt + maxStreamAgeMs * (0.9 + Math.random() * 0.2) : undefined;
  const timer = new CallTimer(record, { idleTimeoutMs, sendTimeoutMs, deadline, ageAt }, receive, life);
  life.defer(timer);
  return timer;
}

/** Fails a call that opened after shutdown began, with shutdown's error. */
export function refuseIfStopping(scope: ServerScope, { life }: OpenedCall): void {
  if (scope.stopping !== undefined) {
    life.fail(scope.stopping);
  }
}

/**
 * The error of a call that the peer cancelled or left: a cancel this close
 * to the deadline is the client's deadline passing (`DEADLINE_SKEW_MS`,
 * grpc-internals.ts).
 */
export function cancelledByPeer(deadline: number): RpcError {
  if (deadline - Date.now() <= DEADLINE_SKEW_MS) {
    return new RpcError(Status.DEADLINE_EXCEEDED, "the call's deadline passed", { reason: "deadline" });
  }
  return new RpcError(Status.CANCELLED, "the client cancelled the call or went away", { reason: "peer-gone" });
}
