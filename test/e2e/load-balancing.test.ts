/**
 * `loadBalancing` and `unaryRetry`, the client's first-class options for a
 * fleet of replicas: round_robin over three real servers spreads calls
 * evenly, pick_first keeps them on one, and a unary call that fails with
 * UNAVAILABLE before its server answered is made again.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, createServer, type LeaksafeServer, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "./harness.js";

/** Three servers on 127.0.0.1:0, each counting the posts it served. */
async function replicas(): Promise<{
  servers: LeaksafeServer[];
  served: number[];
  target: string;
  addresses: string[];
}> {
  const served = [0, 0, 0];
  const servers: LeaksafeServer[] = [];
  const ports: number[] = [];
  for (const i of [0, 1, 2]) {
    const server = createServer().add(ChatService, {
      ...unimplemented(),
      async post() {
        served[i] = (served[i] ?? 0) + 1;
        return { revision: i };
      },
      // One event, then the replica "goes away" from this stream.
      async *watch() {
        yield { revision: i, at: undefined };
        throw new RpcError(Status.UNAVAILABLE, `replica ${i} lets go`);
      },
    });
    ports.push(await server.listen("127.0.0.1:0"));
    servers.push(server);
  }
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  return { servers, served, target: `ipv4:${addresses.join(",")}`, addresses };
}

async function stop(servers: LeaksafeServer[]): Promise<void> {
  for (const server of servers) {
    assert.deepEqual((await server.shutdown({ graceMs: 1000 })).forced, []);
  }
}

test('loadBalancing "round_robin" sends each call to the next replica; the default, pick_first, sends all to one', async () => {
  const leaks = createLeakChecker();
  const { servers, served, target } = await replicas();
  const spread = createClient(ChatService, target, { loadBalancing: "round_robin" });
  const single = createClient(ChatService, target);
  leaks.track({ registries: [...servers, spread, single] });

  // Until every replica is connected, round_robin uses those that are.
  const until = Date.now() + 10_000;
  while (!served.every((n) => n > 0)) {
    assert.ok(Date.now() < until, `every replica should serve a call within 10 s; served ${served}`);
    await spread.post({ author: "a", text: "warm-up" });
  }
  served.fill(0);
  for (let i = 0; i < 30; i++) await spread.post({ author: "a", text: `${i}` });
  assert.deepEqual(served, [10, 10, 10], "30 calls over 3 connected replicas: 10 each");

  served.fill(0);
  for (let i = 0; i < 30; i++) await single.post({ author: "b", text: `${i}` });
  assert.deepEqual([...served].sort(), [0, 0, 30], "pick_first: every call on one connection");

  spread.close();
  single.close();
  await stop(servers);
  await leaks.assertNoLeaks();
});

test("unaryRetry makes a unary call again after UNAVAILABLE, up to maxAttempts; without it the call fails at once", async () => {
  const leaks = createLeakChecker();
  const attempts = new Map<string, number>();
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    async post({ text }) {
      const n = (attempts.get(text) ?? 0) + 1;
      attempts.set(text, n);
      if (n < 3) throw new RpcError(Status.UNAVAILABLE, `attempt ${n} of ${text} refused`);
      return { revision: n };
    },
  });
  const port = await server.listen("127.0.0.1:0");
  const retrying = createClient(ChatService, `127.0.0.1:${port}`, {
    unaryRetry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 },
  });
  const plain = createClient(ChatService, `127.0.0.1:${port}`);
  const twice = createClient(ChatService, `127.0.0.1:${port}`, { unaryRetry: { maxAttempts: 2 } });
  leaks.track({ registries: [server, retrying, plain, twice] });

  assert.equal((await retrying.post({ author: "a", text: "x" })).revision, 3);
  assert.equal(attempts.get("x"), 3, "three attempts reached the server");

  const once = await plain.post({ author: "a", text: "y" }).catch((e: unknown) => e);
  assert.ok(once instanceof RpcError && once.code === Status.UNAVAILABLE, String(once));
  assert.equal(attempts.get("y"), 1);

  const short = await twice.post({ author: "a", text: "z" }).catch((e: unknown) => e);
  assert.ok(short instanceof RpcError, String(short));
  assert.match(short.message, /attempt 2 of z refused/);
  assert.equal(attempts.get("z"), 2, "maxAttempts 2: two attempts, then the last one's error");

  for (const client of [retrying, plain, twice]) client.close();
  assert.deepEqual((await server.shutdown({ graceMs: 1000 })).forced, []);
  await leaks.assertNoLeaks();
});

test("bad loadBalancing and unaryRetry settings are refused with the setting's name", () => {
  const target = "127.0.0.1:1";
  const make = (options: Parameters<typeof createClient>[2]) => () => createClient(ChatService, target, options);
  assert.throws(
    make({ loadBalancing: "random" as never }),
    /loadBalancing must be "pick_first" or "round_robin", got "random"/,
  );
  assert.throws(
    make({ unaryRetry: { maxAttempts: 6 } }),
    /unaryRetry.maxAttempts must be a whole number from 2 to 5, got 6/,
  );
  assert.throws(make({ unaryRetry: { initialBackoffMs: 0 } }), /unaryRetry.initialBackoffMs must be a whole number/);
  assert.throws(
    make({ unaryRetry: { initialBackoffMs: 500, maxBackoffMs: 100 } }),
    /unaryRetry.maxBackoffMs \(100\) must not be less than initialBackoffMs \(500\)/,
  );
  assert.throws(
    make({ unaryRetry: { codes: [Status.OK] } }),
    /unaryRetry.codes must hold gRPC status codes other than OK, got 0/,
  );
  assert.throws(make({ unaryRetry: { codes: [] } }), /unaryRetry.codes must name at least one status code/);
});

test("peer names the replica a call was on, not the target: in onCallEnd, activeStreams and onRetry", async () => {
  const leaks = createLeakChecker();
  const { servers, served, target, addresses } = await replicas();
  const ended: string[] = [];
  const client = createClient(ChatService, target, {
    loadBalancing: "round_robin",
    hooks: { onCallEnd: ({ peer }) => ended.push(peer) },
  });
  leaks.track({ registries: [...servers, client] });
  while (!served.every((n) => n > 0)) await client.post({ author: "a", text: "warm-up" });
  ended.length = 0;
  for (let i = 0; i < 3; i++) await client.post({ author: "a", text: `${i}` });
  assert.deepEqual([...ended].sort(), [...addresses].sort(), "three calls, one on each replica, each named");

  const retriedOn: string[] = [];
  const seenOn: string[] = [];
  const watch = client.watch({ afterRevision: 0 }, { resume: { onRetry: ({ peer }) => retriedOn.push(peer) } });
  for await (const event of watch) {
    const [open] = client.activeStreams();
    seenOn.push(open?.peer ?? "none");
    assert.equal(open?.peer, addresses[event.revision], "activeStreams names the replica that sent the event");
    if (retriedOn.length >= 3) break;
  }
  assert.ok(
    retriedOn.every((peer) => addresses.includes(peer)),
    `onRetry names replicas: ${retriedOn} (target ${target})`,
  );
  assert.deepEqual(retriedOn, seenOn.slice(0, retriedOn.length), "each retry names the replica that let the stream go");

  client.close();
  await stop(servers);
  await leaks.assertNoLeaks();
});
