/**
 * The four client call kinds over a grpc-js channel. Each call has one
 * CallLifecycle; its end releases the signal listener, the timer, the
 * registry entry and the stream listeners, and cancels the grpc-js call if
 * it failed on this side.
 */
import {
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ClientWritableStream,
  connectivityState,
  type ServiceError,
  type StatusObject,
} from "@grpc/grpc-js";
import { CallLifecycle, FAILED, RELEASE } from "./call-lifecycle.js";
import { type CallOptions, toMetadata } from "./call-options.js";
import { CallTimer, type ReceiveState } from "./call-timer.js";
import { CLIENT_DEADLINE_EARLY_MS, grpcJsLostConnection } from "./grpc-internals.js";
import { MAX_TIMER_MS, methodPolicy, type ResolvedLimits, resolveLimits, type StreamLimits } from "./limits.js";
import { Receiver, type ReceiverOwner } from "./receiver.js";
import { countIn, countOut, type LiveCall, type Registry } from "./registry.js";
import { checkStatus } from "./response-guard.js";
import { ResumingStream } from "./resume.js";
import { type ResolvedResume, resolveResume, type ServerStreamCallOptions } from "./resume-policy.js";
import { messageOf, RpcError, Status } from "./rpc-error.js";
import { sendAll } from "./sender.js";
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
}

/** Something in flight on a client, which `close()` ends with `error`. */
export interface InFlight {
  end(error: RpcError): void;
}

/** What a call made after `close()` fails with. It opened nothing, so it has nothing to release. */
function clientClosed(method: MethodDescriptor): RpcError {
  return new RpcError(Status.FAILED_PRECONDITION, `the client is closed; ${method.path} was not called`, {
    reason: "cancelled",
  });
}

/** What `close()` ends each call in flight with. */
export function closedInFlight(): RpcError {
  return new RpcError(Status.CANCELLED, "the client was closed while the call was in flight", {
    reason: "cancelled",
  });
}

/**
 * One client call's own state: its lifecycle, its registry entry, its limits
 * and, for a call with a response stream, how far that stream got. It is
 * also the call's cleanup and failure hook, so a long-lived call holds one
 * object here instead of a closure per concern.
 */
class ClientCall implements ReceiverOwner, InFlight {
  readonly life = new CallLifecycle();
  readonly record: LiveCall;
  readonly deadline: number | undefined;
  /** The grpc-js call with a response stream, once started; cancelled if the call fails. */
  stream: { cancel(): void } | undefined;
  private statusOk = false;
  private drained = false;

