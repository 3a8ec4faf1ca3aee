/**
 * The gateway scenario: one process runs a gRPC server and an HTTP gateway
 * that calls it; clients hold requests open on the gateway. On SIGTERM,
 * leaksafe's shutdown exits 0, every step within its grace period, whichever
 * component closes first, and logs the report. Raw tryShutdown keeps waiting
 * for as long as the clients hold their requests. Each test waits for
 * events (a line from the app, a line of a response, the app's exit), never
 * for a fixed time.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { HEADROOM } from "../support/bounds.js";

const GRACE = 1000;
/** The longest leaksafe's shutdown may take: the app's steps are grpc and gateway (GRACE each), then the client (100 ms). */
const BUDGET = 2 * GRACE + 100;
/** How many more events a held /watch must deliver after SIGTERM to show that raw shutdown is still serving it. */
const EVENTS_AFTER_SIGTERM = 5;

interface App {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once the app's output satisfies `done`; rejects if the app exits first. */
  waitFor(done: (output: string) => boolean, what: string): Promise<void>;
}

async function startApp(mode: string, order: string): Promise<App> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "gateway-app.ts"), mode, order, String(GRACE)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const waitFor = (done: (output: string) => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done(output)) return;
        child.stdout?.off("data", check);
        child.off("exit", early);
        resolve();
      };
      const early = (): void => {
        child.stdout?.off("data", check);
        reject(new Error(`the app exited before ${what}:\n${output}`));
      };
      child.stdout?.on("data", check);
      child.once("exit", early);
      check();
    });
  await waitFor((out) => /ready \d+/.test(out), "it was ready");
  const port = Number(/ready (\d+)/.exec(output)?.[1]);
  return { child, port, output: () => output, exited, waitFor };
}

const count = (text: string, line: string): number => text.split("\n").filter((l) => l === line).length;

interface Held {
  /** Resolves with the body once the response ends or its connection goes. */
  ended: Promise<string>;
  /** How many whole lines the body holds so far. */
  lineCount(): number;
  /** Resolves once the body holds `n` lines; rejects if it ends first. */
  lines(n: number): Promise<void>;
  /** Drops the request, as a client that leaves. */
  release(): void;
}

/**
 * Opens a request and resolves once the gateway is holding it: a /watch once
 * its first line arrives, a /poll once the gRPC server logs that it holds it.
 */
async function hold(app: App, path: "/watch" | "/poll"): Promise<Held> {
  const pollsBefore = count(app.output(), "post: waiting");
  let body = "";
  const onBody = new Set<() => void>();
  let markEnded: (body: string) => void = () => undefined;
  const ended = new Promise<string>((resolve) => {
    markEnded = resolve;
  });
  let finished = false;
  const finish = (): void => {
    finished = true;
    markEnded(body);
    for (const f of onBody) f();
  };
  const req = request({ port: app.port, host: "127.0.0.1", path }, (res) => {
    res.on("data", (d: Buffer) => {
      body += d.toString();
      for (const f of onBody) f();
    });
    res.on("end", finish);
    res.on("error", finish);
    res.on("close", finish);
  });
  req.on("error", finish); // a request cut off at shutdown, or released, ends like any other
  req.on("close", finish);
  req.end();
  const lineCount = (): number => body.split("\n").length - 1;
  const lines = (n: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (lineCount() >= n) {
          onBody.delete(check);
          resolve();
        } else if (finished) {
          onBody.delete(check);
          reject(new Error(`${path} ended after ${lineCount()} lines, before ${n}: ${body}`));
        }
      };
      onBody.add(check);
      check();
    });
  if (path === "/watch") await lines(1);
  else await app.waitFor((out) => count(out, "post: waiting") > pollsBefore, "the gRPC server held the poll");
  return { ended, lineCount, lines, release: () => req.destroy() };
}

for (const order of ["grpc-first", "gateway-first"]) {
  test(`with leaksafe, SIGTERM exits 0, every step within its grace period (${order})`, async () => {
    const app = await startApp("leaksafe", order);
    const held = [await hold(app, "/watch"), await hold(app, "/watch"), await hold(app, "/poll")];
    const sentAt = Date.now();
    app.child.kill("SIGTERM");
    const code = await app.exited;
    const took = Date.now() - sentAt;
    const out = app.output();
    // shutdownOnSignals exits 1 when a step runs past its grace period, by its own clock.
    assert.equal(code, 0, out);
    assert.match(out, /leaksafe: SIGTERM: shutting down/);
    assert.match(out, /leaksafe: stopped grpc in \d+ ms: \{"finished":\d+,"forced":\[.*\],"durationMs":\d+\}/);
    assert.match(out, /leaksafe: stopped gateway in \d+ ms: "ok"/);
    assert.match(out, /leaksafe: shutdown complete/);
    // From outside, only a bound against a hang: the steps' grace periods, with headroom for a slow machine.
    assert.ok(took <= HEADROOM * BUDGET, `exited ${took} ms after SIGTERM, bound ${HEADROOM * BUDGET} ms:\n${out}`);
    for (const h of held) await h.ended;
  });

  test(`with raw tryShutdown, shutdown waits as long as the clients hold their requests (${order})`, {
    timeout: 60_000, // against a hang only: every wait below is for an event
  }, async () => {
    const app = await startApp("raw", order);
    const watch = await hold(app, "/watch");
    const poll = await hold(app, "/poll");
    app.child.kill("SIGTERM");
    await app.waitFor((out) => /raw: SIGTERM/.test(out), "it logged the signal");
    // Shutdown has begun, yet the held stream keeps flowing (lines() rejects if it ends): nothing ends it.
    await watch.lines(watch.lineCount() + EVENTS_AFTER_SIGTERM);
    assert.equal(app.child.exitCode, null, `raw shutdown should still be waiting; output:\n${app.output()}`);
    // Once the clients leave, the same shutdown completes by itself.
    watch.release();
    poll.release();
    assert.equal(await app.exited, 0, app.output());
    assert.doesNotMatch(app.output(), /leaksafe:/);
  });
}
