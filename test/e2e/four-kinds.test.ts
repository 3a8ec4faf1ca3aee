import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { RpcError, Status } from "leaksafe";
import type { ChatMessage, UploadChunk } from "../../generated-example/example/v1/chat.js";
import { aborted, eventually, type Harness, startChat } from "./harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function* messages(n: number, author = "ann"): AsyncGenerator<ChatMessage> {
  for (let i = 0; i < n; i++) {
    yield { author, text: `m${i}` };
  }
}

describe("unary", () => {
  test("round-trips a message with request and response metadata", async () => {
    harness = await startChat({
      async post(request, ctx) {
        ctx.responseHeader.set("x-room", "lobby");
        ctx.responseTrailer.set("x-revision-bin", Buffer.from([1, 2]));
        return { revision: request.text.length + Number(ctx.metadata.get("x-base")[0]) };
      },
    });
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const response = await harness.client.post(
      { author: "ann", text: "hello" },
      { metadata: { "x-base": "100" }, onHeader: (m) => (header = m), onTrailer: (m) => (trailer = m) },
    );
    assert.equal(response.revision, 105);
    assert.deepEqual(header?.get("x-room"), ["lobby"]);
    assert.deepEqual(trailer?.get("x-revision-bin"), [Buffer.from([1, 2])]);
  });

  test("a non-OK status reaches the client as an RpcError with code, details and metadata", async () => {
    harness = await startChat({
      async post() {
        const metadata = new Metadata();
        metadata.set("x-why", "closed");
        throw new RpcError(Status.FAILED_PRECONDITION, "the room is closed", { metadata });
      },
    });
    const error = await harness.client.post({ author: "ann", text: "hi" }).then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RpcError);
    assert.equal(error.code, Status.FAILED_PRECONDITION);
    assert.equal(error.details, "the room is closed");
    assert.equal(error.reason, "remote");
    assert.deepEqual(error.metadata.get("x-why"), ["closed"]);
  });

  test("a handler that throws synchronously gives UNKNOWN with its message", async () => {
    harness = await startChat({
      post() {
        throw new Error("boom in sync code");
      },
    });
    await assert.rejects(harness.client.post({ author: "a", text: "b" }), {
      name: "RpcError",
      code: Status.UNKNOWN,
      details: "boom in sync code",
    });
  });

  test("a handler that rejects gives UNKNOWN with its message", async () => {
    harness = await startChat({
      post: () => Promise.reject(new TypeError("rejected later")),
    });
    await assert.rejects(harness.client.post({ author: "a", text: "b" }), {
      code: Status.UNKNOWN,
      details: "rejected later",
    });
  });

  test("aborting the client's signal cancels the call on both sides", async () => {
    let serverReason: unknown;
    let markStarted = (): void => undefined;
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    harness = await startChat({
      async post(_request, ctx) {
        markStarted();
        serverReason = await aborted(ctx.signal);
        return { revision: 0 };
      },
    });
    const controller = new AbortController();
    const call = harness.client.post({ author: "a", text: "b" }, { signal: controller.signal });
    await started;
    controller.abort();
    await assert.rejects(call, { code: Status.CANCELLED, reason: "cancelled" });
    await eventually(() => serverReason !== undefined, "the server's signal to abort");
    assert.ok(serverReason instanceof RpcError);
    assert.equal(serverReason.code, Status.CANCELLED);
    assert.equal(serverReason.reason, "peer-gone");
  });

  test("an already-aborted signal fails at once and sends nothing", async () => {
    let calls = 0;
    harness = await startChat({
      async post() {
        calls++;
        return { revision: 1 };
      },
    });
    await assert.rejects(harness.client.post({ author: "a", text: "b" }, { signal: AbortSignal.abort() }), {
      code: Status.CANCELLED,
      reason: "cancelled",
    });
    assert.equal(calls, 0);
  });
});

describe("server streaming", () => {
  test("streams every message in order, then ends", async () => {
    harness = await startChat({
      async *watch(request) {
        for (let r = request.afterRevision + 1; r <= request.afterRevision + 50; r++) {
          yield { revision: r, at: new Date(1_700_000_000_000 + r), joined: { who: `u${r}` } };
        }
      },
    });
    const seen: number[] = [];
    for await (const event of harness.client.watch({ afterRevision: 10 })) {
      seen.push(event.revision);
      assert.equal(event.joined?.who, `u${event.revision}`);
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, i) => 11 + i),
    );
  });

  test("nothing is sent until the first next()", async () => {
    let calls = 0;
    harness = await startChat({
      async *watch() {
        calls++;
        yield { revision: 1, at: undefined };
      },
    });
    const events = harness.client.watch({ afterRevision: 0 });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, 0);
    const iterator = events[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.revision, 1);
    assert.equal((await iterator.next()).done, true);
    assert.equal(calls, 1);
  });

  test("leaving the loop early cancels the call, and the handler's finally runs", async () => {
    let finallyRan = false;
    let serverReason: unknown;
    harness = await startChat({
      async *watch(_request, ctx) {
        try {
          for (let r = 1; ; r++) {
            yield { revision: r, at: undefined };
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        } finally {
          serverReason = ctx.signal.reason;
          finallyRan = true;
        }
      },
    });
    for await (const event of harness.client.watch({ afterRevision: 0 })) {
      if (event.revision === 5) break;
    }
    await eventually(() => finallyRan, "the handler's finally to run");
    assert.ok(serverReason instanceof RpcError);
    assert.equal(serverReason.reason, "peer-gone");
  });

  test("an error after some messages arrives after those messages", async () => {
    harness = await startChat({
      async *watch() {
        yield { revision: 1, at: undefined };
        yield { revision: 2, at: undefined };
        throw new RpcError(Status.DATA_LOSS, "the log is gone");
      },
    });
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of harness.client.watch({ afterRevision: 0 })) seen.push(event.revision);
      })(),
      { code: Status.DATA_LOSS, details: "the log is gone", reason: "remote" },
    );
    assert.deepEqual(seen, [1, 2]);
  });

  test("aborting mid-stream rejects the loop with CANCELLED", async () => {
    harness = await startChat({
      async *watch(_request, ctx) {
        for (let r = 1; !ctx.signal.aborted; r++) {
          yield { revision: r, at: undefined };
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      },
    });
    const controller = new AbortController();
    let count = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of harness.client.watch({ afterRevision: 0 }, { signal: controller.signal })) {
          if (++count === 3) controller.abort();
        }
      })(),
      { code: Status.CANCELLED, reason: "cancelled" },
    );
    assert.equal(count, 3);
  });
});

