/**
 * gRPC's rich error model: a `google.rpc.Status` message (code, message and
 * a list of `google.protobuf.Any` details), sent in the trailer
 * `grpc-status-details-bin` beside `grpc-status` and `grpc-message`. Read
 * and written here by hand, so the runtime stays free of dependencies.
 *
 * google.rpc.Status: code = 1 (int32), message = 2 (string), details = 3
 * (repeated Any). google.protobuf.Any: type_url = 1 (string), value = 2 (bytes).
 */
import { type Metadata, status as Status } from "@grpc/grpc-js";
import { expectWireType, WireError, WireReader, WireType } from "./wire-reader.js";
import { describe, WireWriter } from "./wire-writer.js";

/** The trailer that carries the serialized `google.rpc.Status`. */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/**
 * The most bytes of serialized `google.rpc.Status` a leaksafe server sends:
 * 4096, about 5.5 KiB of trailer once in base64. gRPC's C core (Python
 * grpcio, C++, Ruby, PHP) refuses larger metadata by default: measured with
 * Python grpcio 1.51, trailers of about 10 KiB fail the call with
 * `RESOURCE_EXHAUSTED` "received initial metadata size exceeds limit", and
 * the server's own status is lost. Details over the limit are dropped
 * instead, the call keeps its code, and its message says what was dropped.
 */
export const STATUS_DETAILS_LIMIT = 4096;

/**
 * One detail of an error: a `google.protobuf.Any`, that is, a message's
 * bytes and the URL of its type, such as
 * `"type.googleapis.com/google.rpc.ErrorInfo"`. The part after the last `/`
 * is the message's full name. `leaksafe/error-details` packs and unpacks the
 * standard ones.
 */
