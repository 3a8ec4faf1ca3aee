/**
 * `client.close()`: it ends every call in flight, of the four kinds, with
 * CANCELLED on both sides, and a call made after it fails with
 * FAILED_PRECONDITION and opens nothing (no registry entry, no listener on
 * the caller's signal, no hook).
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { test } from "node:test";
import { type CallEndInfo, createClient, createServer, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { type ChatMessage, RoomEvent, type UploadChunk } from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { Feed, kvOver, serveKv } from "../resume/feed.js";
import { aborted, eventually, unimplemented } from "./harness.js";

/** Settles to the error a call failed with, or fails the test if it succeeded. */
async function failure(call: Promise<unknown> | AsyncIterable<unknown>): Promise<RpcError> {
  try {
    if (Symbol.asyncIterator in call) {
      for await (const _ of call) {
        // read to the end
      }
    } else {
      await call;
    }
  } catch (error) {
    assert.ok(error instanceof RpcError, `expected an RpcError, got ${String(error)}`);
    return error;
  }
  return assert.fail("expected the call to fail");
}

async function* forever<T>(signal: AbortSignal, first: T): AsyncGenerator<T> {
  yield first;
  await aborted(signal);
}

test("a call on a closed client fails with FAILED_PRECONDITION and leaves nothing behind", async () => {
  const signal = new AbortController().signal;
  const leaks = createLeakChecker({ signals: [signal] });
  const ends: CallEndInfo[] = [];
  let starts = 0;
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    async post() {
      return { revision: 1 };
    },
  });
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(ChatService, `127.0.0.1:${port}`, {
    hooks: { onCallStart: () => starts++, onCallEnd: (info) => ends.push(info) },
  });
  leaks.track({ registries: [server, client] });
  assert.equal((await client.post({ author: "ann", text: "hi" })).revision, 1);
  client.close();
  client.close(); // a second close does nothing

  const options = { signal, timeoutMs: 60_000 };
  const errors = [
    await failure(client.post({ author: "ann", text: "late" }, options)),
    await failure(client.watch({ afterRevision: 0 }, options)),
    await failure(client.upload([{ name: "a", data: new Uint8Array(1) }], options)),
    await failure(client.converse([{ author: "ann", text: "late" }], options)),
  ];
  for (const error of errors) {
    assert.equal(error.code, Status.FAILED_PRECONDITION);
    assert.match(error.details, /the client is closed/);
  }
  assert.equal(client.activeStreams().length, 0);
  assert.equal(getEventListeners(signal, "abort").length, 0, "no listener stays on the caller's signal");
  assert.equal(starts, 1, "only the call before close() started");
  assert.deepEqual(
    ends.map((e) => Status[e.code]),
    ["OK"],
    "start and end hooks come in pairs",
  );
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});

test("close() ends every call in flight: the caller sees CANCELLED, the server's signal aborts, both registries drain", async () => {
  const leaks = createLeakChecker();
  const serverSignals: AbortSignal[] = [];
  const server = createServer().add(ChatService, {
    async post(_request, ctx) {
      serverSignals.push(ctx.signal);
      await aborted(ctx.signal);
      throw ctx.signal.reason;
    },
    watch(_request, ctx) {
      serverSignals.push(ctx.signal);
      return forever<RoomEvent>(ctx.signal, RoomEvent.fromPartial({ revision: 1 }));
    },
    async upload(requests, ctx) {
      serverSignals.push(ctx.signal);
      for await (const _ of requests) {
        // read until the call ends
      }
      return { name: "", bytes: 0, chunks: 0 };
    },
    converse(requests, ctx) {
      serverSignals.push(ctx.signal);
      return (async function* () {
        for await (const message of requests) {
          yield message;
        }
      })();
    },
  });
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });

  const quiet = new AbortController();
  const upload = client.upload(forever<UploadChunk>(quiet.signal, { name: "a", data: new Uint8Array(1) }));
  const converse = client.converse(forever<ChatMessage>(quiet.signal, { author: "ann", text: "hi" }));
  const watch = client.watch({ afterRevision: 0 });
  const pending = [
    failure(client.post({ author: "ann", text: "hi" })),
    failure(watch),
    failure(upload),
    failure(converse),
  ];
  await eventually(() => serverSignals.length === 4, "the server to see all four calls");
  assert.equal(client.activeStreams().length, 4);

  client.close();
  const errors = await Promise.all(pending);
  for (const error of errors) {
    assert.equal(error.code, Status.CANCELLED);
    assert.equal(error.reason, "cancelled");
    assert.match(error.details, /the client was closed/);
  }
  assert.equal(client.activeStreams().length, 0, "the client's registry drains at once");
  await Promise.all(serverSignals.map((signal) => aborted(signal)));
  for (const signal of serverSignals) {
    assert.ok(RpcError.from(signal.reason).code === Status.CANCELLED, `server saw ${String(signal.reason)}`);
  }
  await eventually(() => server.activeStreams().length === 0, "the server's registry to drain");
  quiet.abort();
  const report = await server.shutdown({ graceMs: 1000 });
  assert.deepEqual(report.forced, []);
  await leaks.assertNoLeaks();
});

test("close() ends a resumable watch that waits to retry, and it makes no further attempt", async () => {
  const leaks = createLeakChecker();
  let attempts = 0;
  const { server, port } = await serveKv(
    kvOver(new Feed(), {
      // biome-ignore lint/correctness/useYield: it fails before its first message
      async *watch() {
        attempts++;
        throw new RpcError(Status.UNAVAILABLE, "moving to another node");
      },
    }),
  );
  const client = createClient(KVService, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });
  let waiting!: () => void;
  const retried = new Promise<void>((resolve) => (waiting = resolve));
  const watch = failure(
    client.watch(
      { prefix: "", startRevision: 1 },
      { resume: { initialBackoffMs: 60_000, maxBackoffMs: 60_000, onRetry: () => waiting() } },
    ),
  );
  await retried;
  client.close();
  const error = await watch;
  assert.equal(error.code, Status.CANCELLED);
  assert.equal(error.reason, "cancelled");
  assert.equal(error.attempts, 1);
  assert.equal(attempts, 1);
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});
