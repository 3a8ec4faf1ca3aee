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
 * Ties method descriptors to their implementation and client interfaces.
 * Used by generated code: `defineService<ChatImplementation, ChatClient>()({ … })`.
 * It returns the descriptors unchanged.
 */
export function defineService<I, C>(): <const M extends ServiceDescriptor>(methods: M) => TypedService<M, I, C> {
  return (methods) => methods;
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
