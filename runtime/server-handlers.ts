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
  ServerErrorResponse,
  sendUnaryData,
  UntypedHandleCall,
} from "@grpc/grpc-js";
import type { CallTimer } from "./call-timer.js";
import { confirmEndOfStream } from "./end-barrier.js";
import { findHttp2Stream, sendStatusByError } from "./grpc-internals.js";
import { type ConfirmableEnd, confirmAfterDelay, NO_OWNER, Receiver } from "./receiver.js";
import { countIn, countOut } from "./registry.js";
import { RpcError, Status } from "./rpc-error.js";
import { sendAll } from "./sender.js";
import { CallContext, type SurfaceCall } from "./server-context.js";
import {
  cancelledByPeer,
  type OpenedCall,
  openCall,
  refuseIfStopping,
  type ServerCallLimits,
  type ServerScope,
  startCallTimer,
} from "./server-open.js";
import { releaseAfterStatus, requestCutShort, resetStream } from "./server-reset.js";
import { clientDeadline } from "./server-sessions.js";
import type { MethodDescriptor } from "./service.js";
import { withStatusDetails } from "./status-details.js";

type Handler = (input: unknown, context: CallContext) => unknown;

/** Makes the grpc-js handler for one method of an implementation. */
export function adaptMethod(
  method: MethodDescriptor,
  handler: Handler,
  limits: ServerCallLimits,
  scope: ServerScope,
): UntypedHandleCall {
  const setup: Setup = { method, handler, limits, scope };
  switch (method.kind) {
    case "unary":
      return adaptUnary(setup);
    case "server-streaming":
      return adaptServerStreaming(setup);
    case "client-streaming":
      return adaptClientStreaming(setup);
    case "bidi":
      return adaptBidi(setup);
  }
}

interface Setup {
  method: MethodDescriptor;
  handler: Handler;
  limits: ServerCallLimits;
  scope: ServerScope;
}

interface Begun extends OpenedCall {
  context: CallContext;
}

/**
 * Sets up what every kind shares: the lifecycle, the context, the registry
 * entry and the status a failure on this side sends. `end` sends it. A unary
 * or server-streaming call was opened at its HEADERS (request-wait.ts), and
 * is taken over here.
 */
function begin(setup: Setup, call: SurfaceCall, end: (status: ServerErrorResponse, error: RpcError) => void): Begun {
  const { method, limits, scope } = setup;
  // Only a call without a request stream waits for its request (request-wait.ts).
  const singleRequest = method.kind === "unary" || method.kind === "server-streaming";
  const opened =
    (singleRequest ? scope.takeWaiting(call) : undefined) ??
    openCall(scope, method, call.getPeer(), clientDeadline(call), limits, call.metadata, call);
  const { life, record, deadline, timer, stream } = opened;
  const context = new CallContext(call, life);
  let over = false;
  // grpc-js emits 'cancelled' once, at the end of every call, so a call
  // that has ended pays for no error (an RpcError captures a stack). `on`,
  // not `once`, which costs a wrapper per call.
  call.on("cancelled", () => {
    over = true;
    if (!life.ended) {
      life.fail(cancelledByPeer(deadline));
    }
  });
  life.onFail((error) => {
    if (!over) {
      context.sendHeader();
      end(toStatus(error, context), error);
      // A peer still sending would hold the stream open; shutdown closes every session itself.
      if (!singleRequest && scope.stopping === undefined) {
        releaseAfterStatus(call);
      }
    }
  });
  refuseIfStopping(scope, opened);
  return { life, context, record, deadline, timer, stream };
}

/**
 * The status an error becomes: an RpcError's own, otherwise UNKNOWN with the
 * message. Its `statusDetails`, if any, go in `grpc-status-details-bin`
 * (see withStatusDetails).
 */
function toStatus(error: RpcError, context: CallContext): ServerErrorResponse {
  const trailer = context.trailerIfAny();
  const merged = trailer ?? error.metadata;
  if (trailer !== undefined) {
    merged.merge(error.metadata);
  }
  const { metadata, message } = withStatusDetails(merged, error.code, error.details, error.statusDetails);
  return Object.assign(new Error(message), { code: error.code, details: message, metadata });
}

function invoke(handler: Handler, input: unknown, context: CallContext): unknown {
  try {
    return handler(input, context);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The call's one timer, unless the request wait already started it. */
function startTimer(setup: Setup, begun: Begun, requests: Receiver<unknown> | undefined): void {
  begun.timer ??= startCallTimer(begun, setup.limits, requests);
}

function adaptUnary(setup: Setup): handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const reply = new UnaryReply(call, callback);
    const begun = begin(setup, call, reply.fail);
    if (begun.life.ended) return;
    countIn(begun.record, call.request);
    startTimer(setup, begun, undefined);
    respondOnce(invoke(setup.handler, call.request, begun.context), begun, reply);
  };
}

