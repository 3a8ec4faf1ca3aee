/**
 * `leaksafe/reflection`: the generated `grpc.reflection.v1` stubs and
 * messages, for a typed leaksafe client of any server's reflection service:
 * `createClient(ServerReflectionService, target).serverReflectionInfo([{ host: "", listServices: "" }])`.
 * The older `grpc.reflection.v1alpha` service, which has the same messages,
 * is `ServerReflectionV1alphaService`.
 */
export {
  type ErrorResponse,
  type ExtensionNumberResponse,
  type ExtensionRequest,
  type FileDescriptorResponse,
  type ListServiceResponse,
  ServerReflectionRequest,
  ServerReflectionResponse,
  type ServiceResponse,
} from "./generated/grpc/reflection/v1/reflection.js";
export {
  type ServerReflectionClient,
  type ServerReflectionImplementation,
  ServerReflectionService,
} from "./generated/grpc/reflection/v1/reflection_leaksafe.js";
export {
  type ServerReflectionClient as ServerReflectionV1alphaClient,
  ServerReflectionService as ServerReflectionV1alphaService,
} from "./generated/grpc/reflection/v1alpha/reflection_leaksafe.js";
