/**
 * A detail type: what `leaksafe/error-details` needs to pack a message into
 * a `google.protobuf.Any` and to unpack it again. The standard details
 * (standard-details.ts) are made from field tables; `defineDetailType`
 * makes one from any other codec, such as a ts-proto message's.
 */
import { decodeMessage, encodeMessage, type Schema } from "./detail-schema.js";
import { describe } from "./wire-writer.js";

/** The host of the type URLs that the details are packed under, as every gRPC implementation writes it. */
export const TYPE_URL_PREFIX = "type.googleapis.com/";

/**
 * A message type that can be an error detail. `T` is the decoded message;
 * `I` is what `encode` takes (for the standard details, any subset of `T`'s
 * fields, nested ones included).
 */
export interface DetailType<T, I = T> {
  /** The message's full name, such as `"google.rpc.ErrorInfo"`. */
  readonly typeName: string;
  /** `"type.googleapis.com/"` and the full name: the type URL a packed detail gets. */
  readonly typeUrl: string;
  /** Serializes a message; a value of the wrong shape throws a TypeError naming the field. */
  encode(value: I): Uint8Array;
  /** Parses a message; malformed bytes throw an Error that says what and where. */
  decode(bytes: Uint8Array): T;
}

/** Any subset of `T`'s fields, at every depth: what a standard detail is built from. */
export type DetailInit<T> = T extends readonly (infer U)[]
  ? readonly DetailInit<U>[]
  : T extends object
    ? { [K in keyof T]?: DetailInit<T[K]> | undefined }
    : T;

/** A detail type from a field table (detail-schema.ts). */
export function schemaType<T>(schema: Schema): DetailType<T, DetailInit<T>> {
  const short = schema.typeName.slice(schema.typeName.lastIndexOf(".") + 1);
  return Object.freeze({
    typeName: schema.typeName,
    typeUrl: `${TYPE_URL_PREFIX}${schema.typeName}`,
    encode: (value: DetailInit<T>) => encodeMessage(schema, value, short),
    decode: (bytes: Uint8Array) => decodeMessage(schema, bytes, short) as T,
  });
}

/**
 * A detail type for a message of your own, from its codec: a ts-proto
 * message's `{ encode, decode }` as it is (`encode(m).finish()` is called),
 * or any object whose `encode` returns the bytes. The type URL is
 * `"type.googleapis.com/" + typeName`; `typeName` must be a full message name
 * such as `"acme.billing.v1.QuotaDetail"`, or this throws a TypeError.
 *
 *     const QuotaDetail = defineDetailType("acme.billing.v1.QuotaDetail", QuotaDetailMessage);
 */
export function defineDetailType<T>(
  typeName: string,
  codec: { encode(message: T): Uint8Array | { finish(): Uint8Array }; decode(bytes: Uint8Array): T },
): DetailType<T> {
  if (typeof typeName !== "string" || !/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(typeName)) {
    throw new TypeError(
      `a detail type's name must be a full message name such as "acme.v1.Reason", not ${describe(typeName)}`,
    );
  }
  if (typeof codec?.encode !== "function" || typeof codec.decode !== "function") {
    throw new TypeError(`defineDetailType("${typeName}") needs a codec with encode and decode functions`);
  }
  return Object.freeze({
    typeName,
    typeUrl: `${TYPE_URL_PREFIX}${typeName}`,
    encode: (value: T) => {
      const out = codec.encode(value);
      return out instanceof Uint8Array ? out : out.finish();
    },
    decode: (bytes: Uint8Array) => codec.decode(bytes),
  });
}