export interface StatusDetail {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** A decoded `google.rpc.Status`. */
export interface StatusMessage {
  code: number;
  message: string;
  details: StatusDetail[];
}

/** What a status's trailers say about its details. */
export interface ReadDetails {
  details: readonly StatusDetail[];
  /** Why `grpc-status-details-bin` was there but its details were not taken; undefined otherwise. */
  error: string | undefined;
}

const NONE: readonly StatusDetail[] = Object.freeze([]);
/** The value of an Any that has none; shared, since nothing can be written into no bytes. */
const NO_BYTES = new Uint8Array(0);

/**
 * The details in `metadata`'s `grpc-status-details-bin`, for a call that
 * ended with `code` (its `grpc-status`). Never throws: a trailer that is not
 * one well-formed `google.rpc.Status` whose code is `code` gives no details
 * and an `error` that says why. The code must agree, as grpc-java and
 * Python's grpcio-status require: details written for another status (by a
 * proxy that rewrote it, say) do not describe this one. The Status's message
 * is not compared; `grpc-message` is the call's message.
 */
export function readStatusDetails(metadata: Metadata, code: number): ReadDetails {
  const values = metadata.get(STATUS_DETAILS_KEY);
  if (values.length === 0) {
    return { details: NONE, error: undefined };
  }
  if (values.length > 1) {
    return { details: NONE, error: `${STATUS_DETAILS_KEY} came ${values.length} times; its details were not read` };
  }
  const value = values[0];
  if (typeof value === "string") {
    // grpc-js decodes every -bin key to a Buffer; a string was set by hand.
    return { details: NONE, error: `${STATUS_DETAILS_KEY} holds a string, not bytes; its details were not read` };
  }
  let status: StatusMessage;
  try {
    status = decodeStatus(value as Uint8Array);
  } catch (error) {
    const why = error instanceof WireError ? error.message : String(error);
    return {
      details: NONE,
      error: `${STATUS_DETAILS_KEY} (${(value as Uint8Array).length} bytes) is not a valid google.rpc.Status: ${why}`,
    };
  }
  if (status.code !== code) {
    return {
      details: NONE,
      error: `${STATUS_DETAILS_KEY} holds a google.rpc.Status with code ${codeName(status.code)}, but grpc-status is ${codeName(code)}; its details were not taken`,
    };
  }
  return { details: Object.freeze(status.details), error: undefined };
}

/**
 * The trailers and message a server ends a call with, for an error with
 * `details`: a copy of `metadata` with `grpc-status-details-bin` set to the
 * serialized `google.rpc.Status { code, message, details }`, replacing any
 * set by hand. Details that would encode to more than
 * {@link STATUS_DETAILS_LIMIT} bytes are dropped, and the message says how
 * many and how large.
 *
 * With no details, `metadata` is sent as it is, except that a
 * `grpc-status-details-bin` that is not a Status for `code` (one copied from
 * an upstream call that failed with another code, say) is removed: grpc-java
 * and Python's grpcio-status throw on a client that reads such a trailer.
 */
export function withStatusDetails(
  metadata: Metadata,
  code: number,
  message: string,
  details: readonly StatusDetail[],
): { metadata: Metadata; message: string } {
  if (details.length === 0) {
    if (metadata.get(STATUS_DETAILS_KEY).length === 0 || readStatusDetails(metadata, code).error === undefined) {
      return { metadata, message };
    }
    const out = metadata.clone();
    out.remove(STATUS_DETAILS_KEY);
    return { metadata: out, message };
  }
  const bytes = encodeStatus({ code, message, details });
  if (bytes.length > STATUS_DETAILS_LIMIT) {
    const what =
      details.length === 1
        ? "1 status detail was dropped: its"
        : `${details.length} status details were dropped: their`;
    const note = `${what} google.rpc.Status is ${bytes.length} bytes, over the limit of ${STATUS_DETAILS_LIMIT}`;
    const out = metadata.clone();
    out.remove(STATUS_DETAILS_KEY);
    return { metadata: out, message: message === "" ? `(${note})` : `${message} (${note})` };
  }
  const out = metadata.clone();
  out.set(STATUS_DETAILS_KEY, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  return { metadata: out, message };
}

/**
 * `details` checked and copied, as `RpcError` keeps them: an array of
 * `{ typeUrl, value }`, where `typeUrl` is a string with a `/` and a type
 * name after its last one, and `value` a Uint8Array. Anything else throws a
 * TypeError that names the entry and what is wrong with it.
 */
export function checkStatusDetails(details: unknown): readonly StatusDetail[] {
  if (!Array.isArray(details)) {
    throw new TypeError(`statusDetails must be an array of { typeUrl, value }, not ${describe(details)}`);
  }
  if (details.length === 0) {
    return NONE;
  }
  return Object.freeze(
    details.map((detail: unknown, i): StatusDetail => {
      if (typeof detail !== "object" || detail === null) {
        throw new TypeError(`statusDetails[${i}] must be an object { typeUrl, value }, not ${describe(detail)}`);
      }
      const { typeUrl, value } = detail as { typeUrl?: unknown; value?: unknown };
      if (typeof typeUrl !== "string" || !isTypeUrl(typeUrl)) {
        throw new TypeError(
          `statusDetails[${i}].typeUrl must be a type URL such as "type.googleapis.com/google.rpc.ErrorInfo", not ${describe(typeUrl)}`,
        );
      }
      if (!(value instanceof Uint8Array)) {
        throw new TypeError(`statusDetails[${i}].value must be a Uint8Array, not ${describe(value)}`);
      }
      return Object.freeze({ typeUrl, value });
    }),
  );
}

/** Whether `url` has a `/` with a type name after the last one. */
export function isTypeUrl(url: string): boolean {
  const slash = url.lastIndexOf("/");
  return slash >= 0 && slash < url.length - 1;
}

/** The full message name a type URL names: what follows its last `/`. */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/** Serializes a `google.rpc.Status`. */
export function encodeStatus(
  status: StatusMessage | { code: number; message: string; details: readonly StatusDetail[] },
): Uint8Array {
  const writer = new WireWriter().int32(1, status.code, "code").string(2, status.message, "message");
  status.details.forEach((detail, i) => {
    const any = new WireWriter()
      .string(1, detail.typeUrl, `details[${i}].typeUrl`)
      .bytes(2, detail.value, `details[${i}].value`)
      .finish();
    writer.bytes(3, any, `details[${i}]`, true);
  });
  return writer.finish();
}

/** Parses a `google.rpc.Status`; unknown fields are skipped, malformed bytes throw a WireError. */
export function decodeStatus(bytes: Uint8Array): StatusMessage {
  const reader = new WireReader(bytes);
  const status: StatusMessage = { code: 0, message: "", details: [] };
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag.field) {
      case 1:
        expectWireType(tag, "code", WireType.Varint);
        status.code = reader.int32();
        break;
      case 2:
        expectWireType(tag, "message", WireType.LengthDelimited);
        status.message = reader.string();
        break;
      case 3: {
        expectWireType(tag, "details", WireType.LengthDelimited);
        const any = reader.nested();
        try {
          status.details.push(decodeAny(any));
        } catch (error) {
          throw error instanceof WireError ? error.within(`details[${status.details.length}]`) : error;
        }
        break;
      }
      default:
        reader.skip(tag.type);
    }
  }
  return status;
}

function decodeAny(reader: WireReader): StatusDetail {
  let typeUrl = "";
  let value = NO_BYTES;
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag.field) {
      case 1:
        expectWireType(tag, "type_url", WireType.LengthDelimited);
        typeUrl = reader.string();
        break;
      case 2:
        expectWireType(tag, "value", WireType.LengthDelimited);
        // A copy: the detail outlives the trailer's buffer, and is a plain Uint8Array.
        value = new Uint8Array(reader.bytesField());
        break;
      default:
        reader.skip(tag.type);
    }
  }
  return Object.freeze({ typeUrl, value });
}

function codeName(code: number): string {
  const name = (Status as Record<number, string | undefined>)[code];
  return name === undefined ? String(code) : `${code} (${name})`;
}
