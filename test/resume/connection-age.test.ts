/**
 * A maximum connection age, the standard way to rebalance long-lived
 * streams over replicas: after the age the server sends GOAWAY, and when
 * the grace runs out it ends the streams still open on that connection.
 * A resumable watch cut that way resumes as it does after a restart, with
 * nothing lost and nothing repeated.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, type RetryInfo } from "leaksafe";
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
