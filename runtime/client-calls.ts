/**
 * The four client call kinds over a grpc-js channel: unary and client
 * streaming settle a promise; server streaming and bidi return a stream
 * that starts on its first read. Each call is one ClientCall
 * (client-call.ts), and a status grpc-js reports becomes an RpcError in
 * client-status.ts.
 */
import type {
  ClientDuplexStream,
  ClientReadableStream,
  ClientUnaryCall,
  ClientWritableStream,
  ServiceError,
  StatusObject,
} from "@grpc/grpc-js";
import type { CallOptions } from "./call-options.js";
import { type ChannelCall, type ClientCall, grpcOptions, prepare, sendsDeadline, startTimer } from "./client-call.js";
import { fromStatus, requestsFailed } from "./client-status.js";
import { failed, startOnFirstRead } from "./lazy-stream.js";
import { resolveLimits } from "./limits.js";
import { Receiver } from "./receiver.js";
import { countIn, countOut, type LiveCall } from "./registry.js";
import { ResumingStream } from "./resume.js";
import { type ResolvedResume, resolveResume, type ServerStreamCallOptions } from "./resume-policy.js";
import { RpcError, Status } from "./rpc-error.js";
import { sendAll } from "./sender.js";
import type { MethodDescriptor } from "./service.js";

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
function singleResponse<Res, C extends NodeJS.EventEmitter & { cancel(): void; getPeer(): string }>(
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
    prepared.record.peerSource = call;
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
        prepared.serialize,
        prepared.deserialize,
        request,
        prepared.metadata,
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
        prepared.serialize,
        prepared.deserialize,
        prepared.metadata,
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
    const { timeoutMs } = resolveLimits(true, options, method.policy, target.defaults);
    let last: LiveCall | undefined;
    const attempt = (next: Req, attemptOptions: CallOptions, number: number): AsyncIterable<Res> =>
      serverStreamOnce(target, method, next, attemptOptions, number, (record) => {
        last = record;
      });
    return new ResumingStream(request, {
      attempt,
      settings: settings as ResolvedResume<Req, Res>,
      options: { ...options, timeoutMs },
      method: method.path,
      // The registry sets an ended attempt's peer to the address it was on.
      peer: () => last?.peer ?? target.peer,
      hook: target.registry.onRetry,
      onEnd: target.registry.hooks.onResumedEnd,
      inFlight: target.inFlight,
    });
  });
}

function serverStreamOnce<Req, Res>(
  target: ChannelCall,
  method: MethodDescriptor<Req, Res>,
  request: Req,
  options: CallOptions,
  attempt?: number,
  opened?: (record: LiveCall) => void,
): AsyncIterable<Res> {
  return startOnFirstRead((): AsyncIterator<Res> => {
    const prepared = prepare(target, method, options, attempt);
    if (prepared instanceof RpcError) {
      return failed(prepared);
    }
    opened?.(prepared.record);
    if (prepared.life.failure !== undefined) {
      return failed(prepared.life.failure);
    }
    countOut(prepared.record, request);
    let call: ClientReadableStream<Res>;
    try {
      call = target.channel.makeServerStreamRequest(
        method.path,
        prepared.serialize,
        prepared.deserialize,
        request,
        prepared.metadata,
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
        prepared.serialize,
        prepared.deserialize,
        prepared.metadata,
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
  prepared.record.peerSource = call;
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
