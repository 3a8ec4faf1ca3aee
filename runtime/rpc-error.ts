import { inspect } from "node:util";
import { Metadata, status as Status } from "@grpc/grpc-js";
import { checkStatusDetails, readStatusDetails, type StatusDetail } from "./status-details.js";

/**
 * Why a call ended abnormally, as seen from this side:
 * - `cancelled`: this side aborted (an AbortSignal, or a loop left early);
 * - `idle`: no message arrived within the idle deadline;
 * - `deadline`: the total deadline passed;
 * - `send-timeout`: the peer did not take a message within the send deadline;
 * - `peer-gone`: the peer cancelled, or its connection went away, or (on
 *   a client) no connection came within `connectTimeoutMs`;
 * - `shutdown`: the server is shutting down;
 * - `remote`: the peer ended the call with this status.
 */
export type RpcErrorReason = "cancelled" | "idle" | "deadline" | "send-timeout" | "peer-gone" | "shutdown" | "remote";

export interface RpcErrorInit {
  metadata?: Metadata | undefined;
  reason?: RpcErrorReason | undefined;
  cause?: unknown;
  attempts?: number | undefined;
  lastAttemptError?: RpcError | undefined;
  /**
   * The error's rich details (`google.protobuf.Any` messages, built with
   * `leaksafe/error-details`), which a leaksafe server sends in
   * `grpc-status-details-bin`. Default: read from `metadata`'s
   * `grpc-status-details-bin`, if it has one. A value that is not an array
   * of `{ typeUrl, value }` throws a TypeError naming the bad entry.
   */
  statusDetails?: readonly StatusDetail[] | undefined;
}

/**
 * The one error type of leaksafe. Every failed call rejects or throws an
 * RpcError; `RpcError.from` turns anything thrown into one.
 */
export class RpcError extends Error {
  override name = "RpcError";
  /** The gRPC status code (`Status.CANCELLED` and so on). */
  readonly code: Status;
  /** The status message, without the code. */
  readonly details: string;
  /** Trailing metadata that came with the status; empty when none. */
  readonly metadata: Metadata;
  /** Why the call ended; see {@link RpcErrorReason}. */
  readonly reason: RpcErrorReason;
  /** How many attempts the call made: more than 1 only for a resumed stream. */
  readonly attempts: number;
  /**
   * For a resumed stream that ended between attempts (aborted, or out of
   * time, while waiting to retry): the error that ended the last attempt.
   */
  readonly lastAttemptError: RpcError | undefined;
  /**
   * The rich error details: the `details` of the `google.rpc.Status` that
   * came in the trailer `grpc-status-details-bin`, or those given to the
   * constructor; empty when there are none. The call's `code` and `details`
   * are always those of `grpc-status` and `grpc-message`: a Status whose
   * code differs from `grpc-status` gives no details (see
   * {@link statusDetailsError}).
   */
  readonly statusDetails: readonly StatusDetail[];
  /**
   * Why the trailer `grpc-status-details-bin` was there but gave no
   * details: malformed bytes (a hostile or broken peer), or a Status for
   * another code. Undefined when it was read, or absent. The call's own
   * code and message stand either way, and the raw bytes stay in
   * `metadata`.
   */
  readonly statusDetailsError: string | undefined;

