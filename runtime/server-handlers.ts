/**
 * Adapters from leaksafe implementations (promises and async iterables) to
 * grpc-js handlers (callbacks and Node streams), one per method kind.
 *
 * grpc-js catches only synchronous throws from a handler, so each adapter
 * routes a rejection to the call's status itself. grpc-js emits 'cancelled'
 * on every call end, so a call counts as cancelled only if it had not
 * already finished when the event came.
 */

import type { Readable, Writable } from "node:stream";
import type {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  ServerErrorResponse,
  sendUnaryData,
  UntypedHandleCall,
} from "@grpc/grpc-js";
import { CallLifecycle } from "./call-lifecycle.js";
import { Receiver } from "./receiver.js";
import type { CallRecord, Registry } from "./registry.js";
import { RpcError, Status } from "./rpc-error.js";
import { sendAll } from "./sender.js";
import { CallContext, type SurfaceCall } from "./server-context.js";
import type { MethodDescriptor } from "./service.js";

type Handler = (input: unknown, context: CallContext) => unknown;

/** Makes the grpc-js handler for one method of an implementation. */
export function adaptMethod(method: MethodDescriptor, handler: Handler, registry: Registry): UntypedHandleCall {
  switch (method.kind) {
    case "unary":
      return adaptUnary(method, handler, registry);
    case "server-streaming":
      return adaptServerStreaming(method, handler, registry);
    case "client-streaming":
      return adaptClientStreaming(method, handler, registry);
    case "bidi":
      return adaptBidi(method, handler, registry);
  }
}

/** Sets up the lifecycle, context and registry entry shared by every kind. */
function begin(method: MethodDescriptor, call: SurfaceCall, registry: Registry) {
  const life = new CallLifecycle();
  const context = new CallContext(call, life);
  const record = registry.open(method.path, method.kind, call.getPeer(), context.deadline?.getTime());
  life.defer(() => registry.close(record));
  call.once("cancelled", () => {
    life.fail(cancelledByPeer(context));
  });
  return { life, context, record };
}

function cancelledByPeer(context: CallContext): RpcError {
  const deadline = context.deadline;
  if (deadline !== undefined && deadline.getTime() <= Date.now()) {
    return new RpcError(Status.DEADLINE_EXCEEDED, "the call's deadline passed", { reason: "deadline" });
  }
  return new RpcError(Status.CANCELLED, "the client cancelled the call or went away", { reason: "peer-gone" });
}

/** The status a handler's error becomes: an RpcError's own, otherwise UNKNOWN with the message. */
function toStatus(error: unknown, context: CallContext): ServerErrorResponse {
  const e = RpcError.from(error);
  const metadata: Metadata = context.trailerIfAny() ?? e.metadata;
  if (context.trailerIfAny() !== undefined) {
    metadata.merge(e.metadata);
  }
  return Object.assign(new Error(e.details), { code: e.code, details: e.details, metadata });
}

function invoke(handler: Handler, input: unknown, context: CallContext): unknown {
  try {
    return handler(input, context);
  } catch (error) {
    return Promise.reject(error);
  }
}

function adaptUnary(method: MethodDescriptor, handler: Handler, registry: Registry): handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const { life, context } = begin(method, call, registry);
    respondOnce(invoke(handler, call.request, context), life, context, callback);
  };
}

function adaptClientStreaming(
  method: MethodDescriptor,
  handler: Handler,
  registry: Registry,
): handleClientStreamingCall<unknown, unknown> {
  return (call, callback) => {
    const { life, context, record } = begin(method, call, registry);
    const requests = receiveRequests(call, life, record);
    respondOnce(invoke(handler, requests, context), life, context, callback);
  };
}

function adaptServerStreaming(
  method: MethodDescriptor,
  handler: Handler,
  registry: Registry,
): handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const { life, context, record } = begin(method, call, registry);
    respondWith(call, invoke(handler, call.request, context), life, context, record);
  };
}

function adaptBidi(
  method: MethodDescriptor,
  handler: Handler,
  registry: Registry,
): handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    const { life, context, record } = begin(method, call, registry);
    const requests = receiveRequests(call, life, record);
    respondWith(call, invoke(handler, requests, context), life, context, record);
  };
}

/** Answers a unary-response call with the handler's result, unless the call already ended. */
function respondOnce(
  result: unknown,
  life: CallLifecycle,
  context: CallContext,
  callback: sendUnaryData<unknown>,
): void {
  Promise.resolve(result).then(
    (response) => {
      if (life.finish()) {
        context.sendHeader();
        callback(null, response, context.trailerIfAny());
      }
    },
    (error: unknown) => {
      if (life.fail(RpcError.from(error))) {
        context.sendHeader();
        callback(toStatus(error, context));
      }
    },
  );
}

/** The request stream a handler reads. Leaving it early does not end the call. */
function receiveRequests(call: SurfaceCall & Readable, life: CallLifecycle, record: CallRecord): Receiver<unknown> {
  return new Receiver(
    call,
    life,
    record,
    () => undefined,
    () => undefined,
    true,
  );
}

/** Pumps a handler's responses into the call, then ends it with a status. */
function respondWith(
  call: SurfaceCall & Writable,
  responses: unknown,
  life: CallLifecycle,
  context: CallContext,
  record: CallRecord,
): void {
  const fail = (error: unknown): void => {
    if (life.fail(RpcError.from(error))) {
      context.sendHeader();
      call.emit("error", toStatus(error, context));
    }
  };
  if (!isIterable(responses)) {
    fail(new RpcError(Status.INTERNAL, "the handler did not return an async iterable"));
    return;
  }
  sendAll(responses, call, life, record, () => context.sendHeader()).then(() => {
    if (life.finish()) {
      context.sendHeader();
      call.end(context.trailerIfAny());
    }
  }, fail);
}

function isIterable(value: unknown): value is AsyncIterable<unknown> | Iterable<unknown> {
  return typeof value === "object" && value !== null && (Symbol.asyncIterator in value || Symbol.iterator in value);
}