describe("client streaming", () => {
  test("sends an async generator and gets one summary", async () => {
    harness = await startChat({
      async upload(chunks) {
        let bytes = 0;
        let count = 0;
        let name = "";
        for await (const chunk of chunks) {
          name = chunk.name;
          bytes += chunk.data.length;
          count++;
        }
        return { name, bytes, chunks: count };
      },
    });
    async function* chunks(): AsyncGenerator<UploadChunk> {
      for (let i = 0; i < 100; i++) yield { name: "photo.png", data: new Uint8Array(1000) };
    }
    assert.deepEqual(await harness.client.upload(chunks()), { name: "photo.png", bytes: 100_000, chunks: 100 });
  });

  test("sends a plain array", async () => {
    harness = await startChat({
      async upload(chunks) {
        let count = 0;
        for await (const _ of chunks) count++;
        return { name: "n", bytes: 0, chunks: count };
      },
    });
    const chunks = Array.from({ length: 7 }, () => ({ name: "n", data: new Uint8Array(1) }));
    assert.equal((await harness.client.upload(chunks)).chunks, 7);
  });

  test("an error in the request iterable cancels the call and reaches the caller", async () => {
    let serverError: unknown;
    let firstChunkRead!: () => void;
    const serverReading = new Promise<void>((resolve) => (firstChunkRead = resolve));
    harness = await startChat({
      async upload(chunks) {
        try {
          for await (const _ of chunks) {
            firstChunkRead();
          }
        } catch (error) {
          serverError = error;
          throw error;
        }
        return { name: "", bytes: 0, chunks: 0 };
      },
    });
    async function* broken(): AsyncGenerator<UploadChunk> {
      yield { name: "a", data: new Uint8Array(1) };
      // Fail once the server reads: a call cancelled before its handler ran would leave it nothing to throw.
      await serverReading;
      throw new Error("disk read failed");
    }
    const error = await harness.client.upload(broken()).then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RpcError);
    assert.equal(error.code, Status.CANCELLED);
    assert.match(error.details, /disk read failed/);
    assert.equal((error.cause as Error).message, "disk read failed");
    // The server's request loop throws; it never ends as if the client had finished.
    await eventually(() => serverError !== undefined, "the server's request loop to throw");
    assert.equal((serverError as RpcError).reason, "peer-gone");
  });
});

describe("bidi", () => {
  test("answers every message, in order", async () => {
    harness = await startChat({
      async *converse(requests) {
        for await (const m of requests) yield { author: "bot", text: `re: ${m.text}` };
      },
    });
    const replies: string[] = [];
    for await (const reply of harness.client.converse(messages(20))) replies.push(reply.text);
    assert.deepEqual(
      replies,
      Array.from({ length: 20 }, (_, i) => `re: m${i}`),
    );
  });

  test("the server ending with CANCELLED reaches the client as CANCELLED", async () => {
    harness = await startChat({
      async *converse(requests) {
        for await (const m of requests) {
          yield m;
          throw new RpcError(Status.CANCELLED, "the server gave up");
        }
      },
    });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const reply of harness.client.converse(messages(5))) seen.push(reply.text);
      })(),
      { code: Status.CANCELLED, details: "the server gave up", reason: "remote" },
    );
    assert.deepEqual(seen, ["m0"]);
  });

  test("aborting the client's signal aborts the server handler's signal", async () => {
    let serverReason: unknown;
    const controller = new AbortController();
    harness = await startChat({
      async *converse(requests, ctx) {
        try {
          for await (const m of requests) yield m;
        } finally {
          serverReason = ctx.signal.reason;
        }
      },
    });
    async function* endless(): AsyncGenerator<ChatMessage> {
      for (let i = 0; ; i++) {
        yield { author: "a", text: String(i) };
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    await assert.rejects(
      (async () => {
        for await (const reply of harness.client.converse(endless(), { signal: controller.signal })) {
          if (reply.text === "3") controller.abort(new Error("user left"));
        }
      })(),
      (error: unknown) =>
        error instanceof RpcError && error.reason === "cancelled" && (error.cause as Error).message === "user left",
    );
    await eventually(() => serverReason !== undefined, "the server handler to see the cancellation");
    assert.equal((serverReason as RpcError).code, Status.CANCELLED);
  });
});
