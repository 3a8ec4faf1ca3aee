/**
 * leaksafe's runtime: what generated stubs import, and what servers and
 * clients call.
 */
export type { CallOptions, MetadataInit } from "./call-options.js";
export { type ClientBase, type ClientOptions, CONNECT_TIMEOUT_MS, createClient } from "./client.js";
export type { HooksOption } from "./combine-hooks.js";
export { CONNECTION_DEFAULTS, type ConnectionLimits } from "./connection-limits.js";
export { type EndReason, type EndRecord, RECENT_ENDS, type RecentEnds } from "./end-log.js";
export type { Health, ServingStatus } from "./health.js";
export { CLIENT_KEEPALIVE, type KeepaliveOptions, SERVER_KEEPALIVE } from "./keepalive.js";
export { MAX_LIMIT_MS, type ResolvedLimits, STREAM_DEFAULTS, type StreamLimits } from "./limits.js";
export {
  type ClosableServer,
  type ShutdownHandle,
  type ShutdownOnSignalsOptions,
  type ShutdownStep,
  type StepResult,
  type Stoppable,
  shutdownOnSignals,
} from "./process-shutdown.js";
export type { CallEndInfo, CallHooks, CallRecord, CallStartInfo, MessageEvent } from "./registry.js";
export {
  RESUME_DEFAULTS,
  type ResumedEndInfo,
  type ResumeOptions,
  type ResumePolicy,
  type RetryInfo,
  type ServerStreamCallOptions,
} from "./resume-policy.js";
export { RpcError, type RpcErrorInit, type RpcErrorReason, Status } from "./rpc-error.js";
export {
  createServer,
  type ForcedCall,
  type LeaksafeServer,
  type ServerOptions,
  type ServerState,
  type ServiceLimits,
  type ShutdownReport,
} from "./server.js";
export type { ServerContext } from "./server-context.js";
export {
  type ClientOf,
  defineService,
  deserializer,
  type EmbeddedFile,
  type ImplementationOf,
  type MessageCodec,
  type MethodDescriptor,
  type MethodKind,
  type ServiceDescriptor,
  serializer,
  type TypedService,
} from "./service.js";
export { type LoadBalancing, UNARY_RETRY_DEFAULTS, type UnaryRetry } from "./service-config.js";
export { STATUS_DETAILS_KEY, STATUS_DETAILS_LIMIT, type StatusDetail } from "./status-details.js";
export type { UnservedCallInfo } from "./unserved-calls.js";
