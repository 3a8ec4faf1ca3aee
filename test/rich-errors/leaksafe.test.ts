/**
 * A leaksafe server's RpcError with `statusDetails` reaches a leaksafe
 * client intact, on every method kind: the trailer grpc-status-details-bin
 * carries a google.rpc.Status with the call's code and message. Also: the
 * handler's own trailers ride along, a proxy passes details through,
 * details over the size limit are dropped with a note, and an error with
 * no details sends no trailer for them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, RpcError, STATUS_DETAILS_KEY, STATUS_DETAILS_LIMIT, Status } from "leaksafe";
import { DebugInfo, ErrorInfo, findDetail, packDetail, RetryInfo } from "leaksafe/error-details";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { decodeStatus, encodeStatus } from "../../runtime/status-details.js";
import { startChat } from "../e2e/harness.js";
import { ERROR_INFO, RETRY_INFO, sampleDetails } from "./sample.js";

function failure(): RpcError {
  return new RpcError(Status.RESOURCE_EXHAUSTED, "the room is full", { statusDetails: sampleDetails() });
}

/** Asserts that `error` is the RpcError `failure()` makes, as a client received it. */
function assertReceived(error: unknown): void {
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(error.code, Status.RESOURCE_EXHAUSTED);
  assert.equal(error.details, "the room is full");
  assert.equal(error.reason, "remote");
  assert.equal(error.statusDetailsError, undefined);
  assert.deepEqual(error.statusDetails, sampleDetails());
  assert.deepEqual(findDetail(error, ErrorInfo), ERROR_INFO);
  assert.deepEqual(findDetail(error, RetryInfo), RETRY_INFO);
  assert.equal(error.metadata.get(STATUS_DETAILS_KEY).length, 1, "the raw trailer stays in metadata");
}

test("unary: the details arrive, beside the trailers the handler set", async () => {
  const h = await startChat({
    post(_request, ctx) {
      ctx.responseTrailer.set("x-room", "lobby");
      throw failure();
    },
  });
  try {
    const error = await h.client.post({ author: "ada", text: "hi" }).catch((e: unknown) => e);
    assertReceived(error);
    assert.deepEqual((error as RpcError).metadata.get("x-room"), ["lobby"]);
  } finally {
    await h.close();
  }
});

test("server streaming: the details arrive after the messages sent before the error", async () => {
  const h = await startChat({
    async *watch() {
      yield { revision: 1, at: undefined };
      yield { revision: 2, at: undefined };
      throw failure();
    },
  });
  try {
    const revisions: number[] = [];
    const error = await (async () => {
      for await (const event of h.client.watch({ afterRevision: 0 })) revisions.push(event.revision);
    })().catch((e: unknown) => e);
    assert.deepEqual(revisions, [1, 2]);
    assertReceived(error);
  } finally {
    await h.close();
  }
});

test("client streaming and bidi: the details arrive", async () => {
  const h = await startChat({
    async upload(chunks) {
      for await (const _ of chunks) throw failure();
      return { name: "", bytes: 0, chunks: 0 };
    },
    async *converse(messages) {
      for await (const message of messages) {
        yield message;
        throw failure();
      }
    },
  });
  try {
    assertReceived(await h.client.upload([{ name: "a", data: new Uint8Array(1) }]).catch((e: unknown) => e));
    const echoed: string[] = [];
    const error = await (async () => {
      for await (const m of h.client.converse([{ author: "ada", text: "hi" }])) echoed.push(m.text);
    })().catch((e: unknown) => e);
    assert.deepEqual(echoed, ["hi"]);
    assertReceived(error);
  } finally {
    await h.close();
  }
});

test("a proxy that rethrows its upstream's RpcError passes the details on", async () => {
  const upstream = await startChat({
    post() {
      throw failure();
    },
  });
  const proxyClient = createClient(ChatService, `127.0.0.1:${upstream.port}`);
  const proxy = await startChat({ post: (request) => proxyClient.post(request) });
  try {
    assertReceived(await proxy.client.post({ author: "ada", text: "hi" }).catch((e: unknown) => e));
  } finally {
    proxyClient.close();
    await proxy.close();
    await upstream.close();
  }
});

