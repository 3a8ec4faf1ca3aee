/**
 * The fault proxy itself, on a plain TCP echo server: each fault does what
 * it says, and closing it leaves nothing open.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, beforeEach, test } from "node:test";
import { createLeakChecker, type LeakChecker } from "leaksafe/testing";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";

let leaks: LeakChecker;
let echo: Server;
let proxy: FaultProxy;
let socket: Socket;

beforeEach(async () => {
  leaks = createLeakChecker();
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const port = (echo.address() as { port: number }).port;
  proxy = await startFaultProxy(port);
  socket = connect(proxy.port, "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", resolve));
});

afterEach(async () => {
  socket.destroy();
  await proxy.close();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
  await leaks.assertNoLeaks();
});

/** Sends `text` and collects what comes back within `ms`. */
async function roundTrip(text: string, ms = 150): Promise<string> {
  let received = "";
  const onData = (d: Buffer): void => {
    received += d.toString();
  };
  socket.on("data", onData);
  socket.write(text);
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.off("data", onData);
  return received;
}

test("forwards both ways when healthy", async () => {
  assert.equal(await roundTrip("hello"), "hello");
  assert.equal(proxy.accepted, 1);
});

test("black-holing one direction drops its bytes but keeps the connection", async () => {
  proxy.blackhole("down");
  assert.equal(await roundTrip("lost"), "");
  proxy.heal();
  assert.equal(await roundTrip("back"), "back");
  proxy.blackhole("up");
  assert.equal(await roundTrip("lost too"), "");
  assert.equal(socket.destroyed, false);
});

test("delay holds every chunk, in order", async () => {
  proxy.delay(100);
  const started = Date.now();
  let received = "";
  let firstAt = 0;
  socket.on("data", (d: Buffer) => {
    firstAt ||= Date.now();
    received += d.toString();
  });
  socket.write("a");
  socket.write("b");
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(received, "ab");
  assert.ok(firstAt - started >= 98, `the first byte came back after ${firstAt - started} ms`);
});

test("pause stops reading until healed", async () => {
  proxy.pause();
  assert.equal(await roundTrip("held"), "");
  proxy.heal();
  assert.equal(await roundTrip(""), "held");
});

test("reset sends a TCP RST to the client", async () => {
  const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.once("error", resolve));
  proxy.reset();
  assert.equal((await error).code, "ECONNRESET");
});
