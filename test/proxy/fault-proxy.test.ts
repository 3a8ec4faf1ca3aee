/**
 * The fault proxy itself, on a plain TCP echo server: each fault does what
 * it says, and closing it leaves nothing open. What must arrive is awaited
 * as it arrives; only what must not arrive is given a fixed window, which a
 * slow machine cannot make fail.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, beforeEach, test } from "node:test";
import { createLeakChecker, type LeakChecker } from "leaksafe/testing";
import { eventually } from "../e2e/harness.js";
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

/** Everything the socket receives from now on, and when the first byte came. */
function collect() {
  const got = { text: "", firstAt: 0 };
  socket.on("data", (d: Buffer) => {
    got.firstAt ||= Date.now();
    got.text += d.toString();
  });
  return {
    get text() {
      return got.text;
    },
    get firstAt() {
      return got.firstAt;
    },
    /** Resolves once the socket has received `length` characters in all. */
    async until(length: number): Promise<string> {
      await eventually(() => got.text.length >= length, `${length} characters back (have "${got.text}")`);
      return got.text;
    },
  };
}

/** Waits out a window in which nothing may arrive. A slow machine can only make it pass, never fail. */
const quiet = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 150));

test("forwards both ways when healthy", async () => {
  const received = collect();
  socket.write("hello");
  assert.equal(await received.until(5), "hello");
  assert.equal(proxy.accepted, 1);
});

test("black-holing one direction drops its bytes but keeps the connection", async () => {
  const received = collect();
  proxy.blackhole("down");
  socket.write("lost");
  await eventually(() => proxy.dropped.down === 4, "the echo to be dropped");
  proxy.heal();
  socket.write("back");
  assert.equal(await received.until(4), "back", "only what was sent after heal() comes back");
  proxy.blackhole("up");
  socket.write("lost too");
  await eventually(() => proxy.dropped.up === 8, "the request to be dropped");
  assert.equal(socket.destroyed, false);
  proxy.heal();
  socket.write("!");
  assert.equal(await received.until(5), "back!", "the connection still works, and the dropped bytes never arrive");
});

test("delay holds every chunk, in order", async () => {
  proxy.delay(100);
  const received = collect();
  const started = Date.now();
  socket.write("a");
  socket.write("b");
  assert.equal(await received.until(2), "ab");
  assert.ok(received.firstAt - started >= 98, `the first byte came back after ${received.firstAt - started} ms`);
});

test("pause stops reading until healed", async () => {
  const received = collect();
  proxy.pause();
  socket.write("held");
  await quiet();
  assert.equal(received.text, "");
  proxy.heal();
  assert.equal(await received.until(4), "held");
});

test("reset sends a TCP RST to the client", async () => {
  const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.once("error", resolve));
  proxy.reset();
  assert.equal((await error).code, "ECONNRESET");
});
