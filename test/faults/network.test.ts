/**
 * Network faults under live streams of every kind, leaksafe on both sides:
 * black-holes in each direction, a reset, and 100 ms of latency with the
 * stream sliced into 7-byte TCP segments.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RpcError } from "leaksafe";
import { eventually } from "../e2e/harness.js";
import { HEADROOM, NOTICE_MS } from "../support/bounds.js";
import { KEEPALIVE, KINDS, type LiveStream, startLiveStream } from "./live-stream.js";
import { describeError, recordRow } from "./report.js";

/** Keepalive's verdict comes a ping's interval plus its timeout after the fault; a slow machine gets 10× that. */
const KEEPALIVE_BOUND = HEADROOM * (KEEPALIVE.timeMs + KEEPALIVE.timeoutMs);

async function closeAll(live: LiveStream): Promise<void> {
  await live.proxy.close();
  await live.clientDone;
  await live.harness.close();
}

/** Waits until the stream carries messages, so the fault lands mid-stream. */
async function midStream(live: LiveStream): Promise<void> {
  await eventually(() => {
    const record = live.harness.server.activeStreams()[0];
    return record !== undefined && record.messagesIn + record.messagesOut >= 3;
  }, "the stream to carry messages");
}

function assertEnded(
  side: "client" | "server",
  live: LiveStream,
  faultAt: number,
  code: string,
  bound: number,
): number {
  const ending = live[side];
  assert.ok(ending.error instanceof RpcError, `${side}: ${String(ending.error)}`);
  assert.equal(describeError(ending.error), code, `${side}: ${ending.error.message}`);
  const took = (ending.at as number) - faultAt;
  assert.ok(took <= bound, `${side} detected after ${took} ms, bound ${bound} ms`);
  return took;
}

describe("black-hole mid-stream", () => {
  for (const direction of ["down", "up"] as const) {
    for (const kind of KINDS) {
      test(`${kind}, ${direction === "down" ? "server to client" : "client to server"} dropped: keepalive finds it on both sides`, async () => {
        const live = await startLiveStream(kind);
        await midStream(live);
        const faultAt = Date.now();
        live.proxy.blackhole(direction);
        await eventually(
          () => live.server.at !== undefined && live.client.at !== undefined,
          "both sides to notice",
          KEEPALIVE_BOUND + 1000,
        );
        const serverMs = assertEnded("server", live, faultAt, "CANCELLED/peer-gone", KEEPALIVE_BOUND);
        const clientMs = assertEnded("client", live, faultAt, "UNAVAILABLE/peer-gone", KEEPALIVE_BOUND);
        await closeAll(live);
        recordRow({
          scenario: `black-hole ${direction}, ${kind}`,
          outcome: `client ${describeError(live.client.error)}, server ${describeError(live.server.error)}`,
          detectMs: Math.max(serverMs, clientMs),
          boundMs: KEEPALIVE_BOUND,
          leaked: "none",
        });
      });
    }
  }
});

describe("connection reset mid-stream", () => {
  for (const kind of KINDS) {
    test(`${kind}: both sides see it at once`, async () => {
      // Keepalive off, so that no timer can find it within the bound: only the reset can.
      const live = await startLiveStream(kind, { keepalive: false });
      await midStream(live);
      const faultAt = Date.now();
      live.proxy.reset();
      await eventually(
        () => live.server.at !== undefined && live.client.at !== undefined,
        "both sides to notice",
        NOTICE_MS,
      );
      const serverMs = assertEnded("server", live, faultAt, "CANCELLED/peer-gone", NOTICE_MS);
      const clientMs = assertEnded("client", live, faultAt, "UNAVAILABLE/peer-gone", NOTICE_MS);
      await closeAll(live);
      recordRow({
        scenario: `reset, ${kind}`,
        outcome: `client ${describeError(live.client.error)}, server ${describeError(live.server.error)}`,
        detectMs: Math.max(serverMs, clientMs),
        boundMs: NOTICE_MS,
        leaked: "none",
      });
    });
  }
});

describe("100 ms latency, sliced into 7-byte segments", () => {
  for (const kind of KINDS) {
    test(`${kind}: every message arrives, in order, and the call ends OK`, async () => {
      const live = await startLiveStream(kind, { everyMs: 5, count: 20 });
      live.proxy.delay(100);
      live.proxy.segment(7);
      const started = Date.now();
      await live.clientDone;
      const took = Date.now() - started;
      assert.equal(live.client.error, undefined, String(live.client.error));
      assert.equal(live.server.error, undefined, String(live.server.error));
      const expected = Array.from({ length: 20 }, (_, i) => String(i + 1));
      if (kind !== "server-streaming") assert.deepEqual(live.server.received, expected);
      if (kind !== "client-streaming") assert.deepEqual(live.client.received, expected);
      assert.ok(took >= 100, `the call took ${took} ms under 100 ms of latency`);
      await closeAll(live);
      recordRow({
        scenario: `100 ms latency + 7-byte segments, ${kind}`,
        outcome: "OK, 20 messages in order",
        detectMs: "n/a",
        boundMs: "n/a",
        leaked: "none",
      });
    });
  }
});
