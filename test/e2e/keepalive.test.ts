/**
 * A legitimately silent watch (Watch declares idle_timeout_ms: 0 and
 * timeout_ms: 0) whose peer vanishes without closing its socket: the fault
 * proxy black-holes the connection. Keepalive finds the dead peer, on the
 * server and on the client, within 10× of keepalive time + timeout. Without
 * keepalive, the same stream hangs until its total deadline.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { RpcError, Status } from "leaksafe";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { assertFiredOnTime, HEADROOM } from "../support/bounds.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { aborted, eventually, type Harness, type HarnessOptions, startChat } from "./harness.js";

const KEEPALIVE = { timeMs: 500, timeoutMs: 500 };
/** A ping every timeMs, unanswered for timeoutMs, drops the peer; the bound leaves a slow machine 10× of that. */
const BOUND = HEADROOM * (KEEPALIVE.timeMs + KEEPALIVE.timeoutMs);

let harness: Harness | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close(); // lets whichever side still waits see the connection go
  await harness?.close();
  harness = undefined;
  proxy = undefined;
});

/** Starts a silent watch through the proxy; resolves once the first event has arrived. */
async function silentWatch(options: HarnessOptions, callOptions: { timeoutMs?: number } = {}) {
  const server: { reason?: unknown; at?: number } = {};
  harness = await startChat(
    {
      async *watch(_request, ctx) {
        yield { revision: 1, at: undefined };
        server.reason = await aborted(ctx.signal);
        server.at = Date.now();
      },
    },
    {
      ...options,
      route: async (port) => {
        proxy = await startFaultProxy(port);
        return proxy.port;
      },
    },
  );
  const iterator = harness.client.watch({ afterRevision: 0 }, callOptions)[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value?.revision, 1);
  const client: { error?: unknown; at?: number } = {};
  const rest = iterator.next().then(
    () => assert.fail("the watch should not end normally"),
    (error: unknown) => {
      client.error = error;
      client.at = Date.now();
    },
  );
  return { server, client, rest };
}

test("the method's policy really is silent: no idle limit and no deadline", () => {
  assert.deepEqual(ChatService.watch.policy, { idleTimeoutMs: 0, timeoutMs: 0, sendTimeoutMs: 10000 });
});

test("the server's keepalive finds a client that vanished", async (t) => {
  const { server, client, rest } = await silentWatch({
    serverOptions: { keepalive: KEEPALIVE },
    clientOptions: { keepalive: false },
  });
  const vanishedAt = Date.now();
  proxy?.blackhole("both");
  await eventually(() => server.reason !== undefined, "the server to notice", BOUND + 500);
  const elapsed = (server.at as number) - vanishedAt;
  t.diagnostic(`the server noticed after ${elapsed} ms`);
  assert.ok(elapsed <= BOUND, `the server noticed after ${elapsed} ms, bound ${BOUND} ms`);
  assert.ok(server.reason instanceof RpcError);
  assert.equal(server.reason.reason, "peer-gone");
  await proxy?.close();
  await rest;
  assert.ok(client.error instanceof RpcError);
});

test("the client's keepalive finds a server that vanished", async (t) => {
  const { server, client, rest } = await silentWatch({
    serverOptions: { keepalive: false },
    clientOptions: { keepalive: KEEPALIVE },
  });
  const vanishedAt = Date.now();
  proxy?.blackhole("both");
  await rest;
  const elapsed = (client.at as number) - vanishedAt;
  t.diagnostic(`the client noticed after ${elapsed} ms`);
  assert.ok(elapsed <= BOUND, `the client noticed after ${elapsed} ms, bound ${BOUND} ms`);
  assert.ok(client.error instanceof RpcError);
  assert.equal(Status[client.error.code], "UNAVAILABLE", client.error.message);
  assert.equal(client.error.reason, "peer-gone");
  await proxy?.close();
  await eventually(() => server.reason !== undefined, "the server to see the connection close");
});

test("without keepalive the same stream hangs until its total deadline", async (t) => {
  const deadline = 2500;
  const { server, client, rest } = await silentWatch(
    { serverOptions: { keepalive: false }, clientOptions: { keepalive: false } },
    { timeoutMs: deadline },
  );
  // The deadline counts from the call's start, as its record has it.
  const startedAt = harness?.client.activeStreams()[0]?.startedAt;
  assert.ok(startedAt !== undefined);
  proxy?.blackhole("both");
  await rest;
  const elapsed = (client.at as number) - startedAt;
  t.diagnostic(`the client gave up after ${elapsed} ms, at its deadline`);
  // With keepalive off on both sides, the reason says that nothing but the deadline ended it.
  assert.ok(client.error instanceof RpcError);
  assert.equal(client.error.reason, "deadline");
  assertFiredOnTime(elapsed, deadline, "the client's total deadline");
  await eventually(() => server.reason !== undefined, "the server's own deadline");
  assert.equal((server.reason as RpcError).reason, "deadline");
});
