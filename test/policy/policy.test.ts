/**
 * Stream policy precedence, one test per level on each side, each proving
 * which value won by the limit named in the error that ended the stream and
 * by when it ended: no earlier than that limit, and within 10× of it. Then
 * the generation errors for bad values.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { type CallOptions, createClient, createServer, type LeaksafeServer, RpcError, Status } from "leaksafe";
import { createLeakChecker, type LeakChecker } from "leaksafe/testing";
import { type BenchImplementation, BenchService } from "../../generated-example/bench/v1/bench_leaksafe.js";
import { aborted, eventually, sleep } from "../e2e/harness.js";
import { assertFiredOnTime, HEADROOM } from "../support/bounds.js";
import { bufGenerate, listFiles, ROOT, removeDir, tempDir } from "../support/generate.js";

/** The longest idle limit these tests expect to fire. */
const LONGEST_LIMIT = 400;
let work: string;
/** The module generated at run time; its types are not known to this file. */
let gen: any;
/** The clients of the two services generated at run time, as far as these tests use them. */
interface AnyClient {
  methodDown(request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  serviceDown(request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  methodUp(requests: AsyncIterable<unknown>): Promise<unknown>;
  serviceUp(requests: AsyncIterable<unknown>): Promise<unknown>;
  pluginDown(request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  pluginUp(requests: AsyncIterable<unknown>): Promise<unknown>;
  close(): void;
}

before(async () => {
  work = tempDir("policy");
  const module = join(work, "proto");
  mkdirSync(join(module, "policy/v1"), { recursive: true });
  mkdirSync(join(module, "leaksafe/v1"), { recursive: true });
  writeFileSync(join(module, "buf.yaml"), "version: v2\n");
  copyFileSync(join(ROOT, "test/policy/proto/policy/v1/policy.proto"), join(module, "policy/v1/policy.proto"));
  copyFileSync(join(ROOT, "runtime/proto/leaksafe/v1/options.proto"), join(module, "leaksafe/v1/options.proto"));
  const r = bufGenerate(module, join(work, "gen"), ["importSuffix=.js", "idle_timeout_ms=300"]);
  assert.equal(r.status, 0, r.stderr);
  gen = await import(join(work, "gen/policy/v1/policy_leaksafe.ts"));
});

after(() => removeDir(work));

let leaks: LeakChecker | undefined;
let server: LeaksafeServer | undefined;
let closeClient: (() => void) | undefined;
afterEach(async () => {
  closeClient?.();
  await server?.shutdown({ graceMs: 500 });
  await leaks?.assertNoLeaks();
  server = undefined;
  closeClient = undefined;
  leaks = undefined;
});

/** A server for both generated services: down-streams send one message then wait; up-streams read everything. */
async function serve(limits?: { idleTimeoutMs?: number }) {
  leaks = createLeakChecker();
  const seen: { error?: unknown; at?: number } = {};
  const down = async function* (_req: unknown, ctx: { signal: AbortSignal }) {
    yield { v: "first" };
    await aborted(ctx.signal);
  };
  const up = async (requests: AsyncIterable<unknown>) => {
    try {
      for await (const _ of requests) {
      }
    } catch (error) {
      seen.error = error;
      seen.at = Date.now();
      throw error;
    }
    return { v: "" };
  };
  server = createServer()
    .add(gen.TunedService, { methodDown: down, serviceDown: down, methodUp: up, serviceUp: up }, limits)
    .add(gen.PlainService, { pluginDown: down, pluginUp: up }, limits);
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(gen.TunedService, `127.0.0.1:${port}`) as AnyClient;
  const plain = createClient(gen.PlainService, `127.0.0.1:${port}`) as AnyClient;
  leaks.track({ registries: [server] });
  closeClient = () => {
    client.close();
    plain.close();
  };
  return { client, plain, seen, port };
}

/** Reads a down-stream to its end and returns the error and the time since the last message. */
async function readDown(stream: AsyncIterable<unknown>): Promise<{ error: unknown; idleFor: number }> {
  let last = Date.now();
  try {
    for await (const _ of stream) last = Date.now();
  } catch (error) {
    return { error, idleFor: Date.now() - last };
  }
  assert.fail("the stream should have failed");
}

function assertIdle(error: unknown, elapsed: number, limit: number): void {
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(error.reason, "idle", error.message);
  assert.equal(error.details, `no message arrived for ${limit} ms (idleTimeoutMs)`);
  assertFiredOnTime(elapsed, limit, "the idle limit");
}

/** Sends one request, then nothing until the server gives up; returns when the server failed. */
async function stallUp(
  call: (requests: AsyncIterable<unknown>) => Promise<unknown>,
  seen: { error?: unknown; at?: number },
) {
  const stop = new AbortController();
  let sentAt = 0;
  const requests = (async function* () {
    sentAt = Date.now();
    yield { v: "only" };
    await aborted(stop.signal);
  })();
  const result = call(requests).catch((e: unknown) => e);
  await eventually(() => seen.error !== undefined, "the server's request loop to fail", HEADROOM * LONGEST_LIMIT);
  stop.abort();
  const clientError = await result;
  return { error: seen.error, elapsed: (seen.at as number) - sentAt, clientError };
}

describe("on the client", () => {
  test("the call's limit beats the method's", async () => {
    const { client } = await serve();
    const { error, idleFor } = await readDown(client.methodDown({ v: "" }, { idleTimeoutMs: 150 }));
    assertIdle(error, idleFor, 150);
  });

  test("the method's (leaksafe.v1.stream) beats the service's", async () => {
    const { client } = await serve();
    const { error, idleFor } = await readDown(client.methodDown({ v: "" }));
    assertIdle(error, idleFor, 200);
  });

  test("the service's (leaksafe.v1.stream_defaults) beats the plugin option", async () => {
    const { client } = await serve();
    const { error, idleFor } = await readDown(client.serviceDown({ v: "" }));
    assertIdle(error, idleFor, 400);
  });

  test("the plugin option beats the client's defaults and the built-in default", async () => {
    const { port } = await serve();
    const plain = createClient(gen.PlainService, `127.0.0.1:${port}`, { limits: { idleTimeoutMs: 250 } }) as AnyClient;
    try {
      const { error, idleFor } = await readDown(plain.pluginDown({ v: "" }));
      assertIdle(error, idleFor, 300);
    } finally {
      plain.close();
    }
  });

  test("with no policy, the client's defaults and then the built-in defaults apply", async () => {
    leaks = createLeakChecker();
    let deadline: Date | undefined;
    // Only pingPong is served; the other methods answer UNIMPLEMENTED.
    const pingPongOnly: Pick<BenchImplementation, "pingPong"> = {
      // biome-ignore lint/correctness/useYield: it never answers, so the client's idle limit fires
      async *pingPong(requests, ctx) {
        deadline = ctx.deadline;
        for await (const _ of requests) {
        }
      },
    };
    server = createServer().add(BenchService, pingPongOnly as BenchImplementation);
    const port = await server.listen("127.0.0.1:0");
    const bench = createClient(BenchService, `127.0.0.1:${port}`, { limits: { idleTimeoutMs: 250 } });
    closeClient = () => bench.close();
    const stop = new AbortController();
    const requests = (async function* () {
      yield { data: new Uint8Array(1) };
      await aborted(stop.signal);
    })();
    const startedAt = Date.now();
    const { error } = await readDown(bench.pingPong(requests));
    stop.abort();
    assertIdle(error, Date.now() - startedAt, 250); // the client's default
    // The built-in total deadline of 1 hour travelled as grpc-timeout.
    const remaining = (deadline?.getTime() ?? 0) - startedAt;
    assert.ok(Math.abs(remaining - 3_600_000) < 5000, `the server saw a deadline ${remaining} ms away`);
  });
});

describe("on the server", () => {
  test("the limits given to .add beat the method's", async () => {
    const { client, seen } = await serve({ idleTimeoutMs: 150 });
    const { error, elapsed } = await stallUp((r) => client.methodUp(r), seen);
    assertIdle(error, elapsed, 150);
  });

  test("the method's (leaksafe.v1.stream) beats the service's", async () => {
    const { client, seen } = await serve();
    const { error, elapsed, clientError } = await stallUp((r) => client.methodUp(r), seen);
    assertIdle(error, elapsed, 200);
    assert.equal((clientError as RpcError).code, Status.DEADLINE_EXCEEDED);
  });

  test("the service's (leaksafe.v1.stream_defaults) beats the plugin option", async () => {
    const { client, seen } = await serve();
    const { error, elapsed } = await stallUp((r) => client.serviceUp(r), seen);
    assertIdle(error, elapsed, 400);
  });

  test("the plugin option beats the built-in default", async () => {
    const { plain, seen } = await serve();
    const { error, elapsed } = await stallUp((r) => plain.pluginUp(r), seen);
    assertIdle(error, elapsed, 300);
  });

  test("with no policy and no client deadline, the built-in total deadline of 1 hour applies", async () => {
    const { port } = await serve();
    const raw = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    const method = gen.PlainService.pluginUp;
    const call = raw.makeClientStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new Metadata(),
      {},
      () => undefined,
    );
    call.write({ v: "x" });
    await eventually(() => (server?.activeStreams().length ?? 0) === 1, "the call to reach the server");
    const record = server?.activeStreams()[0];
    const remaining = (record?.deadline ?? 0) - (record?.startedAt ?? 0);
    assert.ok(Math.abs(remaining - 3_600_000) < 1000, `the server's deadline was ${remaining} ms away`);
    call.cancel();
    await eventually(() => server?.activeStreams().length === 0, "the cancelled call to leave the registry");
    raw.close();
    await sleep(10);
  });
});

describe("bad values fail generation, naming file, service and method", () => {
  function generate(body: string, opts: string[] = []): { status: number | null; stderr: string; files: string[] } {
    const dir = tempDir("policy-bad");
    try {
      mkdirSync(join(dir, "proto/bad/v1"), { recursive: true });
      mkdirSync(join(dir, "proto/leaksafe/v1"), { recursive: true });
      writeFileSync(join(dir, "proto/buf.yaml"), "version: v2\n");
      copyFileSync(join(ROOT, "runtime/proto/leaksafe/v1/options.proto"), join(dir, "proto/leaksafe/v1/options.proto"));
      writeFileSync(
        join(dir, "proto/bad/v1/bad.proto"),
        `syntax = "proto3";\npackage bad.v1;\nimport "leaksafe/v1/options.proto";\nmessage M {}\n${body}\n`,
      );
      const out = join(dir, "out");
      const r = bufGenerate(join(dir, "proto"), out, opts);
      let files: string[] = [];
      try {
        files = listFiles(out, "");
      } catch {
        files = [];
      }
      return { status: r.status, stderr: r.stderr, files };
    } finally {
      removeDir(dir);
    }
  }

  const cases: Array<[string, string, RegExp]> = [
    [
      "a negative method limit",
      "service S { rpc Watch(M) returns (stream M) { option (leaksafe.v1.stream) = {idle_timeout_ms: -5}; } }",
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Watch: idle_timeout_ms = -5 from \(leaksafe\.v1\.stream\) on the method must not be negative/,
    ],
    [
      "a fractional method limit",
      "service S { rpc Upload(stream M) returns (M) { option (leaksafe.v1.stream) = {send_timeout_ms: 1.5}; } }",
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Upload: send_timeout_ms = 1\.5 from \(leaksafe\.v1\.stream\) on the method must be a whole number of milliseconds/,
    ],
    [
      "an absurd service default",
      "service S { option (leaksafe.v1.stream_defaults) = {timeout_ms: 3e9}; rpc Chat(stream M) returns (stream M); }",
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Chat: timeout_ms = 3000000000 from \(leaksafe\.v1\.stream_defaults\) on the service must be at most 2592000000 ms \(30 days\)/,
    ],
    [
      "resumable on a bidi method",
      "service S { rpc Chat(stream M) returns (stream M) { option (leaksafe.v1.stream) = {resumable: true}; } }",
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Chat: resumable applies only to server-streaming methods/,
    ],
    [
      "a retry code that is no status code",
      'service S { rpc Watch(M) returns (stream M) { option (leaksafe.v1.stream) = {resumable: true retry_codes: ["UNAVAILABLE", "Unavailable"]}; } }',
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Watch: retry_codes holds "Unavailable", which is not a gRPC status code name other than OK/,
    ],
    [
      "a maximum backoff below the initial one",
      "service S { rpc Watch(M) returns (stream M) { option (leaksafe.v1.stream) = {resumable: true initial_backoff_ms: 500 max_backoff_ms: 100}; } }",
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Watch: max_backoff_ms = 100 is less than initial_backoff_ms = 500/,
    ],
    [
      "a fractional attempt limit from the service",
      "service S { option (leaksafe.v1.stream_defaults) = {resumable: true max_attempts: 2.5}; rpc Watch(M) returns (stream M); }",
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Watch: max_attempts = 2\.5 must be a whole number from 0 \(no limit\) to 1000000/,
    ],
    [
      "resumption settings on a method that is not resumable",
      'service S { rpc Watch(M) returns (stream M) { option (leaksafe.v1.stream) = {retry_codes: ["UNAVAILABLE"]}; } }',
      /bad\/v1\/bad\.proto: service bad\.v1\.S, method Watch: retry_codes is set but the method is not resumable \(add resumable: true\)/,
    ],
  ];
  for (const [name, body, message] of cases) {
    test(name, () => {
      const r = generate(body);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, message);
      assert.deepEqual(r.files, [], "no file may be written");
    });
  }

  test("a bad plugin option", () => {
    const r = generate("service S { rpc Watch(M) returns (stream M); }", ["idle_timeout_ms=-1"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /invalid option "idle_timeout_ms": "-1" must not be negative \(0 disables the limit\)/);
    assert.deepEqual(r.files, []);
  });
});
