/**
 * `grpc.reflection.v1` and `v1alpha` (ServerReflectionInfo) served from the
 * descriptors of the services added to a server. The server loads this
 * module when it listens with `reflection: true`; like health-service.ts it
 * needs `@bufbuild/protobuf`, for the generated messages and to read the
 * descriptors.
 *
 * Each request on the stream gets one response, in order. A question that
 * cannot be answered gets an `error_response` with a gRPC code, and the
 * stream goes on. Every file answer holds the file asked for and every file
 * it imports, each time (a client that keeps what it was sent may ignore the
 * repeats). The stream ends when the client ends it, or at shutdown with the
 * other streams.
 */
import type { ServerReflectionRequest, ServerReflectionResponse } from "./generated/grpc/reflection/v1/reflection.js";
import {
  type ServerReflectionImplementation,
  ServerReflectionService,
} from "./generated/grpc/reflection/v1/reflection_leaksafe.js";
import { ServerReflectionService as ServerReflectionV1alphaService } from "./generated/grpc/reflection/v1alpha/reflection_leaksafe.js";
import { ReflectionIndex, ReflectionMiss } from "./reflection-index.js";
import { messageOf, Status } from "./rpc-error.js";
import type { ServiceDescriptor } from "./service.js";

export { ServerReflectionService, ServerReflectionV1alphaService };

/**
 * The implementation of ServerReflectionInfo, for v1 and v1alpha alike
 * (their messages are the same). `services` is the server's live list of
 * the services added; the index is built at the first request, and again
 * when a service was added since.
 */
export function reflectionImplementation(services: readonly ServiceDescriptor[]): ServerReflectionImplementation {
  let index: ReflectionIndex | Error | undefined;
  let indexed = -1;
  const current = (): ReflectionIndex => {
    if (indexed !== services.length) {
      indexed = services.length;
      try {
        index = new ReflectionIndex(services);
      } catch (failure) {
        index = failure instanceof Error ? failure : new Error(messageOf(failure));
      }
    }
    if (index instanceof Error) throw new ReflectionMiss(Status.INTERNAL, index.message);
    return index as ReflectionIndex;
  };
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield answer(request, current);
      }
    },
  };
}

function answer(request: ServerReflectionRequest, index: () => ReflectionIndex): ServerReflectionResponse {
  const response: ServerReflectionResponse = { validHost: request.host, originalRequest: request };
  try {
    if (request.listServices !== undefined) {
      response.listServicesResponse = { service: index().services.map((name) => ({ name })) };
    } else if (request.fileByFilename !== undefined) {
      response.fileDescriptorResponse = { fileDescriptorProto: index().fileByName(request.fileByFilename) };
    } else if (request.fileContainingSymbol !== undefined) {
      response.fileDescriptorResponse = {
        fileDescriptorProto: index().fileContainingSymbol(request.fileContainingSymbol),
      };
    } else if (request.fileContainingExtension !== undefined) {
      const { containingType, extensionNumber } = request.fileContainingExtension;
      response.fileDescriptorResponse = {
        fileDescriptorProto: index().fileContainingExtension(containingType, extensionNumber),
      };
    } else if (request.allExtensionNumbersOfType !== undefined) {
      const { baseTypeName, numbers } = index().extensionNumbers(request.allExtensionNumbersOfType);
      response.allExtensionNumbersResponse = { baseTypeName, extensionNumber: numbers };
    } else {
      throw new ReflectionMiss(Status.INVALID_ARGUMENT, "the request asks nothing: message_request is not set");
    }
  } catch (failure) {
    if (!(failure instanceof ReflectionMiss)) throw failure;
    response.errorResponse = { errorCode: failure.code, errorMessage: failure.message };
  }
  return response;
}
