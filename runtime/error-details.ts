/**
 * `leaksafe/error-details`: typed helpers for gRPC's rich error model. A
 * server packs standard details (or its own) into `RpcError.statusDetails`;
 * a client finds and unpacks them from the error it caught:
 *
 *     throw new RpcError(Status.INVALID_ARGUMENT, "the name is empty", {
 *       statusDetails: [packDetail(BadRequest, { fieldViolations: [{ field: "name", description: "empty" }] })],
 *     });
 *
 *     catch (error) { const bad = findDetail(error, BadRequest); }
 *
 * Zero dependencies: the messages are encoded and decoded by hand.
 */
import type { DetailType } from "./detail-type.js";
import { type StatusDetail, typeNameOf } from "./status-details.js";

export { type DetailInit, type DetailType, defineDetailType, TYPE_URL_PREFIX } from "./detail-type.js";
export {
  BadRequest,
  type BadRequest_FieldViolation,
  DebugInfo,
  type Duration,
  ErrorInfo,
  Help,
  type Help_Link,
  LocalizedMessage,
  PreconditionFailure,
  type PreconditionFailure_Violation,
  QuotaFailure,
  type QuotaFailure_Violation,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from "./standard-details.js";
export type { StatusDetail } from "./status-details.js";

/**
 * A detail to put in `statusDetails`: `value` encoded as `type`, under the
 * type URL `"type.googleapis.com/" + type.typeName`. A value of the wrong
 * shape (a field the message lacks, a string where a number goes, an int64
 * that is not a safe integer) throws a TypeError that names the field.
 */
export function packDetail<T, I>(type: DetailType<T, I>, value: I): StatusDetail {
  return Object.freeze({ typeUrl: type.typeUrl, value: type.encode(value) });
}

/**
 * `detail` decoded as `type`, or undefined when it is another type. Types
 * match by full name (what follows the type URL's last `/`), whatever the
 * URL's host. A detail of this type whose bytes are malformed throws an
 * Error that names the type and the fault.
 */
export function unpackDetail<T>(detail: StatusDetail, type: DetailType<T, unknown>): T | undefined {
  if (typeNameOf(detail.typeUrl) !== type.typeName) {
    return undefined;
  }
  return decode(detail, type, "the detail");
}

/**
 * The first detail of `type` in `from`'s details, decoded, or undefined
 * when it has none. `from` is an `RpcError` (its `statusDetails`), or an
 * array of details; anything else (another kind of error, say) has none.
 * A malformed one throws, as {@link unpackDetail} does.
 */
export function findDetail<T>(from: unknown, type: DetailType<T, unknown>): T | undefined {
  const details = detailsOf(from);
  const i = details.findIndex((d) => typeNameOf(d.typeUrl) === type.typeName);
  return i < 0 ? undefined : decode(details[i] as StatusDetail, type, `statusDetails[${i}]`);
}

/** Every detail of `type` in `from`'s details, decoded, in order; as {@link findDetail} takes and throws. */
export function findDetails<T>(from: unknown, type: DetailType<T, unknown>): T[] {
  const found: T[] = [];
  detailsOf(from).forEach((detail, i) => {
    if (typeNameOf(detail.typeUrl) === type.typeName) {
      found.push(decode(detail, type, `statusDetails[${i}]`));
    }
  });
  return found;
}

function detailsOf(from: unknown): readonly StatusDetail[] {
  if (Array.isArray(from)) {
    return from as readonly StatusDetail[];
  }
  if (typeof from === "object" && from !== null && "statusDetails" in from && Array.isArray(from.statusDetails)) {
    return from.statusDetails as readonly StatusDetail[];
  }
  return [];
}

function decode<T>(detail: StatusDetail, type: DetailType<T, unknown>, where: string): T {
  try {
    return type.decode(detail.value);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`${where} is a ${type.typeName} that could not be decoded: ${why}`, { cause: error });
  }
}