  /**
   * A `code` that is not a gRPC status (an integer from 0 to 16) becomes
   * `UNKNOWN`, with the code in the message; `details` is always a string.
   */
  constructor(code: Status, details: string, init: RpcErrorInit = {}) {
    const valid = isStatusCode(code);
    const text = typeof details === "string" ? details : describeThrown(details);
    const message = valid ? text : `${JSON.stringify(String(code))} is not a gRPC status code: ${text}`;
    const status: Status = valid ? code : Status.UNKNOWN;
    super(`${Status[status]}: ${message}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = status;
    this.details = message;
    this.metadata = init.metadata ?? new Metadata();
    this.reason = init.reason ?? "remote";
    this.attempts = init.attempts ?? 1;
    this.lastAttemptError = init.lastAttemptError;
    if (init.statusDetails !== undefined) {
      this.statusDetails = checkStatusDetails(init.statusDetails);
      this.statusDetailsError = undefined;
    } else {
      const read = readStatusDetails(this.metadata, status);
      this.statusDetails = read.details;
      this.statusDetailsError = read.error;
    }
  }

  /** This error, as the end of a call that made `attempts` attempts. */
  afterAttempts(attempts: number, lastAttemptError?: RpcError): RpcError {
    const error = new RpcError(this.code, this.details, {
      metadata: this.metadata,
      reason: this.reason,
      cause: this.cause,
      attempts,
      lastAttemptError,
      statusDetails: this.statusDetails,
    });
    (error as { statusDetailsError: string | undefined }).statusDetailsError = this.statusDetailsError;
    return error;
  }

  /**
   * Normalises anything thrown. An RpcError is returned as it is; an
   * AbortError becomes CANCELLED, a TimeoutError DEADLINE_EXCEEDED; a grpc-js
   * status error keeps its code, details and metadata (and so the rich
   * details in its `grpc-status-details-bin`); any other Error is
   * `fallback` (default UNKNOWN) with its message, and anything else is
   * `fallback` with {@link describeThrown}'s text for it.
   */
  static from(reason: unknown, fallback: Status = Status.UNKNOWN): RpcError {
    if (reason instanceof RpcError) {
      return reason;
    }
    if (reason instanceof Error && reason.name === "AbortError") {
      return new RpcError(Status.CANCELLED, reason.message || "the operation was aborted", {
        reason: "cancelled",
        cause: reason,
      });
    }
    if (reason instanceof Error && reason.name === "TimeoutError") {
      return new RpcError(Status.DEADLINE_EXCEEDED, reason.message || "the operation timed out", {
        reason: "deadline",
        cause: reason,
      });
    }
    if (isStatusLike(reason)) {
      return new RpcError(reason.code, reason.details, { metadata: reason.metadata, cause: reason });
    }
    return new RpcError(fallback, messageOf(reason), { cause: reason });
  }
}

/** Whether `code` is a gRPC status code: an integer from 0 to 16. */
export function isStatusCode(code: unknown): code is Status {
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16;
}

/** Longer descriptions of thrown objects are cut to this many characters. */
const DESCRIPTION_LIMIT = 1000;

/** A thrown value's message: an Error's own (named when empty), otherwise {@link describeThrown}'s text. */
export function messageOf(thrown: unknown): string {
  return thrown instanceof Error
    ? thrown.message || `${thrown.name || "Error"} with no message`
    : describeThrown(thrown);
}

/**
 * A readable, never empty, text for a thrown value that is not an Error, to
 * be a status message:
 * - a string is itself (`"an empty string was thrown"` when empty);
 * - `undefined`, `null`, a number and the like are named: `"42 was thrown"`;
 * - a plain object or an array is its JSON: `{"reason":"quota"}`;
 * - an object with its own `toString()` is what that returns;
 * - anything else, or JSON that fails (a cycle, a bigint), is shown as
 *   `util.inspect` shows it: `QuotaExceeded { limit: 5 }`.
 *
 * Objects are cut to 1000 characters, so a thrown response does not become
 * a huge status header.
 */
function describeThrown(value: unknown): string {
  if (typeof value === "string") {
    return value === "" ? "an empty string was thrown" : value;
  }
  if (typeof value !== "object" && typeof value !== "function") {
    return `${inspect(value)} was thrown`;
  }
  if (value === null) {
    return "null was thrown";
  }
  return cut(describeObject(value));
}

function describeObject(value: object): string {
  const proto: unknown = Object.getPrototypeOf(value);
  if (Array.isArray(value) || proto === Object.prototype || proto === null) {
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) {
        return json;
      }
    } catch {
      // A cycle or a bigint: inspect shows it.
    }
  } else if (typeof value !== "function") {
    try {
      const text = String(value);
      if (text !== "" && !text.startsWith("[object ")) {
        return text;
      }
    } catch {
      // A toString() that throws says nothing; inspect does.
    }
  }
  return inspect(value, { depth: 2, breakLength: Number.POSITIVE_INFINITY });
}

function cut(text: string): string {
  return text.length <= DESCRIPTION_LIMIT ? text : `${text.slice(0, DESCRIPTION_LIMIT - 1)}…`;
}

function isStatusLike(value: unknown): value is { code: Status; details: string; metadata?: Metadata } {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const v = value as { code?: unknown; details?: unknown; metadata?: unknown };
  return (
    isStatusCode(v.code) &&
    typeof v.details === "string" &&
    (v.metadata === undefined || v.metadata instanceof Metadata)
  );
}

export { Status };
