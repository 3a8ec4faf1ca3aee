/**
 * 10,000 concurrent idle streams on one server, then shutdown: every
 * stream ends with reason shutdown, and nothing is left behind. One unary
 * call that ignores its signal keeps the server from draining, so the grace
 * runs out: shutdown counts it from the call, not from after ending the
 * streams, and overruns it only by forcing what is still open. How many
 * streams it ends before the grace runs out depends on the machine's speed
 * (the client shares this process), so that count is reported, not asserted;
 * a forced stream also ends with reason shutdown.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RpcError } from "leaksafe";
import { aborted, eventually, startChat } from "../e2e/harness.js";
import { assertShutdownOnTime } from "../support/bounds.js";
import { describeError, recordRow } from "./report.js";

const STREAMS = 10_000;
const GRACE_MS = 1000;

test("10,000 idle streams end at shutdown with reason shutdown; the grace counts from the call", {
  timeout: 120_000,
}, async (t) => {
  const serverReasons = new Map<string, number>();
  const harness = await startChat(
    {
      post: () => new Promise(() => {}), // ignores its signal: forced when the grace runs out
      async *watch(_request, ctx) {
        yield { revision: 1, at: undefined };
        const reason = await aborted(ctx.signal);
        const key = describeError(reason);
        serverReasons.set(key, (serverReasons.get(key) ?? 0) + 1);
      },
    },
    // The 10,000 watches and the stuck unary call share one connection, past
    // the default limit of 1000 streams a connection: this test lifts it.
    { serverOptions: { maxConcurrentStreams: STREAMS + 1 } },
  );
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
  const stuck = harness.client.post({ author: "ann", text: "hi" }).catch((error: unknown) => error);
  // A call is listed from its HEADERS; a watch is idle once its first message went out.
  await eventually(
    () => harness.server.activeStreams().filter((call) => call.messagesOut > 0).length === STREAMS,
    "10,000 idle watches, each past its first message",
    60_000,
  );
  const started = Date.now();
  const report = await harness.server.shutdown({ graceMs: GRACE_MS });
  const took = Date.now() - started;
  await Promise.all(streams);
  assert.ok((await stuck) instanceof RpcError);
  const forced = report.forced.map((f) => f.method);
  assert.ok(forced.includes("/example.v1.Chat/Post"), "the stuck unary call is forced");
  assert.equal(report.finished + report.forced.length, STREAMS + 1);
  t.diagnostic(
    `${report.finished} streams ended within the grace, ${forced.length - 1} forced; shutdown took ${took} ms`,
  );
  assertShutdownOnTime(took, GRACE_MS, report.forced.length);
  assert.deepEqual([...serverReasons], [["UNAVAILABLE/shutdown", STREAMS]]);
  assert.equal(
    [...clientErrors.values()].reduce((a, b) => a + b, 0),
    STREAMS,
  );
  await harness.close(forced);
  recordRow({
    scenario: "10,000 concurrent idle streams and a stuck unary call, then shutdown",
    outcome: `server ${STREAMS} × UNAVAILABLE/shutdown, ${report.forced.length} forced (the stuck unary call among them); client ${[...clientErrors].map(([k, n]) => `${n} × ${k}`).join(", ")}; report ${report.finished} finished, ${report.forced.length} forced`,
    detectMs: took,
    boundMs: GRACE_MS,
    leaked: "none",
  });
});
