/**
 * Resumable watch streams, end to end: real grpc-js servers and the
 * generated KV client on loopback, across GOAWAYs, a restart on the same
 * port, an idle channel, aborts and statuses that must not be retried.
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { test } from "node:test";
import { connectivityState } from "@grpc/grpc-js";
import { type ClientOptions, createClient, type RetryInfo, RpcError, type ServerOptions, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import type { WatchResponse } from "../../generated-example/example/kv/v1/kv.js";
import { type KVClient, type KVImplementation, KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { assertFiredOnTime, HEADROOM } from "../support/bounds.js";
import { heapAfterGc, MiB } from "../support/heap.js";
import { change, Feed, kvOver, resumeAfter, serveKv } from "./feed.js";

interface KvHarness {
  client: KVClient;
  /** Waits for the server's calls to end, closes both ends and asserts that nothing is left behind. */
  close(): Promise<void>;
}

/** A KV server on 127.0.0.1:0 and a client of it, with a leak check taken before either exists. */
async function startKv(
  implementation: KVImplementation,
  options: { serverOptions?: ServerOptions; clientOptions?: ClientOptions; signals?: AbortSignal[] } = {},
): Promise<KvHarness> {
  const leaks = createLeakChecker({ signals: options.signals });
  const { server, port } = await serveKv(implementation, "127.0.0.1:0", options.serverOptions);
  const client = createClient(KVService, `127.0.0.1:${port}`, options.clientOptions);
  leaks.track({ registries: [server, client] });
  return {
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

/**
 * Reads a watch, checking that changes come in order from `first` without a
 * gap or a repeat, until `last`, or until `enough()` says so.
 */
async function readInOrder(
  watch: AsyncIterable<WatchResponse>,
  first: number,
  last: number,
  enough: () => boolean = () => false,
): Promise<void> {
  let expected = first;
  for await (const response of watch) {
    for (const c of response.changes) {
      assert.deepEqual(c, change(expected), `change ${expected} should come next`);
      expected++;
    }
    if (expected > last || enough()) {
      return;
    }
  }
  assert.fail(`the watch ended at revision ${expected - 1}, before ${last}`);
}

test("a watch across a GOAWAY every 500 ms gets every change once and in order, and nothing grows", {
  timeout: 120_000,
}, async (t) => {
  const controller = new AbortController();
  const feed = new Feed();
  const { client, close } = await startKv(kvOver(feed), {
    signals: [controller.signal],
    serverOptions: { grpcOptions: { "grpc.max_connection_age_ms": 500, "grpc.max_connection_age_grace_ms": 0 } },
  });

  // The watch reads until this many reconnects, however long a slow machine takes for them (the test's timeout aside).
  const reconnects = 60;
  const last = 12_000; // 120 s at one change every 10 ms: more than the test's timeout allows
  // Only codes are kept: holding every error (and its stack) would itself grow the heap.
  const retries: Status[] = [];
  const samples: Array<{ resources: number; listeners: number; heap?: number }> = [];
  feed.start(10, last);
  await readInOrder(
    client.watch(
      { prefix: "", startRevision: 1 },
      {
        signal: controller.signal,
        resume: {
          resumeRequest: resumeAfter,
          onRetry: (info) => {
            retries.push(info.error.code);
            const n = retries.length;
            samples.push({
              resources: process.getActiveResourcesInfo().length,
              listeners: getEventListeners(controller.signal, "abort").length,
              ...(n % 10 === 0 ? { heap: heapAfterGc() } : {}),
            });
          },
        },
      },
    ),
    1,
    last,
    () => retries.length >= reconnects,
  );
  feed.stop();

  t.diagnostic(`${retries.length} reconnects in ${feed.revision} changes`);
  assert.ok(retries.length >= reconnects, `the feed ended after ${retries.length} reconnects, before ${reconnects}`);
  assert.deepEqual(new Set(retries), new Set([Status.UNAVAILABLE]), "every attempt ended with UNAVAILABLE");
  assert.ok(
    samples.every((s) => s.listeners === 0),
    "between attempts, no abort listener is left on the caller's signal",
  );
  const early = samples.slice(5, 15).map((s) => s.resources);
  const late = samples.slice(-10).map((s) => s.resources);
  t.diagnostic(`active resources at each retry: ${early.join(",")} … ${late.join(",")}`);
  assert.ok(Math.max(...late) <= Math.max(...early) + 1, "active resources grew with the number of reconnects");
  const heaps = samples.flatMap((s) => (s.heap === undefined ? [] : [s.heap]));
  // The first reconnects warm the JIT up: compiled code grows for a few dozen, then stays
  // (bench/reconnects.ts: 12.49 MiB at the 110th reconnect, 12.45 at the 410th). So growth counts from the 30th.
  const grown = ((heaps.at(-1) ?? 0) - (heaps[2] ?? 0)) / MiB;
  t.diagnostic(`heap after GC: ${heaps.map((h) => (h / MiB).toFixed(2)).join(", ")} MiB (every 10 reconnects)`);
  assert.ok(grown < 0.5, `heap grew by ${grown.toFixed(2)} MiB between reconnect 30 and ${retries.length}`);

  await eventually(() => feed.watchers === 0, "the server's watch to end");
  await close();
});

test("a watch resumes when its server restarts on the same port", { timeout: 30_000 }, async (t) => {
  const leaks = createLeakChecker();
  const feed = new Feed();
  const first = await serveKv(kvOver(feed));
  const client = createClient(KVService, `127.0.0.1:${first.port}`);
  leaks.track({ registries: [client] });
  const retries: RetryInfo[] = [];
  feed.start(10, 200);
  let restarted: Awaited<ReturnType<typeof serveKv>> | undefined;
  const restart = (async () => {
    await eventually(() => feed.revision >= 50, "50 changes before the restart");
    await first.server.shutdown({ graceMs: 100 });
    // One more attempt fails against the port with nothing on it; the longest backoff is 10 s ±20 %.
    const down = retries.length;
    await eventually(() => retries.length > down, "an attempt while the server is down", 15_000);
    restarted = await serveKv(kvOver(feed), `127.0.0.1:${first.port}`);
  })();
  await readInOrder(
    client.watch(
      { prefix: "", startRevision: 1 },
      { resume: { resumeRequest: resumeAfter, onRetry: (i) => retries.push(i) } },
    ),
    1,
    200,
  );
  await restart;
  feed.stop();

  assert.ok(restarted !== undefined);
  t.diagnostic(`the restart cost ${retries.length} attempts (waits: ${retries.map((r) => r.delayMs).join(", ")} ms)`);
  assert.ok(retries.every((r) => r.error.code === Status.UNAVAILABLE));
  await eventually(() => restarted?.server.activeStreams().length === 0, "the new server's watch to end");
  client.close();
  await restarted.server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});

test("an abort during the backoff wait ends the watch at once, not after the wait", async (t) => {
  const backoffMs = 5000;
  const controller = new AbortController();
  const { client, close } = await startKv(
    kvOver(new Feed(), {
      // biome-ignore lint/correctness/useYield: it fails before its first message
      async *watch() {
        throw new RpcError(Status.UNAVAILABLE, "moving to another node");
      },
    }),
    { signals: [controller.signal] },
  );
  let abortedAt = 0;
  const watch = client.watch(
    { prefix: "", startRevision: 1 },
    {
      signal: controller.signal,
      resume: {
        initialBackoffMs: backoffMs,
        maxBackoffMs: backoffMs,
        onRetry: () => {
          setTimeout(() => {
            abortedAt = performance.now();
            controller.abort();
          }, 100);
        },
      },
    },
  );
  const error = await drain(watch);
  const tookMs = performance.now() - abortedAt;
  assert.ok(error instanceof RpcError);
  assert.equal(error.code, Status.CANCELLED);
  assert.equal(error.reason, "cancelled");
  assert.equal(error.attempts, 1);
  assert.equal(error.lastAttemptError?.code, Status.UNAVAILABLE);
  assert.equal(error.lastAttemptError?.details, "moving to another node");
  t.diagnostic(`the watch ended ${tookMs.toFixed(1)} ms after the abort`);
  // HEADROOM times sooner than the wait it cut short (which is at least 4 s, with its spread of ±20 %).
  const bound = (0.8 * backoffMs) / HEADROOM;
  assert.ok(tookMs <= bound, `the watch ended ${tookMs.toFixed(1)} ms after the abort, bound ${bound} ms`);

  await close();
});

test("a status that is not retryable ends the watch at once, with that status", async (t) => {
  const { client, close } = await startKv(
    kvOver(new Feed(), {
      // biome-ignore lint/correctness/useYield: it fails before its first message
      async *watch() {
        throw new RpcError(Status.NOT_FOUND, "no such prefix");
      },
    }),
  );
  const retries: RetryInfo[] = [];
  const started = performance.now();
  const error = await drain(
    client.watch({ prefix: "x", startRevision: 0 }, { resume: { onRetry: (i) => retries.push(i) } }),
  );
  const tookMs = performance.now() - started;
  assert.ok(error instanceof RpcError);
  assert.equal(error.code, Status.NOT_FOUND);
  assert.equal(error.details, "no such prefix");
  assert.equal(error.attempts, 1);
  assert.deepEqual(retries, []);
  // No retry and one attempt say it ended at once; the time is only reported.
  t.diagnostic(`NOT_FOUND ended the watch after ${tookMs.toFixed(1)} ms`);

  await close();
});

test("a resumeRequest that throws ends the watch with its message, and is not asked for a status that is not retried", async () => {
  let calls = 0;
  const { client, close } = await startKv(
    kvOver(new Feed(), {
      async *watch(request) {
        calls++;
        yield { changes: [change(request.startRevision)] };
        throw new RpcError(calls === 1 ? Status.UNAVAILABLE : Status.NOT_FOUND, "gone");
      },
    }),
  );
  const throwing = await drain(
    client.watch(
      { prefix: "", startRevision: 1 },
      {
        resume: {
          resumeRequest: () => {
            throw new Error("no revision to resume from");
          },
        },
      },
    ),
  );
  assert.ok(throwing instanceof RpcError);
  assert.equal(throwing.code, Status.CANCELLED);
  assert.equal(throwing.reason, "cancelled");
  assert.equal(throwing.details, "resumeRequest threw: no revision to resume from");
  assert.equal(throwing.attempts, 1);

  // The second call's first attempt ends with NOT_FOUND: the status is kept, resumeRequest is never asked.
  let asked = 0;
  const notFound = await drain(
    client.watch(
      { prefix: "", startRevision: 1 },
      {
        resume: {
          resumeRequest: (last, request) => {
            asked++;
            return resumeAfter(last, request);
          },
        },
      },
    ),
  );
  assert.ok(notFound instanceof RpcError);
  assert.equal(notFound.code, Status.NOT_FOUND);
  assert.equal(asked, 0);

  await close();
});

test("a watch resumes cleanly over a channel that went idle while it waited", { timeout: 30_000 }, async () => {
  const feed = new Feed();
  const peers: string[] = [];
  const normal = kvOver(feed);
  // The server closes connections that carry no call for 500 ms, as a load balancer would.
  const { client, close } = await startKv(
    {
      ...normal,
      async *watch(request, ctx) {
        peers.push(ctx.peer);
        if (peers.length === 1) {
          yield { changes: feed.changesFrom(request.startRevision).slice(0, 5) };
          throw new RpcError(Status.UNAVAILABLE, "draining");
        }
        yield* normal.watch(request, ctx);
      },
    },
    {
      serverOptions: { grpcOptions: { "grpc.max_connection_idle_ms": 500 } },
      // grpc-js does not let the idle timeout go below 1 s.
      clientOptions: { channelOptions: { "grpc.client_idle_timeout_ms": 1000 } },
    },
  );
  const retries: RetryInfo[] = [];
  let stateWhileWaiting: connectivityState | undefined;
  let probe: NodeJS.Timeout | undefined;
  feed.start(10, 300);
  await eventually(() => feed.revision >= 10, "a few changes");
  await readInOrder(
    client.watch(
      { prefix: "", startRevision: 1 },
      {
        resume: {
          resumeRequest: resumeAfter,
          initialBackoffMs: 2500,
          maxBackoffMs: 2500,
          onRetry: (info) => {
            retries.push(info);
            probe = setTimeout(() => {
              stateWhileWaiting = client.getChannel().getConnectivityState(false);
            }, info.delayMs - 200);
          },
        },
      },
    ),
    1,
    300,
  );
  feed.stop();
  clearTimeout(probe);
  assert.equal(retries.length, 1);
  assert.equal(stateWhileWaiting, connectivityState.IDLE, "the channel went idle during the wait");
  assert.equal(peers.length, 2);
  assert.notEqual(peers[1], peers[0], "the second attempt came over a new connection");

  await close();
});

test("the idle limit applies per attempt and the total deadline spans them all", async (t) => {
  // Each attempt gets one change, then silence.
  const { client, close } = await startKv(
    kvOver(new Feed(), {
      async *watch(request, ctx) {
        yield { changes: [change(request.startRevision)] };
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
      },
    }),
  );
  const retries: RetryInfo[] = [];
  const started = performance.now();
  let received = 0;
  const error = await drain(
    client.watch(
      { prefix: "", startRevision: 1 },
      {
        idleTimeoutMs: 200,
        timeoutMs: 1000,
        resume: { resumeRequest: resumeAfter, initialBackoffMs: 20, onRetry: (i) => retries.push(i) },
      },
    ),
    (response) => {
      received++;
      assert.equal(response.changes[0]?.revision, received, "each attempt resumes after the last change");
    },
  );
  const tookMs = performance.now() - started;
  assert.ok(error instanceof RpcError);
  assert.equal(error.code, Status.DEADLINE_EXCEEDED);
  assert.equal(error.reason, "deadline");
  t.diagnostic(`${retries.length + 1} attempts; DEADLINE_EXCEEDED after ${tookMs.toFixed(0)} ms`);
  assertFiredOnTime(tookMs, 1000, "the total deadline");
  // Attempts of about 200 ms each fit four times in the deadline; two retries leave a slow machine room for 300 ms of work per attempt.
  assert.ok(retries.length >= 2, `expected several idle attempts, saw ${retries.length}`);
  assert.ok(retries.every((r) => r.error.reason === "idle"));
  assert.equal(error.attempts, retries.length + 1);

  await close();
});

test("attempts that receive nothing stop at maxAttempts; resume: false and a bad setting are honoured", async () => {
  const leaks = createLeakChecker();
  // A port with nothing listening on it.
  const { server: gone, port } = await serveKv(kvOver(new Feed()));
  await gone.shutdown({ graceMs: 0 });
  // The client's hooks see every attempt: each is a call of its own, and each wait is an onRetry.
  const hooked: string[] = [];
  const client = createClient(KVService, `127.0.0.1:${port}`, {
    hooks: {
      onCallStart: () => hooked.push("start"),
      onCallEnd: (info) => hooked.push(`end ${Status[info.code]}`),
      onRetry: (info) => hooked.push(`retry ${info.attempt}`),
    },
  });
  leaks.track({ registries: [client] });

  const retries: RetryInfo[] = [];
  const error = await drain(
    client.watch(
      { prefix: "", startRevision: 1 },
      { resume: { initialBackoffMs: 10, maxBackoffMs: 40, maxAttempts: 3, onRetry: (i) => retries.push(i) } },
    ),
  );
  assert.ok(error instanceof RpcError);
  assert.equal(error.code, Status.UNAVAILABLE);
  assert.equal(error.attempts, 3);
  assert.deepEqual(
    retries.map((r) => r.attempt),
    [1, 2],
  );
  assert.ok(
    retries.every((r) => r.delayMs >= 8 && r.delayMs <= 40),
    "waits stay within the backoff's bounds",
  );
  assert.deepEqual(hooked, [
    "start",
    "end UNAVAILABLE",
    "retry 1",
    "start",
    "end UNAVAILABLE",
    "retry 2",
    "start",
    "end UNAVAILABLE",
  ]);

  const once = await drain(client.watch({ prefix: "", startRevision: 1 }, { resume: false }));
  assert.ok(once instanceof RpcError);
  assert.equal(once.code, Status.UNAVAILABLE);
  assert.equal(once.attempts, 1);

  const bad = await drain(
    client.watch({ prefix: "", startRevision: 1 }, { resume: { initialBackoffMs: 500, maxBackoffMs: 100 } }),
  );
  assert.ok(bad instanceof TypeError);
  assert.equal(bad.message, "maxBackoffMs (100) must not be less than initialBackoffMs (500)");
  client.close();
  await leaks.assertNoLeaks();
});

/** Reads a stream to its end; resolves with the error it ended with, or undefined. */
async function drain<T>(stream: AsyncIterable<T>, each?: (item: T) => void): Promise<unknown> {
  try {
    for await (const item of stream) {
      each?.(item);
    }
    return undefined;
  } catch (error) {
    return error;
  }
}
