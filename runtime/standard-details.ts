/**
 * The standard error details of package `google.rpc` (error_details.proto),
 * as detail types: each is a type (the decoded message, named and shaped as
 * ts-proto writes it) and a value of the same name (its DetailType). Field
 * numbers are those of the standard messages, so they are wire-compatible
 * with every gRPC implementation's.
 */
import type { Field, Schema } from "./detail-schema.js";
import { type DetailInit, type DetailType, schemaType } from "./detail-type.js";

const str = (no: number, name: string): Field => ({ no, name, kind: "string" });

/** `google.protobuf.Duration`: a signed span of time; `nanos` has the sign of `seconds` and is below 10^9 in size. */
export interface Duration {
  seconds: number;
  nanos: number;
}

const DURATION: Schema = {
  typeName: "google.protobuf.Duration",
  fields: [
    { no: 1, name: "seconds", kind: "int64" },
    { no: 2, name: "nanos", kind: "int32" },
  ],
  check(value, path) {
    const seconds = (value.seconds ?? 0) as number;
    const nanos = (value.nanos ?? 0) as number;
    if (typeof nanos === "number" && (nanos <= -1e9 || nanos >= 1e9)) {
      throw new TypeError(`${path}.nanos must be between -999999999 and 999999999, not ${nanos}`);
    }
    if (typeof seconds === "number" && typeof nanos === "number" && seconds * nanos < 0) {
      throw new TypeError(`${path}: seconds (${seconds}) and nanos (${nanos}) must have the same sign`);
    }
  },
};

/** `google.rpc.LocalizedMessage`: a message for the user in a locale such as `"en-US"`. */
export interface LocalizedMessage {
  locale: string;
  message: string;
}
const LOCALIZED_MESSAGE: Schema = {
  typeName: "google.rpc.LocalizedMessage",
  fields: [str(1, "locale"), str(2, "message")],
};
/** The detail type `google.rpc.LocalizedMessage`: `packDetail(LocalizedMessage, {…})`, `findDetail(error, LocalizedMessage)`. */
export const LocalizedMessage: DetailType<LocalizedMessage, DetailInit<LocalizedMessage>> = schemaType(
  LOCALIZED_MESSAGE,
);

/** `google.rpc.ErrorInfo`: the cause, as a `reason` constant within a `domain`, and metadata. */
export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}
/** The detail type `google.rpc.ErrorInfo`: `packDetail(ErrorInfo, {…})`, `findDetail(error, ErrorInfo)`. */
export const ErrorInfo: DetailType<ErrorInfo, DetailInit<ErrorInfo>> = schemaType({
  typeName: "google.rpc.ErrorInfo",
  fields: [str(1, "reason"), str(2, "domain"), { no: 3, name: "metadata", kind: "map" }],
});

/** `google.rpc.RetryInfo`: how long to wait before trying again. */
export interface RetryInfo {
  retryDelay: Duration | undefined;
}
/** The detail type `google.rpc.RetryInfo`: `packDetail(RetryInfo, {…})`, `findDetail(error, RetryInfo)`. */
export const RetryInfo: DetailType<RetryInfo, DetailInit<RetryInfo>> = schemaType({
  typeName: "google.rpc.RetryInfo",
  fields: [{ no: 1, name: "retryDelay", kind: "message", schema: () => DURATION }],
});

/** `google.rpc.DebugInfo`: a stack trace and more, for debugging. */
export interface DebugInfo {
  stackEntries: string[];
  detail: string;
}
/** The detail type `google.rpc.DebugInfo`: `packDetail(DebugInfo, {…})`, `findDetail(error, DebugInfo)`. */
export const DebugInfo: DetailType<DebugInfo, DetailInit<DebugInfo>> = schemaType({
  typeName: "google.rpc.DebugInfo",
  fields: [{ no: 1, name: "stackEntries", kind: "string", repeated: true }, str(2, "detail")],
});

/** One quota that a request went over. */
export interface QuotaFailure_Violation {
  subject: string;
  description: string;
  apiService: string;
  quotaMetric: string;
  quotaId: string;
  quotaDimensions: Record<string, string>;
  quotaValue: number;
  /** Present only when a change to the quota is pending. */
  futureQuotaValue: number | undefined;
}
const QUOTA_VIOLATION: Schema = {
  typeName: "google.rpc.QuotaFailure.Violation",
  fields: [
    str(1, "subject"),
    str(2, "description"),
    str(3, "apiService"),
    str(4, "quotaMetric"),
    str(5, "quotaId"),
    { no: 6, name: "quotaDimensions", kind: "map" },
    { no: 7, name: "quotaValue", kind: "int64" },
    { no: 8, name: "futureQuotaValue", kind: "int64", optional: true },
  ],
};

