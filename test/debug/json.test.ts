/** `?format=json` against a real server: open calls with their limits, ends counted by reason, the server's state. */
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { test } from "node:test";
import { createClient, createServer, RECENT_ENDS, RpcError } from "leaksafe";
import { type DebugSnapshot, debugHandler } from "leaksafe/debug";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { servingChat } from "../hostile/chat-service.js";
import { closeHttp, HOLD_PATH, IDLE_PATH, OPEN_CALLS, startScene } from "./scene.js";

async function getJson(url: string): Promise<DebugSnapshot> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  return (await response.json()) as DebugSnapshot;
}

test("the JSON lists the open calls with their counts and limits, and the ends by reason", async () => {
  const scene = await startScene();
  try {
    const snap = await getJson(`${scene.url}?format=json`);
    assert.equal(snap.state, "listening");
    assert.equal(snap.open.length, OPEN_CALLS);
    assert.deepEqual(
      snap.methods.map(({ method, open, limits }) => ({ method, open, limits })),
      [
        {
          method: "/example.v1.Chat/Watch",
          open: 2,
          limits: { timeoutMs: 0, idleTimeoutMs: 0, sendTimeoutMs: 10_000 },
        },
        { method: HOLD_PATH, open: 1, limits: { timeoutMs: 0, idleTimeoutMs: 0, sendTimeoutMs: 7000 } },
        {
          method: "/example.v1.Chat/Converse",
          open: 1,
          limits: { timeoutMs: 600_000, idleTimeoutMs: 60_000, sendTimeoutMs: 10_000 },
        },
      ],
      "counted by method, most first (then by path), each with the limits from its .proto (or descriptor)",
    );
    const converse = snap.open.find((c) => c.method === "/example.v1.Chat/Converse");
    assert.ok(converse !== undefined);
    assert.equal(converse.kind, "bidi");
    assert.equal(converse.messagesIn, 2);
    assert.equal(converse.messagesOut, 2);
    assert.match(converse.peer, /^127\.0\.0\.1:\d+$/);
    assert.ok(
      converse.receiveWaitingSince !== null && converse.receiveWaitingMs !== null,
      "it waits for the next message",
    );
    assert.equal(converse.sendBlockedSince, null);
    assert.ok(converse.sinceLastInMs !== null && converse.sinceLastInMs >= 0);
    assert.ok(converse.deadline !== null && converse.deadlineInMs !== null && converse.deadlineInMs <= 600_000);
    assert.equal(converse.ageMs, snap.now - converse.startedAt);
    const watch = snap.open.find((c) => c.method === "/example.v1.Chat/Watch");
    assert.equal(watch?.deadline, null, "Watch has no total deadline");

    assert.ok(snap.ends !== null);
    assert.deepEqual(snap.ends.byReason, { ok: 3, "peer-gone": 1, idle: 1 });
    assert.equal(snap.ends.total, 5);
    assert.equal(snap.ends.recent.length, 5);
    const [idle] = snap.ends.recent;
    assert.equal(idle?.method, IDLE_PATH, "newest first: the idle call ended last");
    assert.equal(idle?.reason, "idle");
    assert.equal(idle?.code, 4);
    assert.equal(idle?.codeName, "DEADLINE_EXCEEDED");
    assert.ok((idle?.durationMs ?? 0) >= 300, "it lasted its idle limit");
    const posts = snap.ends.recent.filter((e) => e.reason === "ok");
    assert.deepEqual(
      posts.map((e) => [e.method, e.codeName, e.messagesIn, e.messagesOut]),
      Array(3).fill(["/example.v1.Chat/Post", "OK", 1, 1]),
    );

    // One more end, and the next read shows it: the page is live.
    await scene.chat.post({ author: "c", text: "later" });
    await eventually(() => scene.server.recentEnds().byReason.ok === 4, "the fourth Post to end");
    const later = await getJson(`${scene.url}?format=json`);
    assert.equal(later.ends?.byReason.ok, 4);
    assert.ok(later.now >= snap.now);
  } finally {
    await scene.close();
  }
});

