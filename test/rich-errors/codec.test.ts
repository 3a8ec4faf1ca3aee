/**
 * leaksafe's hand-written codec of google.rpc.Status and the standard error
 * details, against @bufbuild/protobuf reading and writing the same messages
 * from our own .proto files; malformed bytes and bad input, each with its
 * precise error. No network here: the calls are in the other test files.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { RpcError, STATUS_DETAILS_KEY, Status, type StatusDetail } from "leaksafe";
import {
  BadRequest,
  DebugInfo,
  type DetailType,
  defineDetailType,
  ErrorInfo,
  findDetail,
  findDetails,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  packDetail,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
  unpackDetail,
} from "leaksafe/error-details";
import { PostRequest } from "../../generated-example/example/v1/chat.js";
import { decodeStatus, encodeStatus, readStatusDetails } from "../../runtime/status-details.js";
import { WireError } from "../../runtime/wire-reader.js";
import { foreignStatusBytes, foreignStatusJson, removeGenerated } from "./foreign.js";
import {
  BAD_REQUEST,
  DEBUG_INFO,
  ERROR_INFO,
  HELP,
  LOCALIZED_MESSAGE,
  PRECONDITION_FAILURE,
  QUOTA_FAILURE,
  REQUEST_INFO,
  RESOURCE_INFO,
  RETRY_INFO,
  SAMPLE_JSON,
  sampleDetails,
} from "./sample.js";

after(removeGenerated);

const EXPECTED: Array<[DetailType<unknown, never>, unknown]> = [
  [ErrorInfo, ERROR_INFO],
  [RetryInfo, RETRY_INFO],
  [DebugInfo, DEBUG_INFO],
  [QuotaFailure, QUOTA_FAILURE],
  [PreconditionFailure, PRECONDITION_FAILURE],
  [BadRequest, BAD_REQUEST],
  [RequestInfo, REQUEST_INFO],
  [ResourceInfo, RESOURCE_INFO],
  [Help, HELP],
  [LocalizedMessage, LOCALIZED_MESSAGE],
];

test("a Status that leaksafe encodes reads back in @bufbuild/protobuf as the same ten details", () => {
  const bytes = encodeStatus({ code: Status.RESOURCE_EXHAUSTED, message: "out of stock", details: sampleDetails() });
  assert.deepEqual(foreignStatusJson(bytes), { code: 8, message: "out of stock", details: SAMPLE_JSON });
});

test("a Status that @bufbuild/protobuf encodes reads back in leaksafe as the same ten details", () => {
  const status = decodeStatus(foreignStatusBytes(8, "out of stock", SAMPLE_JSON));
  assert.equal(status.code, 8);
  assert.equal(status.message, "out of stock");
  assert.equal(status.details.length, EXPECTED.length);
  for (const [type, value] of EXPECTED) {
    assert.deepEqual(findDetail(status.details, type), value, type.typeName);
  }
  const info = findDetail(status.details, ErrorInfo);
  assert.equal(
    Object.getPrototypeOf(info?.metadata),
    Object.prototype,
    "a __proto__ key did not replace the prototype",
  );
  assert.ok(Object.hasOwn(info?.metadata ?? {}, "__proto__"));
});

test("absent fields decode to their defaults, and a subset of fields is enough to pack", () => {
  assert.deepEqual(unpackDetail(packDetail(QuotaFailure, { violations: [{}] }), QuotaFailure), {
    violations: [
      {
        subject: "",
        description: "",
        apiService: "",
        quotaMetric: "",
        quotaId: "",
        quotaDimensions: {},
        quotaValue: 0,
        futureQuotaValue: undefined,
      },
    ],
  });
  assert.deepEqual(unpackDetail(packDetail(RetryInfo, {}), RetryInfo), { retryDelay: undefined });
  assert.deepEqual(unpackDetail(packDetail(RetryInfo, { retryDelay: {} }), RetryInfo), {
    retryDelay: { seconds: 0, nanos: 0 },
  });
  assert.deepEqual(
    foreignStatusJson(encodeStatus({ code: 3, message: "", details: [packDetail(RetryInfo, { retryDelay: {} })] })),
    { code: 3, details: [{ "@type": RetryInfo.typeUrl, retryDelay: "0s" }] },
    "an empty message that is present stays present",
  );
});

test("unknown fields are skipped, in the Status, in an Any and in a detail", () => {
  const unknown = [
    0xa0, 0x06, 0x96, 0x01, /* field 100, varint 150 */ 0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8 /* field 101, 64-bit */,
    0xb5, 0x06, 1, 2, 3, 4 /* field 102, 32-bit */, 0xba, 0x06, 2, 0xff, 0xfe /* field 103, bytes (not UTF-8) */,
  ];
  const info = packDetail(ErrorInfo, { reason: "R" });
  const detailBytes = Uint8Array.from([...unknown, ...info.value, ...unknown]);
  const typeUrl = new TextEncoder().encode(info.typeUrl);
  const any = [...unknown, 0x0a, typeUrl.length, ...typeUrl, 0x12, detailBytes.length, ...detailBytes];
  const status = decodeStatus(Uint8Array.from([...unknown, 0x08, 5, 0x1a, any.length, ...any, ...unknown]));
  assert.equal(status.code, 5);
  assert.deepEqual(findDetail(status.details, ErrorInfo), { reason: "R", domain: "", metadata: {} });
});