/** `google.rpc.QuotaFailure`: the quotas a request went over. */
export interface QuotaFailure {
  violations: QuotaFailure_Violation[];
}
/** The detail type `google.rpc.QuotaFailure`: `packDetail(QuotaFailure, {…})`, `findDetail(error, QuotaFailure)`. */
export const QuotaFailure: DetailType<QuotaFailure, DetailInit<QuotaFailure>> = schemaType({
  typeName: "google.rpc.QuotaFailure",
  fields: [{ no: 1, name: "violations", kind: "message", schema: () => QUOTA_VIOLATION, repeated: true }],
});

/** One precondition that failed, such as `{ type: "TOS", subject: "example.com/terms" }`. */
export interface PreconditionFailure_Violation {
  type: string;
  subject: string;
  description: string;
}
const PRECONDITION_VIOLATION: Schema = {
  typeName: "google.rpc.PreconditionFailure.Violation",
  fields: [str(1, "type"), str(2, "subject"), str(3, "description")],
};

/** `google.rpc.PreconditionFailure`: the preconditions that failed. */
export interface PreconditionFailure {
  violations: PreconditionFailure_Violation[];
}
/** The detail type `google.rpc.PreconditionFailure`: `packDetail(PreconditionFailure, {…})`, `findDetail(error, PreconditionFailure)`. */
export const PreconditionFailure: DetailType<PreconditionFailure, DetailInit<PreconditionFailure>> = schemaType({
  typeName: "google.rpc.PreconditionFailure",
  fields: [{ no: 1, name: "violations", kind: "message", schema: () => PRECONDITION_VIOLATION, repeated: true }],
});

/** One field of a request that is wrong: its path (`"user.email"`), and why. */
export interface BadRequest_FieldViolation {
  field: string;
  description: string;
  reason: string;
  localizedMessage: LocalizedMessage | undefined;
}
const FIELD_VIOLATION: Schema = {
  typeName: "google.rpc.BadRequest.FieldViolation",
  fields: [
    str(1, "field"),
    str(2, "description"),
    str(3, "reason"),
    { no: 4, name: "localizedMessage", kind: "message", schema: () => LOCALIZED_MESSAGE },
  ],
};

/** `google.rpc.BadRequest`: the fields of a request that are wrong. */
export interface BadRequest {
  fieldViolations: BadRequest_FieldViolation[];
}
/** The detail type `google.rpc.BadRequest`: `packDetail(BadRequest, {…})`, `findDetail(error, BadRequest)`. */
export const BadRequest: DetailType<BadRequest, DetailInit<BadRequest>> = schemaType({
  typeName: "google.rpc.BadRequest",
  fields: [{ no: 1, name: "fieldViolations", kind: "message", schema: () => FIELD_VIOLATION, repeated: true }],
});

/** `google.rpc.RequestInfo`: the request's id, for a bug report, and opaque data for the service. */
export interface RequestInfo {
  requestId: string;
  servingData: string;
}
/** The detail type `google.rpc.RequestInfo`: `packDetail(RequestInfo, {…})`, `findDetail(error, RequestInfo)`. */
export const RequestInfo: DetailType<RequestInfo, DetailInit<RequestInfo>> = schemaType({
  typeName: "google.rpc.RequestInfo",
  fields: [str(1, "requestId"), str(2, "servingData")],
});

/** `google.rpc.ResourceInfo`: the resource the request was about. */
export interface ResourceInfo {
  resourceType: string;
  resourceName: string;
  owner: string;
  description: string;
}
/** The detail type `google.rpc.ResourceInfo`: `packDetail(ResourceInfo, {…})`, `findDetail(error, ResourceInfo)`. */
export const ResourceInfo: DetailType<ResourceInfo, DetailInit<ResourceInfo>> = schemaType({
  typeName: "google.rpc.ResourceInfo",
  fields: [str(1, "resourceType"), str(2, "resourceName"), str(3, "owner"), str(4, "description")],
});

/** One link of a Help. */
export interface Help_Link {
  description: string;
  url: string;
}
const HELP_LINK: Schema = { typeName: "google.rpc.Help.Link", fields: [str(1, "description"), str(2, "url")] };

/** `google.rpc.Help`: links to documentation, or to where the problem can be fixed. */
export interface Help {
  links: Help_Link[];
}
/** The detail type `google.rpc.Help`: `packDetail(Help, {…})`, `findDetail(error, Help)`. */
export const Help: DetailType<Help, DetailInit<Help>> = schemaType({
  typeName: "google.rpc.Help",
  fields: [{ no: 1, name: "links", kind: "message", schema: () => HELP_LINK, repeated: true }],
});
