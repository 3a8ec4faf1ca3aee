/**
 * Limits: `0` disables one, the per-call value beats the client's default,
 * bad values are refused, and a consumer that stops reading bounds what the
 * server can push.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { createServer, RpcError, Status } from "leaksafe";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { assertFiredOnTime } from "../support/bounds.js";
import { aborted, eventually, type Harness, sleep, startChat, unimplemented } from "./harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** A watch that sends one event, waits `quietMs`, sends another, then ends. */
function quietWatch(quietMs: number) {
  return async function* () {
    yield { revision: 1, at: undefined };
    await sleep(quietMs);
    yield { revision: 2, at: undefined };
  };
}

test("idleTimeoutMs: 0 on the call disables an idle limit", async () => {
  harness = await startChat({ watch: quietWatch(400) });
  const seen: number[] = [];
  for await (const e of harness.client.watch({ afterRevision: 0 }, { idleTimeoutMs: 0 })) seen.push(e.revision);
  assert.deepEqual(seen, [1, 2]);
});

test("a client's default limits apply only where the .proto policy is silent", async () => {
  // Watch declares idle_timeout_ms: 0 in the .proto, which beats the client's default of 100 ms.
  harness = await startChat({ watch: quietWatch(400) }, { clientLimits: { idleTimeoutMs: 100, sendTimeoutMs: 5 } });
  const seen: number[] = [];
  for await (const e of harness.client.watch({ afterRevision: 0 })) seen.push(e.revision);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(ChatService.watch.policy.idleTimeoutMs, 0);
});

test("the server uses the client's deadline when it is smaller than its own", async () => {
  const clientMs = 200;
  const serverMs = 60_000; // far beyond the bound below, so only the client's deadline can end the call in time
  let reason: unknown;
  let reasonAt = 0;
  harness = await startChat(
    {
      async *watch(_request, ctx) {
        yield { revision: 1, at: undefined };
        reason = await aborted(ctx.signal);
        reasonAt = Date.now();
      },
    },
    { serverLimits: { timeoutMs: serverMs } },
  );
  const started = Date.now();
  await assert.rejects(
    (async () => {
      for await (const _ of harness.client.watch({ afterRevision: 0 }, { timeoutMs: clientMs })) {
      }
    })(),
    { code: Status.DEADLINE_EXCEEDED, reason: "deadline" },
  );
  await eventually(() => reason !== undefined, "the server to see the deadline");
  assert.ok(reason instanceof RpcError && reason.reason === "deadline");
  assertFiredOnTime(reasonAt - started, clientMs, "the server's deadline");
});

test("bad limits are refused with a TypeError that names them", async () => {
  assert.throws(() => createServer().add(ChatService, unimplemented(), { idleTimeoutMs: -1 }), {
    name: "TypeError",
    message: "idleTimeoutMs must not be negative (0 disables the limit), got -1",
  });
  assert.throws(() => createServer().add(ChatService, unimplemented(), { timeoutMs: 1.5 }), {
    message: "timeoutMs must be a whole number of milliseconds, got 1.5",
  });
  harness = await startChat({
    async post() {
      return { revision: 1 };
    },
  });
  assert.throws(
    () => harness?.client.post({ author: "", text: "" }, { sendTimeoutMs: Number.NaN }),
    /sendTimeoutMs must be/,
  );
});

test("a client that stops reading bounds how much the server can push", async () => {
  let written = 0;
  harness = await startChat({
    async *watch() {
      for (let r = 1; r <= 100_000; r++) {
        written = r;
        yield { revision: r, at: undefined };
      }
    },
  });
  const iterator = harness.client.watch({ afterRevision: 0 })[Symbol.asyncIterator]();
  await iterator.next();
  // The server stalls once one send stays blocked: nothing written since, while nobody reads.
  // However long the windows take to fill, this waits; it fails only if the server never stalls.
  let last: { written: number; since: number | undefined } = { written: -1, since: undefined };
  await eventually(
    () => {
      const since = harness?.server.activeStreams()[0]?.sendBlockedSince;
      const stalled =
        since !== undefined && since === last.since && written === last.written && Date.now() - since >= 200;
      last = { written, since };
      return stalled;
    },
    "the server's send to stay blocked while nobody reads",
    30_000,
  );
  assert.ok(written < 20_000, `the server pushed ${written} messages into a stream nobody reads`);
  await iterator.return?.();
});
