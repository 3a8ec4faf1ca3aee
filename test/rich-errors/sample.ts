/**
 * One of each standard error detail, with values that test the edges: an
 * int64 at 2^53 - 1, a negative one, UTF-8 beyond ASCII, a map key named
 * `__proto__`, empty strings, nested messages. The same set three ways:
 * as leaksafe packs it, as the values leaksafe decodes, and as the proto3
 * JSON that another protobuf library prints for the same bytes.
 */
import type { StatusDetail } from "leaksafe";
import {
  BadRequest,
  DebugInfo,
  ErrorInfo,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  packDetail,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from "leaksafe/error-details";

export const ERROR_INFO: ErrorInfo = {
  reason: "STOCKOUT",
  domain: "shop.example.com",
  metadata: { region: "eu-west-1", ["__proto__"]: "kept as a key", "": "empty key" },
};
export const RETRY_INFO: RetryInfo = { retryDelay: { seconds: 2, nanos: 500_000_000 } };
export const DEBUG_INFO: DebugInfo = { stackEntries: ["at handler (chat.ts:10)", "at run (server.ts:42)"], detail: "" };
export const QUOTA_FAILURE: QuotaFailure = {
  violations: [
    {
      subject: "project:7",
      description: "daily writes",
      apiService: "chat.example.com",
      quotaMetric: "chat.example.com/writes",
      quotaId: "WritesPerDay",
      quotaDimensions: { region: "eu" },
      quotaValue: Number.MAX_SAFE_INTEGER,
      futureQuotaValue: 0,
    },
    {
      subject: "user:ada",
      description: "",
      apiService: "",
      quotaMetric: "",
      quotaId: "",
      quotaDimensions: {},
      quotaValue: -5,
      futureQuotaValue: undefined,
    },
  ],
};
export const PRECONDITION_FAILURE: PreconditionFailure = {
  violations: [{ type: "TOS", subject: "example.com/terms", description: "the terms are not accepted" }],
};
export const BAD_REQUEST: BadRequest = {
  fieldViolations: [
    {
      field: "author",
      description: "must not be empty",
      reason: "EMPTY",
      localizedMessage: { locale: "fr-CH", message: "ne doit pas être vide ✓" },
    },
    { field: "text", description: "too long", reason: "", localizedMessage: undefined },
  ],
};
export const REQUEST_INFO: RequestInfo = { requestId: "req-42", servingData: "opaque" };
export const RESOURCE_INFO: ResourceInfo = {
  resourceType: "room",
  resourceName: "rooms/lobby",
  owner: "user:ada",
  description: "read only",
};
export const HELP: Help = { links: [{ description: "quotas", url: "https://example.com/quotas" }] };
export const LOCALIZED_MESSAGE: LocalizedMessage = { locale: "ja-JP", message: "在庫切れです" };

/** The ten, packed by leaksafe, in this order. */
export function sampleDetails(): StatusDetail[] {
  return [
    packDetail(ErrorInfo, ERROR_INFO),
    packDetail(RetryInfo, RETRY_INFO),
    packDetail(DebugInfo, DEBUG_INFO),
    packDetail(QuotaFailure, QUOTA_FAILURE),
    packDetail(PreconditionFailure, PRECONDITION_FAILURE),
    packDetail(BadRequest, BAD_REQUEST),
    packDetail(RequestInfo, REQUEST_INFO),
    packDetail(ResourceInfo, RESOURCE_INFO),
    packDetail(Help, HELP),
    packDetail(LocalizedMessage, LOCALIZED_MESSAGE),
  ];
}

const T = "type.googleapis.com/google.rpc.";

/**
 * The same ten as proto3 JSON (camelCase names; int64 as strings; Duration
 * as seconds; defaults left out), the form that protobuf-es and Python's
 * json_format both print.
 */
export const SAMPLE_JSON = [
  {
    "@type": `${T}ErrorInfo`,
    reason: "STOCKOUT",
    domain: "shop.example.com",
    metadata: { region: "eu-west-1", ["__proto__"]: "kept as a key", "": "empty key" },
  },
  { "@type": `${T}RetryInfo`, retryDelay: "2.500s" },
  { "@type": `${T}DebugInfo`, stackEntries: ["at handler (chat.ts:10)", "at run (server.ts:42)"] },
  {
    "@type": `${T}QuotaFailure`,
    violations: [
      {
        subject: "project:7",
        description: "daily writes",
        apiService: "chat.example.com",
        quotaMetric: "chat.example.com/writes",
        quotaId: "WritesPerDay",
        quotaDimensions: { region: "eu" },
        quotaValue: "9007199254740991",
        futureQuotaValue: "0",
      },
      { subject: "user:ada", quotaValue: "-5" },
    ],
  },
  {
    "@type": `${T}PreconditionFailure`,
    violations: [{ type: "TOS", subject: "example.com/terms", description: "the terms are not accepted" }],
  },
  {
    "@type": `${T}BadRequest`,
    fieldViolations: [
      {
        field: "author",
        description: "must not be empty",
        reason: "EMPTY",
        localizedMessage: { locale: "fr-CH", message: "ne doit pas être vide ✓" },
      },
      { field: "text", description: "too long" },
    ],
  },
  { "@type": `${T}RequestInfo`, requestId: "req-42", servingData: "opaque" },
  {
    "@type": `${T}ResourceInfo`,
    resourceType: "room",
    resourceName: "rooms/lobby",
    owner: "user:ada",
    description: "read only",
  },
  { "@type": `${T}Help`, links: [{ description: "quotas", url: "https://example.com/quotas" }] },
  { "@type": `${T}LocalizedMessage`, locale: "ja-JP", message: "在庫切れです" },
];
