import type { Http2Stream } from "node:http2";
import type {
  Metadata,
  ServerInterceptingCall,
  ServerInterceptingCallInterface,
  ServerInterceptor,
} from "@grpc/grpc-js";
import { type CallLifecycle, FAILED } from "./call-lifecycle.js";
import type { CallTimer, ReceiveState } from "./call-timer.js";
import { findHttp2Stream } from "./grpc-internals.js";
import type { LiveCall } from "./registry.js";
import { RpcError, Status } from "./rpc-error.js";
import {
  cancelledByPeer,
  type OpenedCall,
  openCall,
  refuseIfStopping,
  type ServerCallLimits,
  type ServerScope,
  startCallTimer,
} from "./server-open.js";
import { releaseAfterStatus } from "./server-reset.js";
import { clientDeadline } from "./server-sessions.js";
import type { MethodDescriptor } from "./service.js";

/** The listener a grpc-js server call reports to, and the status it sends (grpc-js does not export their types). */
type InterceptingServerListener = Parameters<ServerInterceptingCallInterface["start"]>[0];
type PartialStatusObject = Parameters<ServerInterceptingCallInterface["sendStatus"]>[0];

/** What the wait needs to know about one served method. */
export interface WaitSetup {
  method: MethodDescriptor;
  limits: ServerCallLimits;
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
    return new RequestWait(this.scope, setup, call, stream) as unknown as ServerInterceptingCall;
  };
}

/**
 * One call's wait, as a layer between grpc-js's call and the layers above
 * it. It is grpc-js's call to the layers above, and their listener to
 * grpc-js's call, and it is the waiting call the adapter takes over: one
 * object per call, where grpc-js's own `ServerInterceptingCall` with a
 * listener and a responder would make a dozen.
 */
class RequestWait implements ServerInterceptingCallInterface, InterceptingServerListener, ReceiveState, WaitingCall {
  // Set when the HEADERS are read (onReceiveMetadata).
  life!: CallLifecycle;
  record!: LiveCall;
  deadline = Number.POSITIVE_INFINITY;
  timer: CallTimer | undefined;
  private next: InterceptingServerListener | undefined;
  private opened = false;
  private handedOver = false;
  private halfClosed = false;
  /** Nothing waits unread in this layer (the idle deadline's ReceiveState). */
  readonly buffered = false;

  constructor(
    private readonly scope: ServerScope,
    private readonly setup: WaitSetup,
    private readonly call: ServerInterceptingCallInterface,
    readonly stream: Handing,
  ) {}

  /** The request may still arrive, so idleness counts (the idle deadline's ReceiveState). */
  get receiving(): boolean {
    return !this.halfClosed;
  }

  takeOver(): void {
    this.handedOver = true;
  }

  /** The call failed before its handler ran: it is answered here. */
  [FAILED](error: RpcError): void {
    this.stream[WAITING] = undefined;
    if (!this.handedOver) {
      this.call.sendStatus({ code: error.code, details: error.details, metadata: error.metadata });
      if (this.scope.stopping === undefined) {
        releaseAfterStatus(this.call); // shutdown closes every session itself
      }
    }
  }

  private get live(): boolean {
    return this.opened && !this.life.ended;
  }

  // The listener grpc-js's call reports to.

  onReceiveMetadata(metadata: Metadata): void {
    const { scope, setup, call } = this;
    const opened = openCall(scope, setup.method, call.getPeer(), clientDeadline(call), setup.limits, metadata, call);
    this.life = opened.life;
    this.record = opened.record;
    this.deadline = opened.deadline;
    this.opened = true;
    this.timer = startCallTimer(this, setup.limits, this);
    this.life.onFail(this);
    refuseIfStopping(scope, this);
    if (!this.life.ended) {
      this.stream[WAITING] = this;
      this.next?.onReceiveMetadata(metadata);
    }
  }

  onReceiveMessage(message: unknown): void {
    if (this.live) {
      this.record.lastMessageInAt = Date.now();
      this.next?.onReceiveMessage(message);
    }
  }

  onReceiveHalfClose(): void {
    this.halfClosed = true;
    if (this.live) {
      this.next?.onReceiveHalfClose();
    }
  }

  onCancel(): void {
    if (this.live && !this.handedOver) {
      this.life.fail(cancelledByPeer(this.deadline));
    }
    this.next?.onCancel();
  }

  // The call the layers above see.

  start(listener: InterceptingServerListener): void {
    this.next = listener;
    this.call.start(this);
  }

  sendStatus(status: PartialStatusObject): void {
    // grpc-js or another interceptor answered before the handler ran.
    if (this.live && !this.handedOver) {
      this.handedOver = true;
      if (status.code === Status.OK) {
        this.life.finish();
      } else {
        this.life.fail(new RpcError(status.code, status.details ?? ""));
      }
    }
    this.call.sendStatus(status);
  }

  sendMetadata(metadata: Metadata): void {
    this.call.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    this.call.sendMessage(message, callback);
  }

  startRead(): void {
    this.call.startRead();
  }

  getPeer(): string {
    return this.call.getPeer();
  }

  getDeadline(): ReturnType<ServerInterceptingCallInterface["getDeadline"]> {
    return this.call.getDeadline();
  }

  getHost(): string {
    return this.call.getHost();
  }

  getAuthContext(): ReturnType<ServerInterceptingCallInterface["getAuthContext"]> {
    return this.call.getAuthContext();
  }

  getConnectionInfo(): ReturnType<ServerInterceptingCallInterface["getConnectionInfo"]> {
    return this.call.getConnectionInfo();
  }

  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface["getMetricsRecorder"]> {
    return this.call.getMetricsRecorder();
  }
}
