/**
 * `createServer({ health: true })`: grpc.health.v1 served from
 * `server.health` and the server's lifecycle, checked with three clients:
 * leaksafe's own (the stubs in leaksafe/health), grpc-js with the health
 * package of the grpc-node project (grpc-health-check), and Python grpcio.
 * A Watch open at shutdown sees NOT_SERVING and ends by itself, and the
 * shutdown report forces nothing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { type ClientReadableStream, credentials, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { service as grpcHealthService } from "grpc-health-check";
import { createClient, createServer, type LeaksafeServer, RpcError, Status } from "leaksafe";
import { HealthService, HealthCheckResponse_ServingStatus as Wire } from "leaksafe/health";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually, unimplemented } from "../e2e/harness.js";
import { PYTHON } from "../interop/generate.js";

const CHAT = "example.v1.Chat";
const GRACE = 10_000;

async function serve(): Promise<{ server: LeaksafeServer; target: string }> {
  const server = createServer({ health: true }).add(ChatService, unimplemented());
  const port = await server.listen("127.0.0.1:0");
  return { server, target: `127.0.0.1:${port}` };
}

test("Check and List report the whole server and each service added as SERVING once it listens, and follow health.set", async () => {
  const leaks = createLeakChecker();
  const { server, target } = await serve();
  const client = createClient(HealthService, target);
  leaks.track({ registries: [server, client] });
  try {
    assert.equal((await client.check({ service: "" })).status, Wire.SERVING);
    assert.equal((await client.check({ service: CHAT })).status, Wire.SERVING);
    const unknown = await client.check({ service: "no.such.Service" }).catch((e: unknown) => e);
    assert.ok(unknown instanceof RpcError, String(unknown));
    assert.equal(unknown.code, Status.NOT_FOUND);
    assert.match(unknown.details, /no health status for service "no\.such\.Service"/);

    server.health.set(CHAT, "NOT_SERVING");
    server.health.set("custom", "SERVING");
    assert.equal(server.health.get(CHAT), "NOT_SERVING");
    assert.equal((await client.check({ service: CHAT })).status, Wire.NOT_SERVING);
    const { statuses } = await client.list({});
    assert.deepEqual(
      Object.fromEntries(Object.entries(statuses).map(([name, { status }]) => [name, Wire[status]])),
      { "": "SERVING", [CHAT]: "NOT_SERVING", custom: "SERVING" },
      "the health service does not report on itself",
    );
    assert.throws(
      () => server.health.set(CHAT, "DEGRADED" as never),
      /must be "SERVING" or "NOT_SERVING", not "DEGRADED"/,
    );
  } finally {
    client.close();
    await server.shutdown({ graceMs: GRACE });
    await leaks.assertNoLeaks();
  }
});

test("a leaksafe Watch gets the status at once and each change, sees NOT_SERVING at shutdown and ends with OK; nothing is forced", async () => {
  const leaks = createLeakChecker();
  const { server, target } = await serve();
  const client = createClient(HealthService, target);
  leaks.track({ registries: [server, client] });
  const seen: string[] = [];
  const wake: Array<() => void> = [];
  const watching = (async () => {
    for await (const { status } of client.watch({ service: "later.Service" })) {
      seen.push(Wire[status]);
      wake.shift()?.();
    }
  })();
  const next = () => new Promise<void>((resolve) => wake.push(resolve));
  try {
    await eventually(() => seen.length === 1, "the first status");
    assert.deepEqual(seen, ["SERVICE_UNKNOWN"], "an unknown service is not an error for Watch");
    let arrived = next();
    server.health.set("later.Service", "SERVING");
    await arrived;
    arrived = next();
    server.health.set("later.Service", "SERVING"); // no change: nothing sent
    server.health.set("later.Service", "NOT_SERVING");
    await arrived;
    arrived = next();
    server.health.set("later.Service", "SERVING");
    await arrived;
    assert.deepEqual(seen, ["SERVICE_UNKNOWN", "SERVING", "NOT_SERVING", "SERVING"]);

    const report = await server.shutdown({ graceMs: GRACE });
    await watching; // ended with OK: the loop did not throw
    assert.deepEqual(seen.at(-1), "NOT_SERVING");
    assert.deepEqual(report.forced, [], "a health Watch never delays shutdown");
    server.health.set("later.Service", "SERVING");
    assert.equal(server.health.get("later.Service"), "NOT_SERVING", "after shutdown began, statuses stay NOT_SERVING");
  } finally {
    client.close();
    await server.shutdown({ graceMs: GRACE });
    await leaks.assertNoLeaks();
  }
});

test("grpc-js with grpc-health-check's service definition: Check, and a Watch that sees NOT_SERVING and ends at shutdown", async () => {
  const leaks = createLeakChecker();
  const { server, target } = await serve();
  leaks.track({ registries: [server] });
  const Client = makeGenericClientConstructor(grpcHealthService, "Health");
  const client = new Client(target, credentials.createInsecure()) as unknown as {
    check(
      request: { service: string },
      callback: (error: ServiceError | null, response?: { status: string }) => void,
    ): void;
    watch(request: { service: string }): ClientReadableStream<{ status: string }>;
    close(): void;
  };
  try {
    const check = (service: string) =>
      new Promise<string>((resolve, reject) =>
        client.check({ service }, (error, response) =>
          error === null ? resolve(String(response?.status)) : reject(error),
        ),
      );
    assert.equal(await check(""), "SERVING");
    assert.equal(await check(CHAT), "SERVING");
    await assert.rejects(check("nope"), (error: ServiceError) => error.code === Status.NOT_FOUND);

    const statuses: string[] = [];
    const call = client.watch({ service: "" });
    const ended = new Promise<number>((resolve, reject) => {
      call.on("data", (response: { status: string }) => statuses.push(String(response.status)));
      call.on("status", (status: { code: number }) => resolve(status.code));
      call.on("error", (error: ServiceError) => reject(error));
    });
    await eventually(() => statuses.length === 1, "the first status");
    const report = await server.shutdown({ graceMs: GRACE });
    assert.equal(await ended, Status.OK);
    assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    assert.deepEqual(report.forced, []);
  } finally {
    client.close();
    await server.shutdown({ graceMs: GRACE });
    await leaks.assertNoLeaks();
  }
});

const PYTHON_CLIENT = join(import.meta.dirname, "health_client.py");

/** Runs the Python health client; `onLine` sees each line of its output as it comes. */
function python(args: string[], onLine: (line: string) => void = () => {}): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [PYTHON_CLIENT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let buffer = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => {
      buffer += data.toString();
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        lines.push(line);
        onLine(line);
      }
    });
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve(lines) : reject(new Error(`health_client.py exited with ${code}: ${stderr}`)),
    );
  });
}

test("Python grpcio: Check, and a Watch that sees NOT_SERVING and ends with OK at shutdown", async () => {
  const leaks = createLeakChecker();
  const { server, target } = await serve();
  leaks.track({ registries: [server] });
  try {
    assert.deepEqual(await python([target, "check", ""]), [String(Wire.SERVING)]);
    assert.deepEqual(await python([target, "check", "nope"]), ["error NOT_FOUND"]);
    let first: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      first = resolve;
    });
    const watch = python([target, "watch", CHAT], () => first());
    await started;
    const report = await server.shutdown({ graceMs: GRACE });
    assert.deepEqual(await watch, [String(Wire.SERVING), String(Wire.NOT_SERVING), "end OK"]);
    assert.deepEqual(report.forced, []);
  } finally {
    await server.shutdown({ graceMs: GRACE });
    await leaks.assertNoLeaks();
  }
});
