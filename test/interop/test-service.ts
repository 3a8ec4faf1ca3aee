/**
 * leaksafe's implementation of the interop TestService, served to clients
 * we did not write (Python grpcio, connect-node). Messages are ts-proto's
 * shapes for test/interop/proto, which is generated at test time.
 */
import { Metadata } from "@grpc/grpc-js";
import { RpcError, type ServerContext, type Status } from "leaksafe";
import { sleep } from "../e2e/harness.js";

export interface Payload {
  body: Uint8Array;
}
export interface EchoStatus {
  code: number;
  message: string;
}
export interface ResponseParameters {
  size: number;
  intervalUs: number;
}
export interface SimpleRequest {
  responseSize: number;
  payload: Payload | undefined;
  responseStatus: EchoStatus | undefined;
}
export interface StreamingOutputCallRequest {
  responseParameters: ResponseParameters[];
  payload: Payload | undefined;
  responseStatus: EchoStatus | undefined;
}
export interface StreamingInputCallRequest {
  payload: Payload | undefined;
}

export const ECHO_INITIAL = "x-grpc-test-echo-initial";
export const ECHO_TRAILING = "x-grpc-test-echo-trailing-bin";

export function payload(size: number): Payload {
  return { body: new Uint8Array(size) };
}

/** Echoes the interop metadata keys: the initial one as a header, the trailing one as a trailer. */
function echoMetadata(ctx: ServerContext): void {
  for (const value of ctx.metadata.get(ECHO_INITIAL)) ctx.responseHeader.add(ECHO_INITIAL, value);
  for (const value of ctx.metadata.get(ECHO_TRAILING)) ctx.responseTrailer.add(ECHO_TRAILING, value);
}

function failIfAsked(status: EchoStatus | undefined): void {
  if (status !== undefined && status.code !== 0) {
    throw new RpcError(status.code as Status, status.message, { metadata: new Metadata() });
  }
}

/** The implementation. UnimplementedCall is left out on purpose: the server answers UNIMPLEMENTED. */
export const testService = {
  async emptyCall() {
    return {};
  },
  async unaryCall(request: SimpleRequest, ctx: ServerContext) {
    echoMetadata(ctx);
    failIfAsked(request.responseStatus);
    return { payload: payload(request.responseSize) };
  },
  async *streamingOutputCall(request: StreamingOutputCallRequest, ctx: ServerContext) {
    echoMetadata(ctx);
    for (const p of request.responseParameters) {
      if (p.intervalUs > 0) await sleep(p.intervalUs / 1000);
      yield { payload: payload(p.size) };
    }
    failIfAsked(request.responseStatus);
  },
  async streamingInputCall(requests: AsyncIterable<StreamingInputCallRequest>) {
    let size = 0;
    for await (const r of requests) size += r.payload?.body.length ?? 0;
    return { aggregatedPayloadSize: size };
  },
  async *fullDuplexCall(requests: AsyncIterable<StreamingOutputCallRequest>, ctx: ServerContext) {
    echoMetadata(ctx);
    for await (const r of requests) {
      failIfAsked(r.responseStatus);
      for (const p of r.responseParameters) {
        if (p.intervalUs > 0) await sleep(p.intervalUs / 1000);
        yield { payload: payload(p.size) };
      }
    }
  },
};
