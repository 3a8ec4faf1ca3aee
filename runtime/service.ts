/**
 * Service and method descriptors. Generated code builds them with
 * `defineService`; each one is also a valid grpc-js `ServiceDefinition`.
 */
import type { MethodDefinition } from "@grpc/grpc-js";
import type { StreamLimits } from "./limits.js";
import type { ResumePolicy } from "./resume-policy.js";

/** The four method kinds. */
export type MethodKind = "unary" | "server-streaming" | "client-streaming" | "bidi";

/** A grpc-js method definition with what leaksafe adds from the .proto. */
export interface MethodDescriptor<Req = any, Res = any> extends MethodDefinition<Req, Res> {
  readonly originalName: string;
  readonly kind: MethodKind;
  readonly idempotency: "unknown" | "no-side-effects" | "idempotent";
  /** The stream limits from the .proto and the plugin options; the runtime's defaults fill the rest. */
  readonly policy?: StreamLimits;
  /** Server-streaming only: present when the .proto declares the method resumable. */
  readonly resume?: ResumePolicy;
}

/** A service: method descriptors by their lowerCamelCase name. */
export type ServiceDescriptor = { readonly [method: string]: MethodDescriptor };

declare const serviceTypes: unique symbol;

/**
 * A service descriptor that also carries, as types only, the interface a
 * server implements (`I`) and the client type (`C`), so that `createClient`
 * and `server.add` are typed by the generated interfaces.
 */
export type TypedService<M extends ServiceDescriptor, I, C> = M & {
  readonly [serviceTypes]?: { implementation: I; client: C };
};

/** The implementation type of a typed service. */
export type ImplementationOf<S> = S extends { readonly [serviceTypes]?: { implementation: infer I } } ? I : never;
/** The client type of a typed service. */
export type ClientOf<S> = S extends { readonly [serviceTypes]?: { client: infer C } } ? C : never;

/**
 * One proto file's descriptor as generated code carries it, for server
 * reflection: a google.protobuf.FileDescriptorProto, serialized, in base64
 * lines that are joined before decoding.
 */
export interface EmbeddedFile {
  /** The proto file's name, e.g. "example/v1/chat.proto". */
  readonly name: string;
  readonly base64: readonly string[];
}

/** What reflection knows of a service: its full name and the files that describe it. */
export interface ServiceReflection {
  /** The service's full proto name, e.g. "example.v1.Chat". */
  readonly name: string;
  /** The file declaring the service first, then every file it imports. */
  readonly files: () => readonly EmbeddedFile[];
}

/**
 * Where `defineService` keeps a service's {@link ServiceReflection}: a
 * non-enumerable property, so that grpc-js, which walks a service's keys,
 * and `server.add` never see it. `Symbol.for`, so that a second copy of the
 * runtime in the same process still finds it.
 */
const REFLECTION: unique symbol = Symbol.for("leaksafe.reflection");

/**
 * Ties method descriptors to their implementation and client interfaces.
 * Used by generated code:
 * `defineService<ChatImplementation, ChatClient>("example.v1.Chat", $fileDescriptors)({ … })`.
 * It returns the descriptors themselves. When `name` and `files` are given
 * (the plugin always gives them; code generated before it did, or by a
 * template that leaves them out, still works), a server with
 * `reflection: true` describes the service with them.
 */
export function defineService<I, C>(
  name?: string,
  files?: () => readonly EmbeddedFile[],
): <const M extends ServiceDescriptor>(methods: M) => TypedService<M, I, C> {
  return (methods) => {
    if (name !== undefined && files !== undefined) {
      const reflection: ServiceReflection = { name, files };
      Object.defineProperty(methods, REFLECTION, { value: reflection, configurable: true });
    }
    return methods;
  };
}

/** What `defineService` recorded for server reflection, or undefined for a service defined without it. */
export function reflectionOf(service: ServiceDescriptor): ServiceReflection | undefined {
  return (service as { [REFLECTION]?: ServiceReflection })[REFLECTION];
}

/** What ts-proto generates for each message: `encode` and `decode`. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** A grpc-js serializer for a ts-proto message. It does not copy the bytes. */
export function serializer<T>(codec: MessageCodec<T>): (value: T) => Buffer {
  return (value) => {
    const bytes = codec.encode(value).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** A grpc-js deserializer for a ts-proto message. */
export function deserializer<T>(codec: MessageCodec<T>): (bytes: Buffer) => T {
  return (bytes) => codec.decode(bytes);
}
