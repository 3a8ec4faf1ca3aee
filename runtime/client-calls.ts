/**
 * The four client call kinds over a grpc-js channel. Each call has one
 * CallLifecycle; its end releases the signal listener, the timer, the
 * registry entry and the stream listeners, and cancels the grpc-js call if
 * it failed on this side.
 */
import type {
  Client,
  ClientDuplexStream,
  ClientReadableStream,
  ClientUnaryCall,
  ClientWritableStream,
  ServiceError,
  StatusObject,
} from "@grpc/grpc-js";
import { CallLifecycle, FAILED, RELEASE } from "./call-lifecycle.js";
import { type CallOptions, toMetadata } from "./call-options.js";
import { CallTimer, type ReceiveState } from "./call-timer.js";
import { methodPolicy, type ResolvedLimits, resolveLimits, type StreamLimits } from "./limits.js";
import { Receiver, type ReceiverOwner } from "./receiver.js";
import { countIn, countOut, type LiveCall, type Registry } from "./registry.js";
import { resumeStream } from "./resume.js";
import { type ResolvedResume, resolveResume, type ServerStreamCallOptions } from "./resume-policy.js";
import { RpcError, Status } from "./rpc-error.js";
import { sendAll } from "./sender.js";
import type { MethodDescriptor } from "./service.js";

/** What a client's calls share: the channel, its registry and its default limits. */
export interface ChannelCall {
  channel: Client;
  registry: Registry;
  peer: string;
  defaults: StreamLimits | undefined;
}

/**
 * One client call's own state: its lifecycle, its registry entry, its limits
 * and, for a call with a response stream, how far that stream got. It is
 * also the call's cleanup and failure hook, so a long-lived call holds one
 * object here instead of a closure per concern.
 */
class ClientCall implements ReceiverOwner {
  readonly life = new CallLifecycle();
  readonly record: LiveCall;
  readonly deadline: number | undefined;
  /** The grpc-js call with a response stream, once started; cancelled if the call fails. */
  stream: { cancel(): void } | undefined;
  private statusOk = false;
  private drained = false;

  constructor(
    private readonly registry: Registry,
    method: MethodDescriptor,
    peer: string,
    readonly limits: ResolvedLimits,
  ) {
    this.deadline = limits.timeoutMs > 0 ? Date.now() + limits.timeoutMs : undefined;
    this.record = registry.open(method.path, method.kind, peer, this.deadline);
    this.life.defer(this);
    this.life.onFail(this);
  }

  /** The call ended: leave the registry. */
  [RELEASE](): void {
    this.registry.close(this.record, this.life.failure);
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

function prepare(target: ChannelCall, method: MethodDescriptor, options: CallOptions): ClientCall {
  const limits = resolveLimits(method.kind !== "unary", options, methodPolicy(method), target.defaults);
  const prepared = new ClientCall(target.registry, method, target.peer, limits);
  if (options.signal !== undefined) {
    prepared.life.follow(options.signal, aborted);
  }
  return prepared;
}

/** The call's one timer, for the idle and send deadlines; the total one travels as the gRPC deadline. */
function startTimer(prepared: ClientCall, receiver: ReceiveState | undefined): CallTimer {
  const { life, record, limits } = prepared;
  const timer = new CallTimer(
    record,
    { idleTimeoutMs: limits.idleTimeoutMs, sendTimeoutMs: limits.sendTimeoutMs, deadline: Number.POSITIVE_INFINITY },
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
 * grpc-js reports a lost connection as a status it made up itself; these are
 * its words for it. Such a status means the peer went away, not that it
 * answered.
 */
const CONNECTION_LOST =
  /Connection dropped|ECONNRESET|ECONNREFUSED|EPIPE|Received RST_STREAM|socket hang up|GOAWAY|Call cancelled|Stream refused/i;

/** The RpcError for a status the channel reported. */
function fromStatus(error: ServiceError, deadline: number | undefined): RpcError {
  let reason: RpcError["reason"] = "remote";
  if (error.code === Status.DEADLINE_EXCEEDED && deadline !== undefined && Date.now() >= deadline - 5) {
    reason = "deadline";
  } else if (
    (error.code === Status.UNAVAILABLE || error.code === Status.INTERNAL || error.code === Status.CANCELLED) &&
    CONNECTION_LOST.test(error.details)
  ) {
    reason = "peer-gone";
  }
  return new RpcError(error.code, error.details, { metadata: error.metadata, reason, cause: error });
}

function grpcOptions(prepared: ClientCall): { deadline?: number } {
  return prepared.deadline === undefined ? {} : { deadline: prepared.deadline };
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
  prepared: ClientCall,
  options: CallOptions,
  start: (callback: (error: ServiceError | null, response?: Res) => void) => C,
  then?: (call: C) => void,
): Promise<Res> {
  const { life } = prepared;
  return new Promise<Res>((resolve, reject) => {
    if (life.failure !== undefined) {
      reject(life.failure);
      return;
    }
    const call = start(settle(prepared, resolve));
    observe(call, options);
    life.onFail((failure) => {
      call.cancel();
      reject(failure);
    });
    then?.(call);
  });
}

export function callUnary<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  request: Req,
  options: CallOptions = {},
): Promise<Res> {
  const prepared = prepare(target, method, options);
  return singleResponse<Res, ClientUnaryCall>(prepared, options, (callback) => {
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
  });
}

export function callClientStream<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  requests: AsyncIterable<Req> | Iterable<Req>,
  options: CallOptions = {},
): Promise<Res> {
  const prepared = prepare(target, method, options);
  const { life, record } = prepared;
  return singleResponse<Res, ClientWritableStream<Req>>(
    prepared,
    options,
    (callback) =>
      target.channel.makeClientStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        toMetadata(options.metadata),
        grpcOptions(prepared),
        callback,
      ),
    (call) => {
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
    return resumeStream(request, {
      attempt,
      settings: settings as ResolvedResume<Req, Res>,
      options: { ...options, timeoutMs },
      method: method.path,
      peer: target.peer,
      hook: target.registry.onRetry,
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
    if (prepared.life.failure !== undefined) {
      return failed(prepared.life.failure);
    }
    countOut(prepared.record, request);
    const call = target.channel.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      toMetadata(options.metadata),
      grpcOptions(prepared),
    );
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
    const { life, record } = prepared;
    if (life.failure !== undefined) {
      return failed(life.failure);
    }
    const call: ClientDuplexStream<Req, Res> = target.channel.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      toMetadata(options.metadata),
      grpcOptions(prepared),
    );
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
  const message = error instanceof Error ? error.message : String(error);
  return new RpcError(Status.CANCELLED, `the request stream failed: ${message}`, { reason: "cancelled", cause: error });
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