/** Malformed Status bytes, and the error each one gives. */
const MALFORMED: Array<[string, number[], string]> = [
  ["a truncated varint", [0x08, 0x80], "byte 1: a varint is cut short by the end of the bytes"],
  ["a varint of 11 bytes", [0x08, ...Array(11).fill(0xff)], "byte 1: a varint runs past 10 bytes"],
  ["a varint over 64 bits", [0x08, ...Array(9).fill(0xff), 0x02], "byte 1: a varint is larger than 64 bits"],
  [
    "the wrong wire type for code",
    [0x0a, 0x01, 0x41],
    "byte 0: field 1 (code) has wire type 2 (length-delimited), not 0 (varint)",
  ],
  ["a length past the end", [0x12, 0x05, 0x61], "byte 1: a length of 5 runs past the end (1 byte left)"],
  [
    "a huge length",
    [0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    "byte 1: a length of 9223372036854775807 runs past the end (0 bytes left)",
  ],
  ["a group", [0x0b], "byte 0: field 1 has wire type 3 (group start), which is not supported"],
  ["wire type 7", [0x0f], "byte 0: field 1 has wire type 7 (not a wire type), which is not supported"],
  ["field number 0", [0x00], "byte 0: field number 0 is not between 1 and 536870911"],
  ["a message that is not UTF-8", [0x12, 0x01, 0xff], "byte 1: a string is not valid UTF-8"],
  ["a cut 64-bit unknown field", [0x99, 0x06, 0x01], "byte 2: a 64-bit value is cut short (1 byte left)"],
  [
    "an Any cut short",
    [0x08, 0x03, 0x1a, 0x02, 0x0a, 0x05],
    "details[0]: byte 5: a length of 5 runs past the end (0 bytes left)",
  ],
];

for (const [name, bytes, message] of MALFORMED) {
  test(`malformed: ${name} is a WireError that says where`, () => {
    assert.throws(
      () => decodeStatus(Uint8Array.from(bytes)),
      (error: unknown) => error instanceof WireError && error.message === message,
    );
    const metadata = new Metadata();
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(bytes));
    const read = readStatusDetails(metadata, Status.INVALID_ARGUMENT);
    assert.deepEqual(read.details, []);
    assert.equal(
      read.error,
      `grpc-status-details-bin (${bytes.length} bytes) is not a valid google.rpc.Status: ${message}`,
    );
  });
}

test("any bytes at all decode or fail with a WireError, never another error and never a hang", () => {
  let seed = 0x2545f491;
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const valid = encodeStatus({ code: 3, message: "m", details: sampleDetails() });
  let failures = 0;
  for (let i = 0; i < 3000; i++) {
    let bytes: Uint8Array;
    if (i % 3 === 0) {
      bytes = valid.subarray(0, random(valid.length));
    } else if (i % 3 === 1) {
      bytes = Uint8Array.from(valid);
      for (let j = 0; j < 4; j++) bytes[random(bytes.length)] = random(256);
    } else {
      bytes = Uint8Array.from({ length: random(64) }, () => random(256));
    }
    try {
      const status = decodeStatus(bytes);
      for (const [type] of EXPECTED) {
        try {
          findDetails(status.details, type);
        } catch (error) {
          assert.match(
            (error as Error).message,
            /^statusDetails\[\d+\] is a google\.rpc\.\w+ that could not be decoded: /,
          );
          assert.ok((error as Error).cause instanceof WireError, String((error as Error).cause));
        }
      }
    } catch (error) {
      assert.ok(error instanceof WireError, String(error));
      failures++;
    }
  }
  assert.ok(failures > 100, `only ${failures} of 3000 inputs were refused: the cases do not exercise the reader`);
});

