/**
 * The gateway scenario: one process runs a gRPC server and an HTTP gateway
 * that calls it; clients hold requests open on the gateway. On SIGTERM,
 * leaksafe's shutdown exits 0 within the grace period + 1 s, whichever
 * component closes first, and logs the report. Raw tryShutdown hangs.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { test } from "node:test";

const GRACE = 1000;

interface App {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
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
  const port = await new Promise<number>((resolve, reject) => {
    const check = (): void => {
      const m = /ready (\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on("data", check);
    child.once("exit", () => reject(new Error(`the app exited before it was ready:\n${output}`)));
  });
  return { child, port, output: () => output, exited };
}

/** Opens a request and resolves once the gateway is holding it: the first line for a stream, a short wait for a poll. */
function hold(port: number, path: string): Promise<{ ended: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: "127.0.0.1", path }, (res) => {
      let body = "";
      const ended = new Promise<string>((done) => {
        res.on("data", (d: Buffer) => {
          body += d.toString();
          if (path === "/watch" && body.includes("\n")) resolve({ ended });
        });
        res.on("end", () => done(body));
        res.on("error", () => done(body));
        res.on("close", () => done(body));
      });
    });
    req.on("error", (error) => {
      if (path === "/poll") return; // a poll cut off at shutdown is fine
      reject(error);
    });
    req.end();
    if (path === "/poll") setTimeout(() => resolve({ ended: Promise.resolve("") }), 200);
  });
}

for (const order of ["grpc-first", "gateway-first"]) {
  test(`with leaksafe, SIGTERM exits 0 within the grace period + 1 s (${order})`, async () => {
    const app = await startApp("leaksafe", order);
    const held = [await hold(app.port, "/watch"), await hold(app.port, "/watch"), await hold(app.port, "/poll")];
    const sentAt = Date.now();
    app.child.kill("SIGTERM");
    const code = await app.exited;
    const took = Date.now() - sentAt;
    assert.equal(code, 0, app.output());
    assert.ok(took <= GRACE + 1000, `exited ${took} ms after SIGTERM:\n${app.output()}`);
    const out = app.output();
    assert.match(out, /leaksafe: SIGTERM: shutting down/);
    assert.match(out, /leaksafe: stopped grpc in \d+ ms: \{"finished":\d+,"forced":\[.*\],"durationMs":\d+\}/);
    assert.match(out, /leaksafe: shutdown complete/);
    for (const h of held) await h.ended;
  });

  test(`with raw tryShutdown, the same scenario hangs (${order})`, async () => {
    const app = await startApp("raw", order);
    await hold(app.port, "/watch");
    await hold(app.port, "/poll");
    app.child.kill("SIGTERM");
    const result = await Promise.race([
      app.exited.then(() => "exited"),
      new Promise((resolve) => setTimeout(() => resolve("still running"), GRACE + 3000)),
    ]);
    assert.equal(result, "still running", `raw shutdown should hang; output:\n${app.output()}`);
    assert.match(app.output(), /raw: SIGTERM/);
    app.child.kill("SIGKILL");
    await app.exited;
  });
}
