/**
 * Interop with Python grpcio (gRPC C-core, Debian's python3-grpcio), both
 * ways: gRPC's standard interop cases with a leaksafe client against a
 * Python server, and with a Python client against a leaksafe server; then
 * leaksafe's own cases: a silent Python peer hits the idle deadline, and a
 * Python peer killed mid-stream is detected.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient, createServer, type LeaksafeServer, RpcError, Status } from "leaksafe";
import { createLeakChecker, type LeakChecker } from "leaksafe/testing";
import { eventually } from "../e2e/harness.js";
import { removeDir } from "../support/generate.js";
import { CASES, type TestClient } from "./cases.js";
import { type Generated, generateInterop, PYTHON } from "./generate.js";
import { type StreamingInputCallRequest, testService } from "./test-service.js";

const PEER = join(import.meta.dirname, "python/peer.py");
let gen: Generated;
let stubs: any;
let leaks: LeakChecker;

interface Peer {
  child: ChildProcess;
  line: string;
  exited: Promise<NodeJS.Signals | null>;
}

/** Starts peer.py and resolves with its first line of output. */
async function startPeer(args: string[]): Promise<Peer> {
  const child = spawn(PYTHON, [PEER, gen.python, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_c, signal) => resolve(signal)));
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    child.stdout?.on("data", (d: Buffer) => {
      buffer += d.toString();
      const i = buffer.indexOf("\n");
      if (i >= 0) resolve(buffer.slice(0, i));
    });
    child.once("exit", (code) => reject(new Error(`peer.py ${args.join(" ")} exited with ${code}`)));
  });
  return { child, line, exited };
}

/** Runs a Python command to its end without blocking this process's event loop. */
function runPython(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function stopPeer(peer: Peer): Promise<void> {
  peer.child.kill("SIGKILL");
  await peer.exited;
  peer.child.stdout?.destroy();
}

before(async () => {
  const check = spawnSync(PYTHON, ["-c", "import grpc"], { encoding: "utf8" });
  assert.equal(check.status, 0, `${PYTHON} cannot import grpc: install Debian's python3-grpcio (${check.stderr})`);
  leaks = createLeakChecker();
  gen = generateInterop();
  stubs = await import(gen.stubs);
});

after(async () => {
  removeDir(gen.dir);
  await leaks.assertNoLeaks({ timeoutMs: 5000 });
});

describe("a leaksafe client against a Python grpcio server", () => {
  let peer: Peer;
  let client: TestClient & { close(): void; activeStreams(): unknown[] };
  before(async () => {
    peer = await startPeer(["server"]);
    client = createClient(stubs.TestServiceService, `127.0.0.1:${peer.line.split(" ")[1]}`) as never;
  });
  after(async () => {
    await eventually(() => client.activeStreams().length === 0, "the client's calls to end");
    client.close();
    await stopPeer(peer);
  });

  for (const [name, run] of Object.entries(CASES)) {
    test(name, () => run(client));
  }

  test("leaksafe's own: a Python server that goes silent hits the client's idle deadline", async () => {
    let last = Date.now();
    const error = await (async () => {
      for await (const _ of client.streamingOutputCall(
        {
          responseParameters: [
            { size: 1, intervalUs: 0 },
            { size: 1, intervalUs: 10_000_000 },
          ],
        },
        { idleTimeoutMs: 300 },
      )) {
        last = Date.now();
      }
    })().then(
      () => assert.fail("the silent stream should fail"),
      (e: unknown) => e,
    );
    const elapsed = Date.now() - last;
    assert.ok(error instanceof RpcError);
    assert.equal(error.reason, "idle");
    assert.equal(Status[error.code], "DEADLINE_EXCEEDED");
    assert.ok(elapsed >= 298 && elapsed <= 550, `idle fired after ${elapsed} ms`);
  });
});

test("leaksafe's own: a Python server killed mid-stream is detected by the leaksafe client", async () => {
  const peer = await startPeer(["server"]);
  const client = createClient(
    stubs.TestServiceService,
    `127.0.0.1:${peer.line.split(" ")[1]}`,
  ) as never as TestClient & {
    close(): void;
  };
  const params = Array.from({ length: 1000 }, () => ({ size: 16, intervalUs: 10_000 }));
  let killedAt = 0;
  let count = 0;
  const error = await (async () => {
    for await (const _ of client.streamingOutputCall({ responseParameters: params })) {
      if (++count === 3) {
        killedAt = Date.now();
        peer.child.kill("SIGKILL");
      }
    }
  })().then(
    () => assert.fail("the stream should fail"),
    (e: unknown) => e,
  );
  const elapsed = Date.now() - killedAt;
  assert.ok(error instanceof RpcError);
  assert.equal(Status[error.code], "UNAVAILABLE", error.message);
  assert.equal(error.reason, "peer-gone");
  assert.ok(elapsed <= 250, `detected after ${elapsed} ms`);
  client.close();
  await peer.exited;
  peer.child.stdout?.destroy();
});

describe("a Python grpcio client against a leaksafe server", () => {
  let server: LeaksafeServer;
  let port = 0;
  const results = new Map<string, { ok: boolean; error?: string; elapsed_ms?: number }>();
  const killed: { error?: unknown; at?: number } = {};
  before(async () => {
    server = createServer();
    server.add(
      stubs.TestServiceService,
      {
        ...testService,
        async streamingInputCall(requests: AsyncIterable<StreamingInputCallRequest>) {
          try {
            return await testService.streamingInputCall(requests);
          } catch (error) {
            killed.error = error;
            killed.at = Date.now();
            throw error;
          }
        },
      } as never,
      { idleTimeoutMs: 1000 },
    );
    port = await server.listen("127.0.0.1:0");
    // Asynchronously: this process serves the calls the Python client makes.
    const run = await runPython([
      PEER,
      gen.python,
      "client",
      `127.0.0.1:${port}`,
      ...Object.keys(CASES),
      "silent_client",
    ]);
    assert.equal(run.code, 0, run.stderr);
    for (const line of run.stdout.trim().split("\n")) {
      const r = JSON.parse(line) as { case: string; ok: boolean; error?: string };
      results.set(r.case, r);
    }
  });
  after(async () => {
    await eventually(() => server.activeStreams().length === 0, "the server's calls to end");
    await server.shutdown({ graceMs: 500 });
  });

  for (const name of Object.keys(CASES)) {
    test(name, () => {
      const r = results.get(name);
      assert.ok(r !== undefined, `the Python client did not report ${name}`);
      assert.equal(r.error, undefined);
      assert.equal(r.ok, true);
    });
  }

  test("leaksafe's own: a Python client that goes silent hits the server's idle deadline", () => {
    const r = results.get("silent_client");
    assert.equal(r?.error, undefined);
    assert.ok((r?.elapsed_ms ?? 0) >= 1000 && (r?.elapsed_ms ?? 0) <= 1000 + 250 + 100, `after ${r?.elapsed_ms} ms`);
  });

  test("leaksafe's own: a Python client killed mid-stream is detected by the leaksafe server", async () => {
    const peer = await startPeer(["stream", `127.0.0.1:${port}`]);
    assert.equal(peer.line, "sending");
    const killedAt = Date.now();
    await stopPeer(peer);
    await eventually(() => killed.error !== undefined, "the server's request loop to fail");
    assert.ok(killed.error instanceof RpcError);
    assert.equal(Status[killed.error.code], "CANCELLED");
    assert.equal(killed.error.reason, "peer-gone");
    assert.ok((killed.at as number) - killedAt <= 250, `detected after ${(killed.at as number) - killedAt} ms`);
  });
});
