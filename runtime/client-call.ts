/**
 * One client call's life: what a client's calls share (`ChannelCall`), the
 * state of one call (`ClientCall`: its lifecycle, registry entry, limits and
 * deadline), how it opens (`prepare`) and its one timer. The call's end
 * releases the signal listener, the timer, the registry entry and the
 * stream listeners, and cancels the grpc-js call if it failed on this side.
 */
import { type Client, connectivityState, Metadata } from "@grpc/grpc-js";
import { CallLifecycle, FAILED, RELEASE } from "./call-lifecycle.js";
import { type CallOptions, toMetadata } from "./call-options.js";
import { CallTimer, type ReceiveState } from "./call-timer.js";
import { aborted, clientClosed } from "./client-status.js";
import { MAX_TIMER_MS, type ResolvedLimits, resolveLimits, type StreamLimits } from "./limits.js";
import { countedInfo, countingDeserializer, countingSerializer } from "./message-bytes.js";
import type { ReceiverOwner } from "./receiver.js";
import type { LiveCall, Registry } from "./registry.js";
import { messageOf, RpcError, Status } from "./rpc-error.js";
import type { MethodDescriptor } from "./service.js";

/** What a client's calls share: the channel, its registry and its default limits. */
export interface ChannelCall {
  channel: Client;
  registry: Registry;
  peer: string;
  defaults: StreamLimits | undefined;
  /** Everything in flight that `close()` must end: calls, and resumed streams between attempts. */
  inFlight: Set<InFlight>;
  /** Set by `close()`: from then on a call fails before it opens anything. */
  closed: boolean;
  /** How long a call that starts before the channel is connected waits for it; 0: for ever. */
  connectTimeoutMs: number;
}

/** Something in flight on a client, which `close()` ends with `error`. */
export interface InFlight {
  end(error: RpcError): void;
}

/**
 * One client call's own state: its lifecycle, its registry entry, its limits
 * and, for a call with a response stream, how far that stream got. It is
 * also the call's cleanup and failure hook, so a long-lived call holds one
 * object here instead of a closure per concern.
 */
export class ClientCall implements ReceiverOwner, InFlight {
  readonly life = new CallLifecycle();
  readonly record: LiveCall;
  readonly deadline: number | undefined;
  /** The grpc-js call with a response stream, once started; cancelled if the call fails. */
  stream: { cancel(): void } | undefined;
  /** The method's serializer and deserializer, or, when the hooks count bytes, this call's counting wrappers. */
  readonly serialize: (value: any) => Buffer;
  readonly deserialize: (bytes: Buffer) => any;
  private statusOk = false;
  private drained = false;

  constructor(
    private readonly target: ChannelCall,
    method: MethodDescriptor,
    readonly limits: ResolvedLimits,
    /** The request metadata: the hooks saw it, and may have added to it. */
    readonly metadata: Metadata,
    attempt: number | undefined,
  ) {
    this.deadline = limits.timeoutMs > 0 ? Date.now() + limits.timeoutMs : undefined;
    this.record = target.registry.open(method.path, method.kind, target.peer, this.deadline, metadata, attempt);
    const counted = countedInfo(this.record.hooked);
    this.serialize =
      counted === undefined ? method.requestSerialize : countingSerializer(method.requestSerialize, counted);
    this.deserialize =
      counted === undefined ? method.responseDeserialize : countingDeserializer(method.responseDeserialize, counted);
    target.inFlight.add(this);
    this.life.defer(this);
    this.life.onFail(this);
  }

  /** The call ended: leave the registry and the client's calls in flight. */
  [RELEASE](): void {
    this.target.inFlight.delete(this);
    this.target.registry.close(this.record, this.life.failure);
  }

  /** The client closed while the call was in flight. */
  end(error: RpcError): void {
    this.life.fail(error);
  }

  /** grpc-js refused to start the call: fail it, so that it releases what it opened. */
  startFailed(thrown: unknown): RpcError {
    const shutDown = this.target.channel.getChannel().getConnectivityState(false) === connectivityState.SHUTDOWN;
    this.life.fail(
      shutDown
        ? new RpcError(Status.FAILED_PRECONDITION, "the client's channel was closed", {
            reason: "cancelled",
            cause: thrown,
          })
        : new RpcError(Status.INTERNAL, `grpc-js could not start the call: ${messageOf(thrown)}`, {
            cause: thrown,
          }),
    );
    return this.life.failure as RpcError;
  }

