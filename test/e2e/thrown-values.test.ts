/**
 * A handler that throws something other than an Error: the client gets
 * UNKNOWN with a readable message, never "[object Object]", "undefined" or
 * an empty one, whatever the method kind and however the handler fails.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { RpcError, Status } from "leaksafe";
import type { ChatMessage, UploadChunk } from "../../generated-example/example/v1/chat.js";
import { type Harness, startChat } from "./harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

class QuotaExceeded {
  readonly limit = 5;
}
const cyclic: { name: string; self?: unknown } = { name: "loop" };
cyclic.self = cyclic;

/** What a handler throws, and the details the client must get. */
const CASES: ReadonlyArray<{ thrown: unknown; details: string }> = [
  { thrown: { reason: "quota" }, details: '{"reason":"quota"}' },
  { thrown: ["a", 1], details: '["a",1]' },
  { thrown: "text", details: "text" },
  { thrown: "", details: "an empty string was thrown" },
  { thrown: undefined, details: "undefined was thrown" },
  { thrown: null, details: "null was thrown" },
  { thrown: 42, details: "42 was thrown" },
  { thrown: 7n, details: "7n was thrown" },
  { thrown: new QuotaExceeded(), details: "QuotaExceeded { limit: 5 }" },
  { thrown: cyclic, details: "<ref *1> { name: 'loop', self: [Circular *1] }" },
  { thrown: new Error(""), details: "Error with no message" },
];

/** The case a request names: each call carries its case's index. */
const thrownFor = (index: string | number): unknown => CASES[Number(index)]?.thrown;

async function expectDetails(call: Promise<unknown>, details: string, what: string): Promise<void> {
  const error = await call.then(
    () => assert.fail(`${what}: expected a rejection`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof RpcError, `${what}: ${String(error)}`);
  assert.equal(error.code, Status.UNKNOWN, `${what}: ${error.message}`);
  assert.equal(error.details, details, what);
  assert.equal(error.message, `UNKNOWN: ${details}`, what);
}

async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

test("unary: a non-Error thrown synchronously, or rejected later, reaches the client readably", async () => {
  harness = await startChat({
    post(request) {
      const [how, index] = request.text.split(":");
      if (how === "sync") throw thrownFor(index ?? "");
      return Promise.reject(thrownFor(index ?? ""));
    },
  });
  const { client } = harness;
  for (const [i, { details }] of CASES.entries()) {
    for (const how of ["sync", "async"]) {
      await expectDetails(client.post({ author: "a", text: `${how}:${i}` }), details, `${how} case ${i}`);
    }
  }
});

test("server streaming: a generator that throws a non-Error after a message reaches the client readably", async () => {
  harness = await startChat({
    async *watch(request) {
      yield { revision: 1, at: undefined };
      throw thrownFor(request.afterRevision);
    },
  });
  const { client } = harness;
  for (const [i, { details }] of CASES.entries()) {
    let received = 0;
    const counted = (async () => {
      for await (const _ of client.watch({ afterRevision: i })) received++;
    })();
    await expectDetails(counted, details, `case ${i}`);
    assert.equal(received, 1, "the message before the throw arrives");
  }
});

test("client streaming: a handler that throws a non-Error after reading reaches the client readably", async () => {
  harness = await startChat({
    async upload(chunks) {
      for await (const chunk of chunks) throw thrownFor(chunk.name);
      return { name: "", bytes: 0, chunks: 0 };
    },
  });
  const { client } = harness;
  for (const [i, { details }] of CASES.entries()) {
    const chunks: UploadChunk[] = [{ name: String(i), data: new Uint8Array(1) }];
    await expectDetails(client.upload(chunks), details, `case ${i}`);
  }
});

test("bidi: a handler that throws a non-Error, at once or after a reply, reaches the client readably", async () => {
  harness = await startChat({
    async *converse(messages) {
      for await (const m of messages) {
        const [when, index] = m.text.split(":");
        if (when === "after") yield { author: "bot", text: "first" };
        throw thrownFor(index ?? "");
      }
    },
  });
  const { client } = harness;
  for (const [i, { details }] of CASES.entries()) {
    for (const when of ["before", "after"]) {
      const messages: ChatMessage[] = [{ author: "a", text: `${when}:${i}` }];
      await expectDetails(drain(client.converse(messages)), details, `${when} case ${i}`);
    }
  }
});

test("a streaming handler that throws a non-Error instead of returning an iterable reaches the client readably", async () => {
  harness = await startChat({
    watch(request) {
      throw thrownFor(request.afterRevision);
    },
  });
  const { client } = harness;
  for (const [i, { details }] of CASES.entries()) {
    await expectDetails(drain(client.watch({ afterRevision: i })), details, `case ${i}`);
  }
});
