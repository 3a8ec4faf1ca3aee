import type { Http2Stream } from "node:http2";
import {
  type ServerInterceptingCall,
  ServerInterceptingCall as ServerInterceptingCallClass,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  ServerListenerBuilder,
} from "@grpc/grpc-js";
import type { ResolvedLimits } from "./limits.js";
import { RpcError, Status } from "./rpc-error.js";
import {
  cancelledByPeer,
  type OpenedCall,
  openCall,
  refuseIfStopping,
  type ServerScope,
  startCallTimer,
} from "./server-open.js";
import { findHttp2Stream, releaseAfterStatus } from "./server-reset.js";
import { clientDeadline } from "./server-sessions.js";
import type { MethodDescriptor } from "./service.js";

/** What the wait needs to know about one served method. */
export interface WaitSetup {
  method: MethodDescriptor;
  limits: ResolvedLimits;
}

/** A call opened at its HEADERS, waiting for its request; the handler's adapter takes it over. */
export interface WaitingCall extends OpenedCall {
  /** The adapter takes the call over; the wait's timer goes on as the call's own (no longer counting idleness). */
  takeOver(): void;
}

/**
 * The call waiting on an HTTP/2 stream, set on the stream itself: an
 * interceptor may hand the handler other metadata, but never another
 * stream, and a property costs less than a WeakMap entry, which the garbage
 * collector pays for on every call.
 */
const WAITING = Symbol("leaksafe.waiting");
type Handing = Http2Stream & { [WAITING]?: WaitingCall | undefined };

/**
 * The wait before a unary or server-streaming handler runs.
 *
 * grpc-js calls such a handler only when the request's END_STREAM has come,
 * so until then no limit of the handler's can run: a peer that sends HEADERS
 * alone, or its message without END_STREAM, would hold the stream for ever,
 * and `activeStreams()` would not show it. This server interceptor, the
 * innermost, opens the call at its HEADERS instead. Its registry entry, its
 * total deadline and its idle deadline (until the request is whole) start
 * there; if one passes first, the call ends with DEADLINE_EXCEEDED and the
 * handler never runs. The adapter takes the call over when the handler runs.
 * Methods whose handler runs at the HEADERS (client and bidi streaming) pass
 * through untouched.
 */
export class RequestWaits {
  /** Served methods by path; `server.add` fills it. */
  readonly methods = new Map<string, WaitSetup>();

  constructor(private readonly scope: ServerScope) {}

  /** The call this handler's call belongs to, if this wait opened it. */
  take(call: object): WaitingCall | undefined {
    const stream = findHttp2Stream(call) as Handing | undefined;
    const waiting = stream?.[WAITING];
    if (stream !== undefined && waiting !== undefined) {
      stream[WAITING] = undefined;
      waiting.takeOver();
    }
    return waiting;
  }

  readonly interceptor: ServerInterceptor = (descriptor, call) => {
    const setup = descriptor.requestStream ? undefined : this.methods.get(descriptor.path);
    const stream = setup === undefined ? undefined : (findHttp2Stream(call) as Handing | undefined);
    if (setup === undefined || stream === undefined) {
      // Adds no layer: grpc-js only uses the interface.
      return call as ServerInterceptingCall;
    }
    return this.wrap(setup, call, stream);
  };

  private wrap(setup: WaitSetup, call: ServerInterceptingCallInterface, stream: Handing): ServerInterceptingCall {
    let waiting: WaitingCall | undefined;
    let handedOver = false;
    let halfClosed = false;
    const open = (): WaitingCall => {
      const opened = openCall(this.scope, setup.method, call.getPeer(), clientDeadline(call), setup.limits);
      const { life } = opened;
      const receive = {
        get receiving() {
          return !halfClosed;
        },
        buffered: false,
      };
      const timer = startCallTimer(opened, setup.limits, receive);
      life.onFail((error) => {
        stream[WAITING] = undefined;
        if (!handedOver) {
          call.sendStatus({ code: error.code, details: error.details, metadata: error.metadata });
          if (this.scope.stopping === undefined) {
            releaseAfterStatus(call); // shutdown closes every session itself
          }
        }
      });
      refuseIfStopping(this.scope, opened);
      return {
        ...opened,
        timer,
        takeOver() {
          handedOver = true;
        },
      };
    };
    const ended = (): boolean => waiting === undefined || waiting.life.ended;
    return new ServerInterceptingCallClass(call, {
      start: (next) => {
        next(
          new ServerListenerBuilder()
            .withOnReceiveMetadata((metadata, pass) => {
              waiting = open();
              if (!waiting.life.ended) {
                stream[WAITING] = waiting;
                pass(metadata);
              }
            })
            .withOnReceiveMessage((message, pass) => {
              if (!ended()) {
                (waiting as WaitingCall).record.lastMessageInAt = Date.now();
                pass(message);
              }
            })
            .withOnReceiveHalfClose((pass) => {
              halfClosed = true;
              if (!ended()) {
                pass();
              }
            })
            .withOnCancel(() => {
              if (waiting !== undefined && !handedOver && !waiting.life.ended) {
                waiting.life.fail(cancelledByPeer(waiting.deadline));
              }
            })
            .build(),
        );
      },
      sendStatus: (status, pass) => {
        // grpc-js or another interceptor answered before the handler ran.
        if (waiting !== undefined && !handedOver && !waiting.life.ended) {
          handedOver = true;
          if (status.code === Status.OK) {
            waiting.life.finish();
          } else {
            waiting.life.fail(new RpcError(status.code, status.details ?? ""));
          }
        }
        pass(status);
      },
    });
  }
}
