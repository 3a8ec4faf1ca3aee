/**
 * Limits up to the documented maximum (30 days) work as written, though
 * Node's timers stop at 2^31−1 ms (about 24.8 days): no timer overflows into
 * a 1 ms spin with a TimeoutOverflowWarning, and a client deadline past
 * 24.8 days does not reach a grpc-js server as a wrapped-round grpc-timeout.
 * Set on the server, in the method's policy, on the client and per call.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient, createServer, MAX_LIMIT_MS, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { Feed, kvOver, serveKv } from "../resume/feed.js";
import { aborted, eventually, sleep, startChat, unimplemented } from "./harness.js";

const DAY_MS = 24 * 3_600_000;
const LONG = { idleTimeoutMs: MAX_LIMIT_MS, timeoutMs: MAX_LIMIT_MS, sendTimeoutMs: MAX_LIMIT_MS };

const overflows: Error[] = [];
const onWarning = (warning: Error): void => {
  if (warning.name === "TimeoutOverflowWarning") {
    overflows.push(warning);
  }
};
before(() => process.on("warning", onWarning));
after(() => process.off("warning", onWarning));

test("30-day limits on the server, in the policy and on the client hold quiet streams open with no timer overflow", async () => {
  assert.equal(MAX_LIMIT_MS, 30 * DAY_MS);
  const harness = await startChat(
    {
      async *watch(_request, ctx) {
        yield { revision: 1, at: undefined };
        await aborted(ctx.signal);
      },
      async *converse(requests) {
        for await (const message of requests) {
          yield message;
        }
      },
      async post() {
        return { revision: 7 };
      },
    },
    { serverLimits: LONG, clientLimits: LONG },
  );
  const { client, server } = harness;
  const quiet = new AbortController();
  const reads: Array<Promise<unknown>> = [];
  for (let i = 0; i < 3; i++) {
    reads.push(
      (async () => {
        for await (const _ of client.watch({ afterRevision: 0 }, { signal: quiet.signal, ...LONG })) {
          // one message, then silence
        }
      })().catch((error: unknown) => error),
    );
  }
  reads.push(
    (async () => {
      // biome-ignore lint/correctness/useYield: a request stream that stays silent
      const silence = (async function* () {
        await aborted(quiet.signal);
      })();
      for await (const _ of client.converse(silence, { signal: quiet.signal, ...LONG })) {
        // nothing is sent, so nothing comes back
      }
    })().catch((error: unknown) => error),
  );
  await eventually(() => server.activeStreams().length === 4, "four quiet streams on the server");

  // Per call: 25 and 30 days, past Node's longest timer, on a unary call to a grpc-js server.
  for (const days of [25, 30]) {
    const response = await client.post({ author: "ann", text: "hi" }, { timeoutMs: days * DAY_MS });
    assert.equal(response.revision, 7, `a ${days}-day deadline is not a deadline already passed`);
  }
  for (const record of [...client.activeStreams(), ...server.activeStreams()]) {
    assert.ok(
      record.deadline !== undefined && record.deadline - Date.now() > 29 * DAY_MS,
      "the deadline is as written",
    );
  }

  // Long enough for an overflowed timer to have fired many times over.
  await sleep(200);
  assert.equal(server.activeStreams().length, 4, "every quiet stream is still open");
  assert.deepEqual(overflows, [], "no timer overflowed");

  quiet.abort();
  for (const result of await Promise.all(reads)) {
    assert.ok(result instanceof RpcError && result.code === Status.CANCELLED, `ended with ${String(result)}`);
  }
  await harness.close();
});

test("a 30-day limit from the method's .proto policy holds with no timer overflow", async () => {
  const leaks = createLeakChecker();
  const service = { ...ChatService, watch: { ...ChatService.watch, policy: LONG } };
  const server = createServer().add(service, {
    ...unimplemented(),
    async *watch(_request, ctx) {
      yield { revision: 1, at: undefined };
      await aborted(ctx.signal);
    },
  });
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(service, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });
  const quiet = new AbortController();
  const read = (async () => {
    for await (const _ of client.watch({ afterRevision: 0 }, { signal: quiet.signal })) {
      // one message, then silence
    }
  })().catch((error: unknown) => error);
  await eventually(() => server.activeStreams().length === 1, "the stream on the server");
  const [record] = server.activeStreams();
  assert.ok(record?.deadline !== undefined && record.deadline - Date.now() > 29 * DAY_MS, "the policy's deadline");
  await sleep(100);
  assert.deepEqual(overflows, []);
  quiet.abort();
  assert.ok((await read) instanceof RpcError);
  client.close();
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});

test("a 25-day backoff waits without a timer overflow, and an abort still ends it", async () => {
  const leaks = createLeakChecker();
  const { server, port } = await serveKv(
    kvOver(new Feed(), {
      // biome-ignore lint/correctness/useYield: it fails before its first message
      async *watch() {
        throw new RpcError(Status.UNAVAILABLE, "moving to another node");
      },
    }),
  );
  const client = createClient(KVService, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });
  const stop = new AbortController();
  let waiting!: () => void;
  const retried = new Promise<void>((resolve) => (waiting = resolve));
  const watch = (async () => {
    for await (const _ of client.watch(
      { prefix: "", startRevision: 1 },
      {
        signal: stop.signal,
        resume: { initialBackoffMs: 25 * DAY_MS, maxBackoffMs: MAX_LIMIT_MS, onRetry: () => waiting() },
      },
    )) {
      // nothing arrives
    }
  })().catch((error: unknown) => error);
  await retried;
  await sleep(100);
  assert.deepEqual(overflows, []);
  stop.abort();
  const error = await watch;
  assert.ok(error instanceof RpcError && error.code === Status.CANCELLED);
  client.close();
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});

test("a limit past 30 days, or Infinity, is refused where it is written", () => {
  const server = createServer();
  assert.throws(() => server.add(ChatService, unimplemented(), { timeoutMs: MAX_LIMIT_MS + 1 }), {
    name: "TypeError",
    message: `timeoutMs must be at most ${MAX_LIMIT_MS} ms (30 days), got ${MAX_LIMIT_MS + 1}`,
  });
  assert.throws(() => server.add(ChatService, unimplemented(), { idleTimeoutMs: Number.POSITIVE_INFINITY }), {
    name: "TypeError",
    message: "idleTimeoutMs must be a whole number of milliseconds, got Infinity",
  });
  const client = createClient(ChatService, "127.0.0.1:1");
  try {
    assert.throws(() => client.post({ author: "ann", text: "hi" }, { timeoutMs: MAX_LIMIT_MS + 1 }), {
      name: "TypeError",
      message: `timeoutMs must be at most ${MAX_LIMIT_MS} ms (30 days), got ${MAX_LIMIT_MS + 1}`,
    });
  } finally {
    client.close();
  }
});
