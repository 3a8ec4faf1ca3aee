/**
 * Leaving a resumable watch with `break` or `return()` while a read is
 * pending ends it at once, whether an attempt is waiting for a message or
 * the call is waiting to retry; and the backoff's first wait is
 * `initialBackoffMs`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, type RetryInfo, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { change, Feed, kvOver, serveKv } from "./feed.js";

/** How long a left watch may take to settle: 10× the 50 ms it is promised, for a loaded machine. */
const SETTLE_BOUND_MS = 500;

async function startKv(watch: Parameters<typeof kvOver>[1]) {
  const leaks = createLeakChecker();
  const { server, port } = await serveKv(kvOver(new Feed(), watch));
  const client = createClient(KVService, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });
  return {
    server,
    client,
    async close() {
      await eventually(() => server.activeStreams().length === 0, "the server's watches to end");
      client.close();
      const report = await server.shutdown({ graceMs: 1000 });
      assert.deepEqual(report.forced, [], "no call should be open at shutdown");
      await leaks.assertNoLeaks();
    },
  };
}

test("return() while a read waits on a quiet watch ends the call at once", { timeout: 10_000 }, async (t) => {
  let serverSignal: AbortSignal | undefined;
  const { server, client, close } = await startKv({
    async *watch(_request, ctx) {
      serverSignal = ctx.signal;
      yield { changes: [change(1)] };
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    },
  });
  const iterator = client.watch({ prefix: "", startRevision: 1 }, { resume: true })[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  const pending = iterator.next();
  await eventually(() => client.activeStreams()[0]?.receiveWaitingSince !== undefined, "the read to wait");

  const started = performance.now();
  const returned = await iterator.return?.();
  assert.deepEqual(returned, { value: undefined, done: true });
  assert.deepEqual(await pending, { value: undefined, done: true }, "the pending read ends as done");
  const tookMs = performance.now() - started;
  t.diagnostic(`settled ${tookMs.toFixed(1)} ms after return()`);
  assert.ok(tookMs < SETTLE_BOUND_MS, `settled ${tookMs.toFixed(1)} ms after return()`);
  assert.equal(client.activeStreams().length, 0, "the client's registry is empty at once");
  await eventually(() => serverSignal?.aborted === true, "the server to see the cancel");
  assert.equal(server.activeStreams().length, 0);
  await close();
});

test("break while the watch waits to retry ends it, and no further attempt is made", { timeout: 10_000 }, async (t) => {
  let attempts = 0;
  const { client, close } = await startKv({
    // biome-ignore lint/correctness/useYield: it fails before its first message
    async *watch() {
      attempts++;
      throw new RpcError(Status.UNAVAILABLE, "moving to another node");
    },
  });
  const iterator = client
    .watch(
      { prefix: "", startRevision: 1 },
      { resume: { initialBackoffMs: 60_000, maxBackoffMs: 60_000, onRetry: () => waiting() } },
    )
    [Symbol.asyncIterator]();
  let waiting!: () => void;
  const retried = new Promise<void>((resolve) => (waiting = resolve));
  const pending = iterator.next();
  await retried;

  const started = performance.now();
  await iterator.return?.();
  assert.deepEqual(await pending, { value: undefined, done: true });
  const tookMs = performance.now() - started;
  t.diagnostic(`settled ${tookMs.toFixed(1)} ms after return()`);
  assert.ok(tookMs < SETTLE_BOUND_MS, `settled ${tookMs.toFixed(1)} ms after return()`);
  assert.equal(attempts, 1);
  assert.equal(client.activeStreams().length, 0);
  await close();
});

test("the first wait is initialBackoffMs, and it doubles for each further attempt that receives nothing", async () => {
  const { client, close } = await startKv({
    // biome-ignore lint/correctness/useYield: it fails before its first message
    async *watch() {
      throw new RpcError(Status.UNAVAILABLE, "moving to another node");
    },
  });
  const retries: RetryInfo[] = [];
  const stream = client.watch(
    { prefix: "", startRevision: 1 },
    { resume: { initialBackoffMs: 20, maxBackoffMs: 1000, maxAttempts: 4, onRetry: (i) => retries.push(i) } },
  );
  await assert.rejects(
    (async () => {
      for await (const _ of stream) {
        // nothing arrives
      }
    })(),
    (error: unknown) => error instanceof RpcError && error.code === Status.UNAVAILABLE,
  );
  // Each wait is its base spread by ±20 %: 20, 40, 80 ms.
  assert.deepEqual(
    retries.map((r) => r.attempt),
    [1, 2, 3],
  );
  const bases = [20, 40, 80];
  retries.forEach((r, i) => {
    const base = bases[i] as number;
    assert.ok(
      r.delayMs >= base * 0.8 && r.delayMs <= base * 1.2,
      `wait ${i + 1} was ${r.delayMs} ms, expected ${base} ms ± 20 %`,
    );
  });
  await close();
});