test("the Status's code must be grpc-status's; a string value or two values are not read", () => {
  const bytes = encodeStatus({ code: Status.NOT_FOUND, message: "gone", details: sampleDetails() });
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(bytes));
  assert.equal(readStatusDetails(metadata, Status.NOT_FOUND).details.length, 10);
  const other = readStatusDetails(metadata, Status.INTERNAL);
  assert.deepEqual(other.details, []);
  assert.equal(
    other.error,
    "grpc-status-details-bin holds a google.rpc.Status with code 5 (NOT_FOUND), but grpc-status is 13 (INTERNAL); its details were not taken",
  );
  metadata.add(STATUS_DETAILS_KEY, Buffer.from(bytes));
  assert.equal(
    readStatusDetails(metadata, Status.NOT_FOUND).error,
    "grpc-status-details-bin came 2 times; its details were not read",
  );
});

test("RpcError: statusDetails given, or read from its metadata; afterAttempts and from() keep them", () => {
  const details = sampleDetails();
  const thrown = new RpcError(Status.FAILED_PRECONDITION, "no", { statusDetails: details });
  assert.deepEqual(thrown.statusDetails, details);
  assert.ok(Object.isFrozen(thrown.statusDetails));
  assert.equal(thrown.statusDetailsError, undefined);
  assert.deepEqual(new RpcError(Status.INTERNAL, "plain").statusDetails, []);

  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(encodeStatus({ code: 9, message: "no", details })));
  const received = RpcError.from({ code: Status.FAILED_PRECONDITION, details: "no", metadata });
  assert.deepEqual(received.statusDetails, details);
  assert.deepEqual(received.afterAttempts(3).statusDetails, details);

  const bad = new Metadata();
  bad.set(STATUS_DETAILS_KEY, Buffer.from([0x08]));
  const broken = new RpcError(Status.FAILED_PRECONDITION, "no", { metadata: bad });
  assert.match(broken.statusDetailsError ?? "", /is not a valid google\.rpc\.Status: byte 1: a varint is cut short/);
  assert.equal(broken.afterAttempts(2).statusDetailsError, broken.statusDetailsError);
});

test("bad statusDetails throw a TypeError that names the entry", () => {
  const cases: Array<[unknown, RegExp]> = [
    ["x", /^statusDetails must be an array of \{ typeUrl, value \}, not "x"$/],
    [[null], /^statusDetails\[0\] must be an object \{ typeUrl, value \}, not null$/],
    [
      [{ typeUrl: "ErrorInfo", value: new Uint8Array() }],
      /^statusDetails\[0\]\.typeUrl must be a type URL such as "type\.googleapis\.com\/google\.rpc\.ErrorInfo", not "ErrorInfo"$/,
    ],
    [[{ typeUrl: "x/", value: new Uint8Array() }], /^statusDetails\[0\]\.typeUrl must be a type URL/],
    [
      [packDetail(Help, {}), { typeUrl: "a/b.C", value: [1, 2] }],
      /^statusDetails\[1\]\.value must be a Uint8Array, not an array$/,
    ],
  ];
  for (const [statusDetails, message] of cases) {
    assert.throws(
      () => new RpcError(Status.INTERNAL, "x", { statusDetails: statusDetails as StatusDetail[] }),
      (error: unknown) => error instanceof TypeError && message.test(error.message),
      String(message),
    );
  }
});

test("packDetail refuses a field the message lacks, a wrong kind, an unsafe int64 and a bad Duration", () => {
  const cases: Array<[() => unknown, string]> = [
    [
      () => packDetail(ErrorInfo, { reasn: "X" } as never),
      'ErrorInfo has no field "reasn": google.rpc.ErrorInfo has reason, domain, metadata',
    ],
    [() => packDetail(ErrorInfo, { reason: 5 } as never), "ErrorInfo.reason must be a string, not number 5"],
    [
      () => packDetail(ErrorInfo, { metadata: { k: 1 } } as never),
      'ErrorInfo.metadata["k"] must be a string, not number 1',
    ],
    [
      () => packDetail(QuotaFailure, { violations: [{ quotaValue: 2 ** 53 }] }),
      "QuotaFailure.violations[0].quotaValue must be an integer from -(2^53 - 1) to 2^53 - 1, not 9007199254740992",
    ],
    [
      () => packDetail(DebugInfo, { stackEntries: "at x" } as never),
      'DebugInfo.stackEntries must be an array, not "at x"',
    ],
    [
      () => packDetail(RetryInfo, { retryDelay: { seconds: 1, nanos: 1e9 } }),
      "RetryInfo.retryDelay.nanos must be between -999999999 and 999999999, not 1000000000",
    ],
    [
      () => packDetail(RetryInfo, { retryDelay: { seconds: 1, nanos: -1 } }),
      "RetryInfo.retryDelay: seconds (1) and nanos (-1) must have the same sign",
    ],
    [() => packDetail(Help, null as never), "Help must be an object, not null"],
  ];
  for (const [pack, message] of cases) {
    assert.throws(pack, (error: unknown) => error instanceof TypeError && error.message === message, message);
  }
});

