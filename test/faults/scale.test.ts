/**
 * 10,000 concurrent idle streams on one server, then shutdown: every
 * stream ends at once with reason shutdown, nothing is forced, and nothing
 * is left behind.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RpcError } from "leaksafe";
import { aborted, eventually, startChat } from "../e2e/harness.js";
import { describeError, recordRow } from "./report.js";

const STREAMS = 10_000;

test("10,000 idle streams end at shutdown, none forced", { timeout: 120_000 }, async () => {
  const serverReasons = new Map<string, number>();
  const harness = await startChat({
    async *watch(_request, ctx) {
      yield { revision: 1, at: undefined };
      const reason = await aborted(ctx.signal);
      const key = describeError(reason);
      serverReasons.set(key, (serverReasons.get(key) ?? 0) + 1);
    },
  });
  const clientErrors = new Map<string, number>();
  const streams: Array<Promise<void>> = [];
  for (let i = 0; i < STREAMS; i++) {
    streams.push(
      (async () => {
        try {
          for await (const _ of harness.client.watch({ afterRevision: i })) {
          }
        } catch (error) {
          const key = describeError(error);
          clientErrors.set(key, (clientErrors.get(key) ?? 0) + 1);
          assert.ok(error instanceof RpcError);
        }
      })(),
    );
  }
  await eventually(() => harness.server.activeStreams().length === STREAMS, "10,000 live streams", 60_000);
  const started = Date.now();
  const report = await harness.server.shutdown({ graceMs: 5000 });
  const took = Date.now() - started;
  await Promise.all(streams);
  assert.equal(report.finished, STREAMS);
  assert.deepEqual(report.forced, []);
  assert.ok(took < 5000, `shutdown took ${took} ms`);
  assert.deepEqual([...serverReasons], [["UNAVAILABLE/shutdown", STREAMS]]);
  assert.equal(
    [...clientErrors.values()].reduce((a, b) => a + b, 0),
    STREAMS,
  );
  await harness.close();
  recordRow({
    scenario: "10,000 concurrent idle streams, then shutdown",
    outcome: `server ${STREAMS} × UNAVAILABLE/shutdown; client ${[...clientErrors].map(([k, n]) => `${n} × ${k}`).join(", ")}; report ${report.finished} finished, ${report.forced.length} forced`,
    detectMs: took,
    boundMs: 5000,
    leaked: "none",
  });
});
