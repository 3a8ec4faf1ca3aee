/**
 * A hostile or broken server's grpc-status-details-bin, from a raw HTTP/2
 * peer that writes any bytes: the leaksafe client's call ends with the
 * status the server sent (its grpc-status and grpc-message), with no
 * details, and `statusDetailsError` says what was wrong. Nothing throws
 * elsewhere, nothing hangs, and the client goes on working.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, RpcError, STATUS_DETAILS_KEY, Status } from "leaksafe";
import { ErrorInfo, findDetail, packDetail } from "leaksafe/error-details";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { encodeStatus } from "../../runtime/status-details.js";
import { startRawServer } from "../hostile/raw-server.js";

const base64 = (bytes: number[] | Uint8Array) => Buffer.from(Uint8Array.from(bytes)).toString("base64");
const valid = (code: number) =>
  base64(encodeStatus({ code, message: "bad", details: [packDetail(ErrorInfo, { reason: "R" })] }));

/** What each trailer value gives: the text of `statusDetailsError`. */
const CASES: Array<[string, string, RegExp]> = [
  [
    "a truncated varint",
    base64([0x08, 0x80]),
    /\(2 bytes\) is not a valid google\.rpc\.Status: byte 1: a varint is cut short/,
  ],
  [
    "the wrong wire type",
    base64([0x0a, 0x01, 0x41]),
    /: byte 0: field 1 \(code\) has wire type 2 \(length-delimited\), not 0 \(varint\)$/,
  ],
  ["a length past the end", base64([0x12, 0x05, 0x61]), /: byte 1: a length of 5 runs past the end \(1 byte left\)$/],
  [
    "a huge length",
    base64([0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    /: byte 1: a length of 9223372036854775807 runs past the end \(0 bytes left\)$/,
  ],
  ["a varint that never ends", base64(Array(40).fill(0xff)), /: byte 0: a varint runs past 10 bytes$/],
  ["a broken Any", base64([0x08, 0x03, 0x1a, 0x02, 0x0a, 0x05]), /: details\[0\]: byte 5: a length of 5 runs/],
  [
    "30 KB of noise",
    base64(Uint8Array.from({ length: 30_000 }, (_, i) => (i * 7919) % 251)),
    /^grpc-status-details-bin \(30000 bytes\) is not a valid google\.rpc\.Status: /,
  ],
  [
    "text that is not base64",
    "%%% not base64 %%%",
    // grpc-js decodes base64 as Node does, skipping what is not base64: the letters left are noise.
    /^grpc-status-details-bin \(6 bytes\) is not a valid google\.rpc\.Status: byte 0: field 186547 has wire type 6/,
  ],
  [
    "a Status for another code",
    valid(Status.NOT_FOUND),
    /^grpc-status-details-bin holds a google\.rpc\.Status with code 5 \(NOT_FOUND\), but grpc-status is 3 \(INVALID_ARGUMENT\); its details were not taken$/,
  ],
];

test("malformed grpc-status-details-bin: the call keeps its own status, with a note; no crash, no hang", async () => {
  const leaks = createLeakChecker();
  let trailer = "";
  const server = await startRawServer((call) => {
    const trailers = { "grpc-status": "3", "grpc-message": "bad", [STATUS_DETAILS_KEY]: trailer };
    if (call.path.endsWith("/Post")) {
      call.trailersOnly(trailers);
    } else {
      call.respond();
      call.writeMessage(Uint8Array.from([0x08, 0x07]));
      call.trail(trailers);
    }
  });
  const client = createClient(ChatService, `127.0.0.1:${server.port}`);
  leaks.track({ registries: [client] });
  const watch = async () => {
    const revisions: number[] = [];
    const error = await (async () => {
      for await (const event of client.watch({ afterRevision: 0 })) revisions.push(event.revision);
    })().catch((e: unknown) => e);
    assert.deepEqual(revisions, [7]);
    return error;
  };
  try {
    for (const [name, value, note] of CASES) {
      trailer = value;
      for (const [kind, error] of [
        ["unary", await client.post({ author: "", text: "" }).catch((e: unknown) => e)],
        ["streaming", await watch()],
      ]) {
        const what = `${name}, ${kind}`;
        assert.ok(error instanceof RpcError, `${what}: ${String(error)}`);
        assert.equal(error.code, Status.INVALID_ARGUMENT, what);
        assert.equal(error.details, "bad", what);
        assert.deepEqual(error.statusDetails, [], what);
        assert.match(error.statusDetailsError ?? "(none)", note, what);
        assert.ok(error.metadata.get(STATUS_DETAILS_KEY).length > 0, `${what}: the raw bytes stay in metadata`);
      }
    }
    // The same client, and a well-formed trailer: read as it should be.
    trailer = valid(3);
    for (const error of [await client.post({ author: "", text: "" }).catch((e: unknown) => e), await watch()]) {
      assert.ok(error instanceof RpcError);
      assert.equal(error.statusDetailsError, undefined);
      assert.deepEqual(findDetail(error, ErrorInfo), { reason: "R", domain: "", metadata: {} });
    }
  } finally {
    client.close();
    await server.close();
    await leaks.assertNoLeaks();
  }
});
