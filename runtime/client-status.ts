/**
 * The RpcError a client call ends with. A status grpc-js reported becomes
 * one with its reason: `deadline` when the call's own deadline passed,
 * `peer-gone` when grpc-js made the status up for a lost connection, and
 * `remote` otherwise. The errors this side ends a call with (a closed
 * client, an AbortSignal, a failed request stream) are made here too.
 */
import type { ServiceError } from "@grpc/grpc-js";
import { CLIENT_DEADLINE_EARLY_MS, grpcJsLostConnection } from "./grpc-internals.js";
import { checkStatus } from "./response-guard.js";
import { messageOf, RpcError, Status } from "./rpc-error.js";
import type { MethodDescriptor } from "./service.js";

/** What a call made after `close()` fails with. It opened nothing, so it has nothing to release. */
export function clientClosed(method: MethodDescriptor): RpcError {
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

export function aborted(signal: AbortSignal): RpcError {
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
export function fromStatus(reported: ServiceError, deadline: number | undefined): RpcError {
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

export function requestsFailed(error: unknown): RpcError {
  if (error instanceof RpcError) {
    return error;
  }
  return new RpcError(Status.CANCELLED, `the request stream failed: ${messageOf(error)}`, {
    reason: "cancelled",
    cause: error,
  });
}