  /** The call failed on this side or the other: cancel the grpc-js call (a no-op once it has a status). */
  [FAILED](): void {
    this.stream?.cancel();
  }

  /** The response stream's OK status arrived. */
  statusArrived(): void {
    this.statusOk = true;
    this.maybeFinish();
  }

  receiveEnded(): void {
    this.drained = true;
    this.maybeFinish();
  }

  receiveAbandoned(): void {
    this.life.fail(
      new RpcError(Status.CANCELLED, "the response stream was left before its end", { reason: "cancelled" }),
    );
  }

  /** A stream call succeeds once its OK status has arrived and every message has been read. */
  private maybeFinish(): void {
    if (this.statusOk && this.drained) {
      this.life.finish();
    }
  }
}

/**
 * Opens a call's state: its registry entry and its signal listener. A
 * closed client opens nothing: the caller gets the error to fail with.
 * `attempt` numbers the attempts of a resumed stream.
 */
export function prepare(
  target: ChannelCall,
  method: MethodDescriptor,
  options: CallOptions,
  attempt?: number,
): ClientCall | RpcError {
  if (target.closed) {
    return clientClosed(method);
  }
  const limits = resolveLimits(method.kind !== "unary", options, method.policy, target.defaults);
  // Hooks may add to the metadata: never to a Metadata the caller may reuse.
  const given = options.metadata;
  const metadata = target.registry.observed && given instanceof Metadata ? given.clone() : toMetadata(given);
  const prepared = new ClientCall(target, method, limits, metadata, attempt);
  if (options.signal !== undefined) {
    prepared.life.follow(options.signal, aborted);
  }
  boundConnect(target, prepared);
  return prepared;
}

/**
 * grpc-js bounds no connection attempt: a call to an address that never
 * answers (a black hole, or a socket that never speaks HTTP/2) waits for
 * its deadline, and for ever without one, with or without `waitForReady`.
 * A call that starts while the channel is not READY gets a one-shot timer
 * (unref'd, cleared when the call ends); if the channel is still not READY
 * when it fires, the call fails with UNAVAILABLE. A call on a connected
 * channel pays one state read and no timer.
 */
function boundConnect(target: ChannelCall, prepared: ClientCall): void {
  const ms = target.connectTimeoutMs;
  if (ms <= 0) {
    return;
  }
  const channel = target.channel.getChannel();
  if (channel.getConnectivityState(false) === connectivityState.READY) {
    return;
  }
  const timer = setTimeout(() => {
    if (channel.getConnectivityState(false) !== connectivityState.READY) {
      prepared.life.fail(
        new RpcError(Status.UNAVAILABLE, `no connection to ${target.peer} within ${ms} ms (connectTimeoutMs)`, {
          reason: "peer-gone",
        }),
      );
    }
  }, ms);
  timer.unref();
  prepared.life.defer({ [RELEASE]: () => clearTimeout(timer) });
}

/**
 * The call's one timer, for the idle and send deadlines. The total deadline
 * travels as the gRPC deadline, and grpc-js enforces it, unless it is too
 * far off to travel (see {@link grpcOptions}); then this timer enforces it.
 */
export function startTimer(prepared: ClientCall, receiver: ReceiveState | undefined): CallTimer {
  const { life, record, limits } = prepared;
  const deadline =
    prepared.deadline !== undefined && !sendsDeadline(prepared) ? prepared.deadline : Number.POSITIVE_INFINITY;
  const timer = new CallTimer(
    record,
    { idleTimeoutMs: limits.idleTimeoutMs, sendTimeoutMs: limits.sendTimeoutMs, deadline },
    receiver,
    life,
  );
  life.defer(timer);
  return timer;
}

/**
 * Whether the call's deadline travels as `grpc-timeout`. A grpc-js server
 * reads that header into a 32-bit integer of milliseconds, so one beyond
 * 2^31−1 ms (about 24.8 days) would wrap round and fail the call at once;
 * such a deadline stays on this side, where the call's timer enforces it, and
 * the server applies its own limits.
 */
export function sendsDeadline(prepared: ClientCall): boolean {
  return prepared.limits.timeoutMs <= MAX_TIMER_MS;
}

export function grpcOptions(prepared: ClientCall): { deadline?: number } {
  return prepared.deadline === undefined || !sendsDeadline(prepared) ? {} : { deadline: prepared.deadline };
}
