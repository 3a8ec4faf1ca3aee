/** The health-probe example, run as a script against a real server, as a probe would run it. */
import assert from "node:assert/strict";
import { createServer as createTcpServer, type Socket } from "node:net";
import { test } from "node:test";
import { createServer } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";
import { runScript } from "./run-script.js";

const runProbe = (args: string[]) => runScript("health-probe.ts", args);

test("the probe exits 0 for SERVING, 1 for NOT_SERVING or an unknown service, and names what it saw", async () => {
  const leaks = createLeakChecker();
  const server = createServer({ health: true }).add(ChatService, unimplemented());
  const target = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
  leaks.track({ registries: [server] });
  try {
    assert.deepEqual(await runProbe([target]), {
      code: 0,
      out: `the server at ${target}: SERVING`,
    });
    server.health.set("example.v1.Chat", "NOT_SERVING");
    const notServing = await runProbe([target, "example.v1.Chat"]);
    assert.equal(notServing.code, 1);
    assert.equal(notServing.out, `example.v1.Chat at ${target}: NOT_SERVING`);
    const unknown = await runProbe([target, "no.such.Service"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.out, /^no\.such\.Service at .*: NOT_FOUND, no health status for service "no\.such\.Service"$/);
  } finally {
    await server.shutdown({ graceMs: 5000 });
    await leaks.assertNoLeaks();
  }
});

test("against a server that never answers, the probe fails within its bound instead of hanging", async () => {
  const sockets = new Set<Socket>();
  const silent = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const address = silent.address();
  assert.ok(address !== null && typeof address === "object");
  const target = `127.0.0.1:${address.port}`;
  try {
    const bound = 500;
    const { code, out } = await runProbe([target, "", String(bound)]);
    assert.equal(code, 1);
    assert.equal(
      out,
      `the server at ${target}: UNAVAILABLE, no connection to ${target} within ${bound} ms (connectTimeoutMs)`,
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