function adaptClientStreaming(setup: Setup): handleClientStreamingCall<unknown, unknown> {
  return (call, callback) => {
    const reply = new UnaryReply(call, callback);
    const begun = begin(setup, call, reply.fail);
    if (begun.life.ended) return;
    const requests = receiveRequests(call, begun);
    startTimer(setup, begun, requests);
    respondOnce(invoke(setup.handler, requests, begun.context), begun, reply);
  };
}

function adaptServerStreaming(setup: Setup): handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const begun = begin(setup, call, endStream(call));
    if (begun.life.ended) return;
    countIn(begun.record, call.request);
    startTimer(setup, begun, undefined);
    respondWith(call, invoke(setup.handler, call.request, begun.context), begun);
  };
}

function adaptBidi(setup: Setup): handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    const begun = begin(setup, call, endStream(call));
    if (begun.life.ended) return;
    const requests = receiveRequests(call, begun);
    startTimer(setup, begun, requests);
    respondWith(call, invoke(setup.handler, requests, begun.context), begun);
  };
}

/**
 * Ends a streaming call with an error status. grpc-js sends the status only
 * after the messages already queued; if the peer stopped taking them, the
 * HTTP/2 stream is reset instead, so nothing waits on that peer.
 */
function endStream(call: SurfaceCall & Writable): (status: ServerErrorResponse, error: RpcError) => void {
  return (status, error) => {
    if (error.reason === "send-timeout" || call.writableNeedDrain) {
      resetStream(call);
    } else {
      sendStatusByError(call, status);
    }
  };
}

/**
 * How a unary-response call answers: through grpc-js's callback until the
 * response is handed over; after that, a failure can only reset the stream,
 * since grpc-js already holds the status.
 */
class UnaryReply {
  private sent = false;

  constructor(
    readonly call: SurfaceCall,
    private readonly callback: sendUnaryData<unknown>,
  ) {}

  readonly fail = (status: ServerErrorResponse): void => {
    if (this.sent) {
      resetStream(this.call);
    } else {
      this.callback(status);
    }
  };

  send(response: unknown, trailer: ReturnType<CallContext["trailerIfAny"]>): void {
    this.sent = true;
    this.callback(null, response, trailer);
  }
}

/**
 * Answers a unary-response call with the handler's result, unless the call
 * already ended. The call stays open, in the registry and under its total
 * and send deadlines, until the peer has taken the response's last byte:
 * grpc-js asks for the trailers ('wantTrailers') only then. A peer that
 * grants no flow-control window has the stream reset when a deadline passes.
 */
function respondOnce(result: unknown, begun: Begun, reply: UnaryReply): void {
  const { life, context, record } = begun;
  Promise.resolve(result).then(
    (response) => {
      if (life.ended) {
        return;
      }
      countOut(record, response);
      context.sendHeader();
      reply.send(response, context.trailerIfAny());
      const stream = begun.stream ?? findHttp2Stream(reply.call);
      if (stream === undefined || stream.closed) {
        life.finish();
        return;
      }
      stream.once("wantTrailers", () => life.finish());
      record.sendBlockedSince = Date.now();
      begun.timer?.sendBlocked();
    },
    (error: unknown) => life.fail(RpcError.from(error)),
  );
}

/**
 * The request stream a handler reads. Leaving it early does not end the call.
 * Its end is reported only once proven not to be a cancelling client's
 * END_STREAM (see end-barrier.ts).
 */
function receiveRequests(call: SurfaceCall & Readable, { life, record }: Begun): Receiver<unknown> {
  const confirm = (receiver: ConfirmableEnd): void => {
    const cut = requestCutShort(call);
    if (cut !== undefined) {
      life.fail(new RpcError(Status.INTERNAL, cut));
      return;
    }
    confirmEndOfStream(
      call,
      () => receiver.endConfirmed(),
      () => confirmAfterDelay(receiver),
    );
  };
  return new Receiver(call, life, record, NO_OWNER, confirm);
}

/** Pumps a handler's responses into the call, then ends it with a status. */
function respondWith(call: SurfaceCall & Writable, responses: unknown, begun: Begun): void {
  const { life, context, record, timer } = begun;
  if (!isIterable(responses)) {
    Promise.resolve(responses).then(
      () => life.fail(new RpcError(Status.INTERNAL, "the handler did not return an async iterable")),
      (error: unknown) => life.fail(RpcError.from(error)),
    );
    return;
  }
  sendAll(responses, call, {
    life,
    record,
    timer: timer as CallTimer,
    beforeFirstWrite: () => context.sendHeader(),
  }).then(
    () => {
      if (life.finish()) {
        context.sendHeader();
        call.end(context.trailerIfAny());
      }
    },
    (error: unknown) => life.fail(RpcError.from(error)),
  );
}

function isIterable(value: unknown): value is AsyncIterable<unknown> | Iterable<unknown> {
  return typeof value === "object" && value !== null && (Symbol.asyncIterator in value || Symbol.iterator in value);
}