test("the state follows the server's life, and a stream that shutdown ended is counted under shutdown", async () => {
  const leaks = createLeakChecker();
  const server = createServer().add(ChatService, servingChat);
  const admin = createHttpServer(debugHandler(server));
  await new Promise<void>((resolve) => admin.listen(0, "127.0.0.1", resolve));
  const address = admin.address();
  assert.ok(address !== null && typeof address === "object");
  const url = `http://127.0.0.1:${address.port}/?format=json`;
  const client = createClient(ChatService, `127.0.0.1:${await listenLater(server, url)}`);
  leaks.track({ registries: [server, client] });
  try {
    assert.equal((await getJson(url)).state, "listening");
    const watching = (async () => {
      for await (const _ of client.watch({ afterRevision: 0 }));
    })().catch((error: unknown) => error);
    await eventually(() => server.activeStreams().length === 1, "the Watch to open");
    assert.equal(server.limitsOf("/example.v1.Chat/Watch")?.sendTimeoutMs, 10_000);
    assert.equal(server.limitsOf("/no.Such/Method"), undefined);
    const stopping = server.shutdown({ graceMs: 5000 });
    assert.equal((await getJson(url)).state, "draining");
    const report = await stopping;
    assert.deepEqual(report.forced, []);
    const error = await watching;
    assert.ok(error instanceof RpcError, String(error));
    const snap = await getJson(url);
    assert.equal(snap.state, "stopped");
    assert.deepEqual(snap.open, []);
    assert.deepEqual(snap.ends?.byReason, { shutdown: 1 });
  } finally {
    client.close();
    await server.shutdown({ graceMs: 5000 });
    await closeHttp(admin);
    await leaks.assertNoLeaks();
  }
});

/** Checks the state before `listen`, then listens and returns the port. */
async function listenLater(server: ReturnType<typeof createServer>, url: string): Promise<number> {
  assert.equal(server.state, "created");
  assert.equal((await getJson(url)).state, "created");
  return server.listen("127.0.0.1:0");
}

test("a client's registry can be served too: its open calls, with no state, limits or ends", async () => {
  const scene = await startScene();
  const admin = createHttpServer(debugHandler(scene.chat));
  await new Promise<void>((resolve) => admin.listen(0, "127.0.0.1", resolve));
  try {
    const address = admin.address();
    assert.ok(address !== null && typeof address === "object");
    const snap = await getJson(`http://127.0.0.1:${address.port}/?format=json`);
    assert.equal(snap.state, null);
    assert.equal(snap.ends, null);
    assert.deepEqual(snap.open.map((c) => c.method).sort(), [
      "/example.v1.Chat/Converse",
      "/example.v1.Chat/Watch",
      "/example.v1.Chat/Watch",
    ]);
    assert.ok(snap.open.every((c) => c.peer === `127.0.0.1:${scene.port}` && c.limits === null));
  } finally {
    await closeHttp(admin);
    await scene.close();
  }
});

test("the ring keeps the newest RECENT_ENDS ends, newest first, while the counts keep every end", async () => {
  const leaks = createLeakChecker();
  const server = createServer().add(ChatService, servingChat);
  const client = createClient(ChatService, `127.0.0.1:${await server.listen("127.0.0.1:0")}`);
  leaks.track({ registries: [server, client] });
  try {
    const calls = RECENT_ENDS + 7;
    for (let i = 0; i < calls; i++) await client.post({ author: "a", text: String(i) });
    await eventually(() => server.recentEnds().byReason.ok === calls, `${calls} ends`);
    const { byReason, recent } = server.recentEnds();
    assert.deepEqual(byReason, { ok: calls });
    assert.equal(recent.length, RECENT_ENDS);
    const ids = recent.map((e) => e.id);
    assert.deepEqual(
      ids,
      ids.map((_, i) => calls - i),
      "ids from the newest (the last call) down, the oldest 7 gone",
    );
    assert.deepEqual(client.activeStreams(), []);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 5000 });
    await leaks.assertNoLeaks();
  }
});