test("find and unpack: by full type name under any host; other errors have none; a bad detail throws", () => {
  const info = packDetail(ErrorInfo, { reason: "R" });
  const elsewhere: StatusDetail = { typeUrl: "example.com/types/google.rpc.ErrorInfo", value: info.value };
  const error = new RpcError(Status.ABORTED, "x", { statusDetails: [packDetail(Help, {}), elsewhere, info] });
  assert.deepEqual(findDetail(error, ErrorInfo), { reason: "R", domain: "", metadata: {} });
  assert.equal(findDetails(error, ErrorInfo).length, 2);
  assert.equal(findDetail(error, RetryInfo), undefined);
  assert.equal(unpackDetail(info, Help), undefined);
  for (const none of [new Error("x"), undefined, "text", { statusDetails: "no" }]) {
    assert.equal(findDetail(none, ErrorInfo), undefined);
    assert.deepEqual(findDetails(none, ErrorInfo), []);
  }
  const broken = { typeUrl: ErrorInfo.typeUrl, value: Uint8Array.from([0x0a, 0x09]) };
  assert.throws(
    () => findDetail([packDetail(Help, {}), broken], ErrorInfo),
    (e: unknown) =>
      e instanceof Error &&
      e.message ===
        "statusDetails[1] is a google.rpc.ErrorInfo that could not be decoded: ErrorInfo: byte 1: a length of 9 runs past the end (0 bytes left)",
  );
  assert.throws(() => unpackDetail(broken, ErrorInfo), /^Error: the detail is a google\.rpc\.ErrorInfo that could not/);
});

test("defineDetailType packs and finds a ts-proto message of your own", () => {
  const Post = defineDetailType("example.v1.PostRequest", PostRequest);
  assert.equal(Post.typeUrl, "type.googleapis.com/example.v1.PostRequest");
  const error = new RpcError(Status.ALREADY_EXISTS, "posted", {
    statusDetails: [packDetail(Post, { author: "ada", text: "hi" })],
  });
  assert.deepEqual(findDetail(error, Post), { author: "ada", text: "hi" });
  assert.throws(
    () => defineDetailType("not a name", PostRequest),
    /^TypeError: a detail type's name must be a full message name such as "acme\.v1\.Reason", not "not a name"$/,
  );
  assert.throws(
    () => defineDetailType("a.B", {} as never),
    /^TypeError: defineDetailType\("a\.B"\) needs a codec with encode and decode functions$/,
  );
});

test("int32 and int64 at their edges: the same bytes as @bufbuild/protobuf's, and read back exactly", () => {
  for (const code of [0, 1, 127, 128, 2_147_483_647, -1, -2_147_483_648]) {
    const ours = encodeStatus({ code, message: "", details: [] });
    assert.deepEqual(Buffer.from(ours), foreignStatusBytes(code, "", []), `code ${code}`);
    assert.equal(decodeStatus(ours).code, code);
  }
  // A varint of 5 bytes past 2^31 keeps its low 32 bits, as protobuf reads an int32.
  assert.equal(decodeStatus(Uint8Array.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x08])).code, -2_147_483_648);
  for (const quotaValue of [1, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER, -1, Number.MIN_SAFE_INTEGER]) {
    const detail = packDetail(QuotaFailure, { violations: [{ quotaValue }] });
    assert.equal(unpackDetail(detail, QuotaFailure)?.violations[0]?.quotaValue, quotaValue);
  }
  // violations[0].quota_value = 2^60
  const tooBig = Uint8Array.from([0x0a, 0x0a, 0x38, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
  assert.throws(
    () => findDetail([{ typeUrl: QuotaFailure.typeUrl, value: tooBig }], QuotaFailure),
    /QuotaFailure\.violations\[0\]: byte 3: the int64 1152921504606846976 is beyond what a JavaScript number holds exactly$/,
  );
});
