import { Metadata, type ServerUnaryCall } from "@grpc/grpc-js";
import { type CallLifecycle, FAILED } from "./call-lifecycle.js";
import type { RpcError } from "./rpc-error.js";
import { clientDeadline } from "./server-sessions.js";

/** The part of a grpc-js server call that every kind has. */
export type SurfaceCall = Pick<
  ServerUnaryCall<unknown, unknown>,
  "metadata" | "getPeer" | "getPath" | "getDeadline" | "sendMetadata"
> &
  NodeJS.EventEmitter;

/** What a handler gets besides its request. */
export interface ServerContext {
  /** Aborted when the call ends abnormally; `signal.reason` is the RpcError. */
  readonly signal: AbortSignal;
  /** The request metadata (headers). */
  readonly metadata: Metadata;
  /** The client's address, e.g. "127.0.0.1:53124". */
  readonly peer: string;
  /** The gRPC path of the method, e.g. "/example.v1.Chat/Watch". */
  readonly method: string;
  /** The call's deadline, or undefined when it has none. */
  readonly deadline: Date | undefined;
  /** Response headers; sent before the first message, or with the status. */
  readonly responseHeader: Metadata;
  /** Response trailers; sent with the status, OK or not. */
  readonly responseTrailer: Metadata;
  /** Sends `responseHeader` now instead of with the first message. Later calls do nothing. */
  sendHeader(): void;
}

/** The server's side of one call's context, created lazily where it costs. */
export class CallContext implements ServerContext {
  private controller: AbortController | undefined;
  private header: Metadata | undefined;
  private trailer: Metadata | undefined;
  private headerSent = false;

  constructor(
    private readonly call: SurfaceCall,
    private readonly life: CallLifecycle,
  ) {
    life.onFail(this);
  }

  /** The call failed: `signal` aborts with its error, if anyone asked for it. */
  [FAILED](error: RpcError): void {
    this.controller?.abort(error);
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.life.failure !== undefined) {
        this.controller.abort(this.life.failure);
      }
    }
    return this.controller.signal;
  }

  get metadata(): Metadata {
    return this.call.metadata;
  }

  get peer(): string {
    return this.call.getPeer();
  }

  get method(): string {
    return this.call.getPath();
  }

  get deadline(): Date | undefined {
    const ms = clientDeadline(this.call);
    return Number.isFinite(ms) ? new Date(ms) : undefined;
  }

  get responseHeader(): Metadata {
    this.header ??= new Metadata();
    return this.header;
  }

  get responseTrailer(): Metadata {
    this.trailer ??= new Metadata();
    return this.trailer;
  }

  sendHeader(): void {
    if (this.headerSent) {
      return;
    }
    this.headerSent = true;
    if (this.header !== undefined) {
      this.call.sendMetadata(this.header);
    }
  }

  /** The trailers to send, or undefined when the handler set none. */
  trailerIfAny(): Metadata | undefined {
    return this.trailer;
  }
}