  constructor(
    private readonly target: ChannelCall,
    method: MethodDescriptor,
    readonly limits: ResolvedLimits,
  ) {
    this.deadline = limits.timeoutMs > 0 ? Date.now() + limits.timeoutMs : undefined;
    this.record = target.registry.open(method.path, method.kind, target.peer, this.deadline);
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
 */
function prepare(target: ChannelCall, method: MethodDescriptor, options: CallOptions): ClientCall | RpcError {
  if (target.closed) {
    return clientClosed(method);
  }
  const limits = resolveLimits(method.kind !== "unary", options, methodPolicy(method), target.defaults);
  const prepared = new ClientCall(target, method, limits);
  if (options.signal !== undefined) {
    prepared.life.follow(options.signal, aborted);
  }
  return prepared;
}

/**
 * The call's one timer, for the idle and send deadlines. The total deadline
 * travels as the gRPC deadline, and grpc-js enforces it, unless it is too
 * far off to travel (see {@link grpcOptions}); then this timer enforces it.
 */
function startTimer(prepared: ClientCall, receiver: ReceiveState | undefined): CallTimer {
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

function aborted(signal: AbortSignal): RpcError {
  return new RpcError(Status.CANCELLED, "the call was aborted by its AbortSignal", {
    reason: "cancelled",
    cause: signal.reason,
  });
}

/**
 * The RpcError for a status the channel reported. The status is checked
 * again here, for one that a user's interceptor made up. grpc-js reports a
 * lost connection as a status it made up itself (`grpcJsLostConnection`,
 * grpc-internals.ts, knows its words): such a status means the peer went
 * away, not that it answered.
 */
function fromStatus(reported: ServiceError, deadline: number | undefined): RpcError {
  const error = checkStatus(reported);
  let reason: RpcError["reason"] = "remote";
  if (
    error.code === Status.DEADLINE_EXCEEDED &&
    deadline !== undefined &&
    Date.now() >= deadline - CLIENT_DEADLINE_EARLY_MS
  ) {
    reason = "deadline";
  } else if (
    (error.code === Status.UNAVAILABLE || error.code === Status.INTERNAL || error.code === Status.CANCELLED) &&
    grpcJsLostConnection(error.details)
  ) {
    reason = "peer-gone";
  }
  return new RpcError(error.code, error.details, { metadata: error.metadata, reason, cause: reported });
}

/**
 * Whether the call's deadline travels as `grpc-timeout`. A grpc-js server
 * reads that header into a 32-bit integer of milliseconds, so one beyond
 * 2^31−1 ms (about 24.8 days) would wrap round and fail the call at once;
 * such a deadline stays on this side, where the call's timer enforces it, and
 * the server applies its own limits.
 */
function sendsDeadline(prepared: ClientCall): boolean {
  return prepared.limits.timeoutMs <= MAX_TIMER_MS;
}

function grpcOptions(prepared: ClientCall): { deadline?: number } {
  return prepared.deadline === undefined || !sendsDeadline(prepared) ? {} : { deadline: prepared.deadline };
}

function observe(call: NodeJS.EventEmitter, options: CallOptions): void {
  const { onHeader, onTrailer } = options;
  if (onHeader !== undefined) {
    call.on("metadata", onHeader);
  }
  if (onTrailer !== undefined) {
    call.on("status", (status: StatusObject) => onTrailer(status.metadata));
  }
}

/** The grpc-js callback of a call with one response: it ends the call's lifecycle. */
function settle<Res>(
  { life, record, deadline }: ClientCall,
  resolve: (response: Res) => void,
): (error: ServiceError | null, response?: Res) => void {
  return (error, response) => {
    if (error !== null) {
      life.fail(fromStatus(error, deadline));
    } else {
      countIn(record, response);
      if (life.finish()) {
        resolve(response as Res);
      }
    }
  };
}

/**
 * A call with one response (unary or client streaming): `start` makes the
 * grpc-js call with the callback that settles it; `then` runs once it exists.
 */
function singleResponse<Res, C extends NodeJS.EventEmitter & { cancel(): void }>(
  prepared: ClientCall | RpcError,
  options: CallOptions,
  start: (prepared: ClientCall, callback: (error: ServiceError | null, response?: Res) => void) => C,
  then?: (call: C, prepared: ClientCall) => void,
): Promise<Res> {
  if (prepared instanceof RpcError) {
    return Promise.reject(prepared);
  }
  const { life } = prepared;
  return new Promise<Res>((resolve, reject) => {
    if (life.failure !== undefined) {
      reject(life.failure);
      return;
    }
    let call: C;
    try {
      call = start(prepared, settle(prepared, resolve));
    } catch (thrown) {
      reject(prepared.startFailed(thrown));
      return;
    }
    observe(call, options);
    life.onFail((failure) => {
      call.cancel();
      reject(failure);
    });
    then?.(call, prepared);
  });
}

export function callUnary<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  request: Req,
  options: CallOptions = {},
): Promise<Res> {
  return singleResponse<Res, ClientUnaryCall>(
    prepare(target, method, options),
    options,
    (prepared, callback) => {
      countOut(prepared.record, request);
      return target.channel.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        toMetadata(options.metadata),
        grpcOptions(prepared),
        callback,
      );
    },
    (_call, prepared) => {
      if (!sendsDeadline(prepared)) {
        startTimer(prepared, undefined);
      }
    },
  );
}

export function callClientStream<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  requests: AsyncIterable<Req> | Iterable<Req>,
  options: CallOptions = {},
): Promise<Res> {
  return singleResponse<Res, ClientWritableStream<Req>>(
    prepare(target, method, options),
    options,
    (prepared, callback) =>
      target.channel.makeClientStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        toMetadata(options.metadata),
        grpcOptions(prepared),
        callback,
      ),
    (call, prepared) => {
      const { life, record } = prepared;
      const timer = startTimer(prepared, undefined);
      sendAll(requests, call, { life, record, timer }).then(
        () => call.end(),
        (error: unknown) => life.fail(requestsFailed(error)),
      );
    },
  );
}

export function callServerStream<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  request: Req,
  options: ServerStreamCallOptions<Req, Res> = {},
): AsyncIterable<Res> {
  if (options.resume === false || (options.resume === undefined && method.resume === undefined)) {
    return serverStreamOnce(target, method, request, options);
  }
  return startOnFirstRead((): AsyncIterator<Res> => {
    const settings = resolveResume(options.resume, method.resume);
    const { timeoutMs } = resolveLimits(true, options, methodPolicy(method), target.defaults);
    const attempt = (next: Req, attemptOptions: CallOptions): AsyncIterable<Res> =>
      serverStreamOnce(target, method, next, attemptOptions);
    return new ResumingStream(request, {
      attempt,
      settings: settings as ResolvedResume<Req, Res>,
      options: { ...options, timeoutMs },
      method: method.path,
      peer: target.peer,
      hook: target.registry.onRetry,
      inFlight: target.inFlight,
    });
  });
}