test("a proxy that wraps its upstream's error sends the details under its own status, or none that contradict it", async () => {
  const upstream = await startChat({
    post() {
      throw failure();
    },
  });
  const proxyClient = createClient(ChatService, `127.0.0.1:${upstream.port}`);
  const proxy = await startChat({
    async post(request) {
      const error = await proxyClient.post(request).then(
        () => assert.fail("the upstream call should fail"),
        (e: RpcError) => e,
      );
      // Same code, own message: the details are sent again, with this message.
      if (request.text === "same") throw new RpcError(error.code, "wrapped", { metadata: error.metadata });
      // Another code: the upstream's Status would contradict it.
      throw new RpcError(Status.UNAVAILABLE, "the upstream failed", { metadata: error.metadata });
    },
  });
  try {
    const same = (await proxy.client.post({ author: "", text: "same" }).catch((e: unknown) => e)) as RpcError;
    assert.equal(same.details, "wrapped");
    assert.deepEqual(same.statusDetails, sampleDetails());
    const sent = decodeStatus(same.metadata.get(STATUS_DETAILS_KEY)[0] as Buffer);
    assert.deepEqual([sent.code, sent.message], [Status.RESOURCE_EXHAUSTED, "wrapped"]);

    const other = (await proxy.client.post({ author: "", text: "other" }).catch((e: unknown) => e)) as RpcError;
    assert.equal(other.code, Status.UNAVAILABLE);
    assert.deepEqual(other.statusDetails, []);
    assert.equal(other.statusDetailsError, undefined, "no contradicting trailer arrived");
    assert.deepEqual(other.metadata.get(STATUS_DETAILS_KEY), []);
  } finally {
    proxyClient.close();
    await proxy.close();
    await upstream.close();
  }
});

test(`details up to ${STATUS_DETAILS_LIMIT} bytes are sent; more are dropped and the message says so`, async () => {
  // A DebugInfo whose Status is exactly the limit, and one a byte over it.
  const sized = (total: number) => {
    let detail = "";
    const details = () => [packDetail(DebugInfo, { detail })];
    while (encodeStatus({ code: Status.INTERNAL, message: "boom", details: details() }).length < total) detail += "x";
    assert.equal(encodeStatus({ code: Status.INTERNAL, message: "boom", details: details() }).length, total);
    return details();
  };
  let details = sized(STATUS_DETAILS_LIMIT);
  const h = await startChat({
    post() {
      throw new RpcError(Status.INTERNAL, "boom", { statusDetails: details });
    },
  });
  try {
    const fits = (await h.client.post({ author: "", text: "" }).catch((e: unknown) => e)) as RpcError;
    assert.equal(fits.details, "boom");
    assert.deepEqual(fits.statusDetails, details);

    details = sized(STATUS_DETAILS_LIMIT + 1);
    const over = (await h.client.post({ author: "", text: "" }).catch((e: unknown) => e)) as RpcError;
    assert.equal(over.code, Status.INTERNAL);
    assert.equal(
      over.details,
      `boom (1 status detail was dropped: its google.rpc.Status is ${STATUS_DETAILS_LIMIT + 1} bytes, over the limit of ${STATUS_DETAILS_LIMIT})`,
    );
    assert.deepEqual(over.statusDetails, []);
    assert.deepEqual(over.metadata.get(STATUS_DETAILS_KEY), []);
  } finally {
    await h.close();
  }
});

test("an error with no details sends no grpc-status-details-bin", async () => {
  const h = await startChat({
    post() {
      throw new RpcError(Status.NOT_FOUND, "no such room");
    },
  });
  try {
    const error = (await h.client.post({ author: "", text: "" }).catch((e: unknown) => e)) as RpcError;
    assert.equal(error.code, Status.NOT_FOUND);
    assert.deepEqual(error.metadata.get(STATUS_DETAILS_KEY), []);
    assert.deepEqual(error.statusDetails, []);
    assert.equal(error.statusDetailsError, undefined);
  } finally {
    await h.close();
  }
});
