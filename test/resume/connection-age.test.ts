/**
 * A server's ages. A maximum connection age: after the age the server
 * sends GOAWAY, and when the grace runs out it ends the streams still open
 * on that connection. A maximum stream age: each server-streaming call
 * ends by itself near its age. A resumable watch cut either way resumes
 * as it does after a restart, with nothing lost and nothing repeated.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, type RetryInfo, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import type { WatchResponse } from "../../generated-example/example/kv/v1/kv.js";
import { KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { change, Feed, kvOver, resumeAfter, serveKv } from "./feed.js";

test("a watch cut by its connection's maximum age resumes on a new connection, in order, with nothing lost or repeated", {
  timeout: 120_000,
}, async (t) => {
  const leaks = createLeakChecker();
  const feed = new Feed();
  // The grace is shorter than the age, and the watch never ends by itself:
  // each connection's watch is still open when its grace runs out.
  const { server, port } = await serveKv(kvOver(feed), "127.0.0.1:0", {
    maxConnectionAgeMs: 400,
    maxConnectionAgeGraceMs: 100,
  });
  const client = createClient(KVService, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });

  // Many watches on one connection: when the grace runs out with all of
  // them open, grpc-js's server resets each stream (RST_STREAM NO_ERROR)
  // before the connection drops, and the watch sees that reset, not the drop.
  const watches = 50;
  const cutsEach = 2;
  const retries: RetryInfo[] = [];
  const cutsOf = new Array<number>(watches).fill(0);
  feed.start(5, Number.MAX_SAFE_INTEGER);
  const read = async (w: number): Promise<number> => {
    let expected = 1;
    const watch: AsyncIterable<WatchResponse> = client.watch(
      { prefix: "", startRevision: 1 },
      {
        resume: {
          resumeRequest: resumeAfter,
          onRetry: (info) => {
            retries.push(info);
            cutsOf[w] = (cutsOf[w] ?? 0) + 1;
          },
        },
      },
    );
    for await (const response of watch) {
      for (const c of response.changes) {
        assert.deepEqual(c, change(expected), `watch ${w}: change ${expected} should come next`);
        expected++;
      }
      if ((cutsOf[w] ?? 0) >= cutsEach) break;
    }
    return expected - 1;
  };
  const seen = await Promise.all(Array.from({ length: watches }, (_, w) => read(w)));
  feed.stop();

  const messages = new Map<string, number>();
  for (const { error } of retries) messages.set(error.message, (messages.get(error.message) ?? 0) + 1);
  t.diagnostic(
    `${retries.length} cuts; changes per watch ${Math.min(...seen)}..${Math.max(...seen)}; ${[...messages].map(([m, n]) => `${n}× ${m}`).join(" | ")}`,
  );
  assert.ok(
    cutsOf.every((n) => n >= cutsEach),
    "every watch was cut and resumed",
  );
  for (const { error } of retries) {
    assert.equal(error.reason, "peer-gone", `an end by the connection's age is the peer going away: ${error.message}`);
  }

  await eventually(() => server.activeStreams().length === 0, "the server's watches to end");
  client.close();
  const report = await server.shutdown({ graceMs: 1000 });
  assert.deepEqual(report.forced, []);
  await leaks.assertNoLeaks();
});

test("maxConnectionAgeMs and maxConnectionAgeGraceMs are checked like the other connection limits", async () => {
  const { createServer } = await import("leaksafe");
  assert.throws(
    () => createServer({ maxConnectionAgeMs: -1 }),
    /maxConnectionAgeMs must be an integer from 0 to 2147483647, got -1/,
  );
  assert.throws(
    () => createServer({ maxConnectionAgeGraceMs: 1.5 }),
    /maxConnectionAgeGraceMs must be an integer from 0 to 2147483647, got 1.5/,
  );
});

test("maxStreamAgeMs ends each server-streaming call near its age with UNAVAILABLE, a resumable watch resumes in order, and a unary call is never ended by it", {
  timeout: 120_000,
}, async (t) => {
  const leaks = createLeakChecker();
  const feed = new Feed();
  const ageMs = 300;
  const { server, port } = await serveKv(
    kvOver(feed, {
      async put() {
        await new Promise((resolve) => setTimeout(resolve, 3 * ageMs));
        return { revision: 1 };
      },
    }),
    "127.0.0.1:0",
    { maxStreamAgeMs: ageMs },
  );
  const client = createClient(KVService, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });

  const retries: RetryInfo[] = [];
  const retriedAt: number[] = [];
  const startedAt = Date.now();
  feed.start(5, Number.MAX_SAFE_INTEGER);
  const put = client.put({ key: "k", value: Buffer.from("v") });
  let expected = 1;
  for await (const response of client.watch(
    { prefix: "", startRevision: 1 },
    {
      resume: {
        resumeRequest: resumeAfter,
        onRetry: (info) => {
          retries.push(info);
          retriedAt.push(Date.now());
        },
      },
    },
  )) {
    for (const c of response.changes) {
      assert.deepEqual(c, change(expected), `change ${expected} should come next`);
      expected++;
    }
    if (retries.length >= 4) break;
  }
  feed.stop();
  assert.equal((await put).revision, 1, "a unary call three ages long is not ended by the stream age");

  // An attempt starts no earlier than the previous one's end plus its backoff wait, so
  // this is at least each attempt's length, and at least the server's age for it.
  const lengths = retriedAt.map((at, i) =>
    i === 0 ? at - startedAt : at - ((retriedAt[i - 1] ?? 0) + (retries[i - 1]?.delayMs ?? 0)),
  );
  t.diagnostic(`attempts ended after ${lengths.join(", ")} ms; ${retries[0]?.error.message}`);
  for (const { error } of retries) {
    assert.equal(error.code, Status.UNAVAILABLE);
    assert.match(error.message, /maxStreamAgeMs/);
  }
  for (const ms of lengths) {
    // Never before 90 % of the age; the upper bound only guards against it never firing.
    assert.ok(ms >= ageMs * 0.9 - 5, `an attempt ended after ${ms} ms, before 90 % of ${ageMs}`);
    assert.ok(ms < ageMs * 1.1 * 10, `an attempt lasted ${ms} ms, ten times its age`);
  }

  await eventually(() => server.activeStreams().length === 0, "the server's watches to end");
  client.close();
  assert.deepEqual((await server.shutdown({ graceMs: 1000 })).forced, []);
  await leaks.assertNoLeaks();
});

test("maxStreamAgeMs is checked like the other server limits", async () => {
  const { createServer } = await import("leaksafe");
  assert.throws(
    () => createServer({ maxStreamAgeMs: -5 }),
    /maxStreamAgeMs must be an integer from 0 to 2147483647, got -5/,
  );
});

test("maxStreamAgeMs leaves the health service's Watch open", async () => {
  const leaks = createLeakChecker();
  const { createServer } = await import("leaksafe");
  const { HealthService } = await import("leaksafe/health");
  const ageMs = 100;
  const server = createServer({ health: true, maxStreamAgeMs: ageMs });
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(HealthService, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });
  const controller = new AbortController();
  const updates: number[] = [];
  const watching = (async () => {
    for await (const { status } of client.watch({ service: "" }, { signal: controller.signal })) updates.push(status);
  })().catch((e: unknown) => e);
  await eventually(() => updates.length === 1, "the first health status");
  await new Promise((resolve) => setTimeout(resolve, 10 * ageMs));
  assert.equal(server.activeStreams().length, 1, "ten stream ages later, the Watch is still open");
  controller.abort();
  assert.equal(((await watching) as { reason?: string }).reason, "cancelled");
  await eventually(() => server.activeStreams().length === 0, "the server's Watch to end");
  client.close();
  assert.deepEqual((await server.shutdown({ graceMs: 1000 })).forced, []);
  await leaks.assertNoLeaks();
});
