/**
 * `leaksafe/health`: the generated `grpc.health.v1` stubs and messages, for
 * a typed leaksafe client of any server's health service:
 * `createClient(HealthService, target).check({ service: "" })`.
 */
export {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthListRequest,
  HealthListResponse,
} from "./generated/grpc/health/v1/health.js";
export {
  type HealthClient,
  type HealthImplementation,
  HealthService,
} from "./generated/grpc/health/v1/health_leaksafe.js";
