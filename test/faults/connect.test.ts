/**
 * `connectTimeoutMs`: a call that starts before its channel is connected
 * fails with UNAVAILABLE once the bound runs out, with or without
 * `waitForReady`, against a socket that accepts but never speaks HTTP/2 and
 * against an address that refuses; a call on a connected channel is not
 * bounded by it.
 */
import assert from "node:assert/strict";
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { CONNECT_TIMEOUT_MS, createClient, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { sleep, startChat } from "../e2e/harness.js";
import { assertFiredOnTime } from "../support/bounds.js";

const BOUND = 300;

/** A TCP server that accepts connections and never writes a byte: no HTTP/2 SETTINGS, ever. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port that refuses: bound by a server that is then closed. */
async function refusingPort(): Promise<number> {
  const { port, close } = await silentServer();
  await close();
  return port;
}

const waitForReady = () => ({ metadata: new Metadata({ waitForReady: true }) });

async function failsOnTime(call: () => Promise<unknown>, target: string, what: string): Promise<void> {
  const started = Date.now();
  const error = await call().then(
    () => assert.fail(`${what}: the call succeeded`),
    (e: unknown) => e,
  );
  const elapsed = Date.now() - started;
  assert.ok(error instanceof RpcError, `${what}: ${String(error)}`);
  assert.equal(Status[error.code], "UNAVAILABLE", `${what}: ${error.details}`);
  assert.equal(error.reason, "peer-gone", what);
  assert.equal(error.details, `no connection to ${target} within ${BOUND} ms (connectTimeoutMs)`, what);
  assertFiredOnTime(elapsed, BOUND, `${what}: connectTimeoutMs`);
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // nothing arrives
  }
}

test("against a socket that never speaks HTTP/2, every kind of call fails with UNAVAILABLE after connectTimeoutMs, waitForReady or not", async () => {
  const leaks = createLeakChecker();
  const silent = await silentServer();
  const target = `127.0.0.1:${silent.port}`;
  const client = createClient(ChatService, target, { connectTimeoutMs: BOUND });
  leaks.track({ registries: [client] });
  try {
    await failsOnTime(() => client.post({ author: "a", text: "b" }), target, "unary");
    await failsOnTime(() => client.post({ author: "a", text: "b" }, waitForReady()), target, "unary, waitForReady");
    await failsOnTime(() => drain(client.watch({ afterRevision: 0 }, waitForReady())), target, "server stream");
    await failsOnTime(
      () =>
        client.upload(
          (async function* () {
            yield { name: "x", data: new Uint8Array(1) };
          })(),
          waitForReady(),
        ),
      target,
      "client stream",
    );
    assert.equal(client.activeStreams().length, 0);
  } finally {
    client.close();
    await silent.close();
    await leaks.assertNoLeaks();
  }
});

test("against an address that refuses, a waitForReady call fails with UNAVAILABLE after connectTimeoutMs instead of waiting for ever", async () => {
  const leaks = createLeakChecker();
  const port = await refusingPort();
  const target = `127.0.0.1:${port}`;
  const client = createClient(ChatService, target, { connectTimeoutMs: BOUND });
  leaks.track({ registries: [client] });
  try {
    await failsOnTime(() => client.post({ author: "a", text: "b" }, waitForReady()), target, "unary, waitForReady");
    // Without waitForReady, grpc-js fails the call itself as soon as the attempt is refused.
    const refused = await client.post({ author: "a", text: "b" }).catch((e: unknown) => e);
    assert.ok(refused instanceof RpcError, String(refused));
    assert.equal(Status[refused.code], "UNAVAILABLE");
    assert.notEqual(refused.details, `no connection to ${target} within ${BOUND} ms (connectTimeoutMs)`);
  } finally {
    client.close();
    await leaks.assertNoLeaks();
  }
});

test("a call on a connected channel outlives connectTimeoutMs, and the default and bad values are as documented", async () => {
  const harness = await startChat({
    async post(request) {
      await sleep(3 * BOUND);
      return { revision: request.text.length };
    },
  });
  const client = createClient(ChatService, `127.0.0.1:${harness.port}`, { connectTimeoutMs: BOUND });
  try {
    assert.equal((await client.post({ author: "a", text: "first" })).revision, 5, "the call that connects");
    assert.equal((await client.post({ author: "a", text: "second" })).revision, 6, "a call on the connected channel");
    assert.equal(CONNECT_TIMEOUT_MS, 20_000);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      assert.throws(
        () => createClient(ChatService, `127.0.0.1:${harness.port}`, { connectTimeoutMs: bad }),
        /connectTimeoutMs must be a number of milliseconds from 0 to 2147483647, not /,
      );
    }
  } finally {
    client.close();
    await harness.close();
  }
});
