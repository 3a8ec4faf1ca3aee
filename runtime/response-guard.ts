/**
 * A client interceptor that holds a hostile or broken server to the gRPC
 * protocol where grpc-js does not. It uses only grpc-js's public
 * interceptor API.
 */
import {
  InterceptingCall,
  type InterceptingListener,
  type Interceptor,
  type InterceptorOptions,
  type Metadata,
  type NextCall,
  status as Status,
  type StatusObject,
} from "@grpc/grpc-js";
import { isStatusCode } from "./rpc-error.js";

/**
 * The status a call ends with, made valid:
 * - a code that is not an integer from 0 to 16 (grpc-js reads `grpc-status`
 *   with `Number()`, so `abc` is NaN and `99` stays 99) becomes `UNKNOWN`,
 *   with the value grpc-js read in the message. The header itself is checked
 *   before grpc-js reads it (see client-internals.ts), which also catches
 *   `""` and `0x0`, read as 0; this check catches the rest, such as a code
 *   a user's interceptor made up;
 * - no code at all (grpc-js fails a response it cannot decode, such as a
 *   compressed message with no `grpc-encoding`, with a bare Error) becomes
 *   `INTERNAL`;
 * - details are always a string.
 */
export function checkStatus(status: StatusObject): StatusObject {
  const code: unknown = status.code;
  const details: unknown = status.details;
  if (isStatusCode(code) && typeof details === "string") {
    return status;
  }
  const said = typeof details === "string" && details !== "" ? `: ${details}` : "";
  if (code === undefined || code === null) {
    return {
      code: Status.INTERNAL,
      details: `the response could not be read and grpc-js gave no status (a compressed message with no grpc-encoding, for one)${said}`,
      metadata: status.metadata,
    };
  }
  if (!isStatusCode(code)) {
    return {
      code: Status.UNKNOWN,
      details: `the server sent a grpc-status that is not a decimal code from 0 to 16 (read as ${JSON.stringify(String(code))})${said}`,
      metadata: status.metadata,
    };
  }
  return { code, details: String(details), metadata: status.metadata };
}

/**
 * One call's guard: it passes everything up, checks the status, and on a
 * call with a single response reads on after that response, so that a
 * second one is seen and fails the call at once. (grpc-js reads a unary
 * response only once, so a second one left it waiting for a status that it
 * never delivered.) The code is `UNIMPLEMENTED`, as gRPC's status code
 * document lists for a cardinality violation seen by a client, and as
 * grpc-js itself uses for a client-streaming call. One object a call, no
 * closure a message.
 */
class ResponseGuard implements InterceptingListener {
  private upstream: InterceptingListener | undefined;
  private responses = 0;

  constructor(
    private readonly call: InterceptingCall,
    private readonly single: boolean,
  ) {}

  start(
    metadata: Metadata,
    listener: InterceptingListener,
    next: (m: Metadata, l: InterceptingListener) => void,
  ): void {
    this.upstream = listener;
    next(metadata, this);
  }

  onReceiveMetadata(metadata: Metadata): void {
    this.upstream?.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    if (!this.single) {
      this.upstream?.onReceiveMessage(message);
      return;
    }
    this.responses++;
    if (this.responses === 1) {
      this.upstream?.onReceiveMessage(message);
      this.call.startRead();
    } else if (this.responses === 2) {
      this.call.cancelWithStatus(
        Status.UNIMPLEMENTED,
        "the server sent more than one response message to a call that takes one (a cardinality violation)",
      );
    }
  }

  onReceiveStatus(status: StatusObject): void {
    this.upstream?.onReceiveStatus(checkStatus(status));
  }
}

/**
 * The interceptor every leaksafe client installs innermost, so that user
 * interceptors see only valid statuses.
 */
export const guardResponses: Interceptor = (options: InterceptorOptions, nextCall: NextCall): InterceptingCall => {
  let guard: ResponseGuard | undefined;
  const call = new InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => guard?.start(metadata, listener, next),
  });
  guard = new ResponseGuard(call, !options.method_definition.responseStream);
  return call;
};
