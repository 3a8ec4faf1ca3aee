/**
 * Interop with Python grpcio (gRPC C-core, Debian's python3-grpcio), both
 * ways: gRPC's standard interop cases with a leaksafe client against a
 * Python server, and with a Python client against a leaksafe server; then
 * leaksafe's own cases: a silent Python peer hits the idle deadline, and a
 * Python peer killed mid-stream is detected. Each waits for events (a line
 * from the peer, its exit, the end of a call), never for a fixed time.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient, createServer, type LeaksafeServer, RpcError, type ServerContext, Status } from "leaksafe";
import { createLeakChecker, type LeakChecker } from "leaksafe/testing";
import { eventually } from "../e2e/harness.js";
import { assertFiredOnTime, assertNoticedAtOnce } from "../support/bounds.js";
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
    const idleTimeoutMs = 300;
    let last = Date.now();
    const error = await (async () => {
      for await (const _ of client.streamingOutputCall(
        {
          responseParameters: [
            { size: 1, intervalUs: 0 },
            { size: 1, intervalUs: 30_000_000 }, // long after the bound below
          ],
        },
        { idleTimeoutMs },
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
    assertFiredOnTime(elapsed, idleTimeoutMs, "the client's idle deadline");
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
  assertNoticedAtOnce(elapsed, "detecting the killed server");
  client.close();
  await peer.exited;
  peer.child.stdout?.destroy();
});

/** How a call's request loop ended on the leaksafe server, for a Python client case that names itself. */
interface LoopEnd {
  /** What the loop threw, or undefined when it ended normally. */
  error: unknown;
  at: number;
  /** When the last request arrived, or the call started if none did. */
  lastRequestAt: number;
}

/** The metadata key with which peer.py names the case a call belongs to. */
const CASE_KEY = "x-peer-case";

describe("a Python grpcio client against a leaksafe server", () => {
  const idleTimeoutMs = 1000;
  let server: LeaksafeServer;
  let port = 0;
  const results = new Map<string, { ok: boolean; error?: string; elapsed_ms?: number }>();
  // One promise per named case, so each test waits for its own call's end and no other.
  const loopEnds = new Map<string, { promise: Promise<LoopEnd>; resolve: (end: LoopEnd) => void }>();
  const loopEnd = (name: string) => {
    let entry = loopEnds.get(name);
    if (entry === undefined) {
      let resolve: (end: LoopEnd) => void = () => undefined;
      const promise = new Promise<LoopEnd>((r) => {
        resolve = r;
      });
      entry = { promise, resolve };
      loopEnds.set(name, entry);
    }
    return entry;
  };
  before(async () => {
    server = createServer();
    server.add(
      stubs.TestServiceService,
      {
        ...testService,
        async streamingInputCall(requests: AsyncIterable<StreamingInputCallRequest>, ctx: ServerContext) {
          const name = ctx.metadata.get(CASE_KEY)[0];
          if (typeof name !== "string") return testService.streamingInputCall(requests);
          let lastRequestAt = Date.now();
          const stamped = (async function* () {
            for await (const request of requests) {
              lastRequestAt = Date.now();
              yield request;
            }
          })();
          try {
            const response = await testService.streamingInputCall(stamped);
            loopEnd(name).resolve({ error: undefined, at: Date.now(), lastRequestAt });
            return response;
          } catch (error) {
            loopEnd(name).resolve({ error, at: Date.now(), lastRequestAt });
            throw error;
          }
        },
      } as never,
      { idleTimeoutMs },
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

  test("leaksafe's own: a Python client that goes silent hits the server's idle deadline", {
    timeout: 30_000,
  }, async () => {
    const r = results.get("silent_client");
    assert.ok(r !== undefined, "the Python client did not report silent_client");
    assert.equal(r.error, undefined, "the Python client should see DEADLINE_EXCEEDED");
    const end = await loopEnd("silent_client").promise;
    assert.ok(end.error instanceof RpcError, String(end.error));
    assert.equal(Status[end.error.code], "DEADLINE_EXCEEDED");
    assert.equal(end.error.reason, "idle");
    assertFiredOnTime(end.at - end.lastRequestAt, idleTimeoutMs, "the server's idle deadline");
    // The Python client counts from before its call, so from no later than the server's last request.
    assertFiredOnTime(r.elapsed_ms ?? 0, idleTimeoutMs, "the idle deadline, as the Python client saw it");
  });

  test("leaksafe's own: a Python client killed mid-stream is detected by the leaksafe server", {
    timeout: 60_000,
  }, async () => {
    const ended = loopEnd("killed_client").promise;
    const peer = await startPeer(["stream", `127.0.0.1:${port}`]);
    assert.equal(peer.line, "sending");
    const killedAt = Date.now();
    await stopPeer(peer);
    const end = await ended;
    assert.ok(end.error instanceof RpcError, String(end.error));
    assert.equal(Status[end.error.code], "CANCELLED");
    // peer-gone, not idle: the closed connection ended the call, not the server's 1 s idle deadline.
    assert.equal(end.error.reason, "peer-gone");
    assertNoticedAtOnce(end.at - killedAt, "detecting the killed client");
  });
});