function serverStreamOnce<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  request: Req,
  options: CallOptions,
): AsyncIterable<Res> {
  return startOnFirstRead((): AsyncIterator<Res> => {
    const prepared = prepare(target, method, options);
    if (prepared instanceof RpcError) {
      return failed(prepared);
    }
    if (prepared.life.failure !== undefined) {
      return failed(prepared.life.failure);
    }
    countOut(prepared.record, request);
    let call: ClientReadableStream<Res>;
    try {
      call = target.channel.makeServerStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        toMetadata(options.metadata),
        grpcOptions(prepared),
      );
    } catch (thrown) {
      return failed(prepared.startFailed(thrown));
    }
    const responses = receiveResponses(call, prepared, options);
    startTimer(prepared, responses as Receiver<unknown>);
    return responses;
  });
}

export function callBidi<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  requests: AsyncIterable<Req> | Iterable<Req>,
  options: CallOptions = {},
): AsyncIterable<Res> {
  return startOnFirstRead((): AsyncIterator<Res> => {
    const prepared = prepare(target, method, options);
    if (prepared instanceof RpcError) {
      return failed(prepared);
    }
    const { life, record } = prepared;
    if (life.failure !== undefined) {
      return failed(life.failure);
    }
    let call: ClientDuplexStream<Req, Res>;
    try {
      call = target.channel.makeBidiStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        toMetadata(options.metadata),
        grpcOptions(prepared),
      );
    } catch (thrown) {
      return failed(prepared.startFailed(thrown));
    }
    const responses = receiveResponses(call, prepared, options);
    const timer = startTimer(prepared, responses as Receiver<unknown>);
    sendAll(requests, call, { life, record, timer }).then(
      () => call.end(),
      (error: unknown) => life.fail(requestsFailed(error)),
    );
    return responses;
  });
}

/** The response side of a server-streaming or bidi call. */
function receiveResponses<Res>(
  call: ClientReadableStream<Res> | ClientDuplexStream<unknown, Res>,
  prepared: ClientCall,
  options: CallOptions,
): Receiver<Res> {
  prepared.stream = call;
  // These two stay attached after the call ends: grpc-js may still report
  // the cancellation we asked for, and an 'error' with no listener throws.
  call.on("error", (error: ServiceError) => prepared.life.fail(fromStatus(error, prepared.deadline)));
  call.on("status", (status: StatusObject) => {
    if (status.code === Status.OK) {
      prepared.statusArrived();
    }
  });
  observe(call, options);
  return new Receiver<Res>(call, prepared.life, prepared.record, prepared);
}

function requestsFailed(error: unknown): RpcError {
  if (error instanceof RpcError) {
    return error;
  }
  return new RpcError(Status.CANCELLED, `the request stream failed: ${messageOf(error)}`, {
    reason: "cancelled",
    cause: error,
  });
}

/**
 * An iterable that starts its call on the first `next()`, so one that is
 * never read sends nothing and holds nothing. It can be iterated once.
 */
class LazyStream<T> implements AsyncIterable<T>, AsyncIterator<T> {
  private used = false;
  private closed = false;
  private inner: AsyncIterator<T> | undefined;

  constructor(private readonly start: () => AsyncIterator<T>) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.used) {
      throw new TypeError("a leaksafe stream can be iterated only once; make another call to read again");
    }
    this.used = true;
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.closed) {
      return Promise.resolve({ value: undefined, done: true });
    }
    this.inner ??= this.start();
    return this.inner.next();
  }

  return(): Promise<IteratorResult<T>> {
    this.closed = true;
    return this.inner?.return?.() ?? Promise.resolve({ value: undefined, done: true });
  }
}

function startOnFirstRead<T>(start: () => AsyncIterator<T>): AsyncIterable<T> {
  return new LazyStream(start);
}

function failed<T>(error: RpcError): AsyncIterator<T> {
  let thrown = false;
  return {
    next(): Promise<IteratorResult<T>> {
      if (thrown) {
        return Promise.resolve({ value: undefined, done: true });
      }
      thrown = true;
      return Promise.reject(error);
    },
  };
}
