/**
 * Rich error details between leaksafe and Python grpcio (gRPC C-core), both
 * ways. Python makes and reads google.rpc.Status with its own protobuf
 * library, from modules that protoc generates from our .proto files.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createClient, createServer, RpcError, Status } from "leaksafe";
import {
  BadRequest,
  DebugInfo,
  type DetailType,
  ErrorInfo,
  findDetail,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from "leaksafe/error-details";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";
import { PYTHON } from "../interop/generate.js";
import { pythonProtos, removeGenerated } from "./foreign.js";
import {
  BAD_REQUEST,
  DEBUG_INFO,
  ERROR_INFO,
  HELP,
  LOCALIZED_MESSAGE,
  PRECONDITION_FAILURE,
  QUOTA_FAILURE,
  REQUEST_INFO,
  RESOURCE_INFO,
  RETRY_INFO,
  SAMPLE_JSON,
  sampleDetails,
} from "./sample.js";

const PEER = join(import.meta.dirname, "rich_peer.py");
const MESSAGE = "the room is full";
let gen: string;

before(() => {
  const check = spawnSync(PYTHON, ["-c", "import grpc, google.protobuf"], { encoding: "utf8" });
  assert.equal(check.status, 0, `${PYTHON} needs Debian's python3-grpcio and python3-protobuf: ${check.stderr}`);
  gen = pythonProtos();
});
after(removeGenerated);

/** Starts the Python server; resolves with it and its port once it listens. */
async function startPythonServer(): Promise<{ child: ChildProcess; port: number; exited: Promise<unknown> }> {
  const child = spawn(PYTHON, [PEER, gen, "server", JSON.stringify(SAMPLE_JSON)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    child.stdout?.on("data", (d: Buffer) => {
      buffer += d.toString();
      const i = buffer.indexOf("\n");
      if (i >= 0) resolve(buffer.slice(0, i));
    });
    child.once("exit", (code) => reject(new Error(`rich_peer.py server exited with ${code}`)));
  });
  const match = /^ready (\d+)$/.exec(line);
  assert.ok(match, `rich_peer.py said ${JSON.stringify(line)}`);
  return { child, port: Number(match[1]), exited };
}

/** Runs the Python client to its end; resolves with its JSON lines. */
function runPythonClient(target: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [PEER, gen, "client", target], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0
        ? resolve(
            stdout
              .trim()
              .split("\n")
              .map((l) => JSON.parse(l) as Record<string, unknown>),
          )
        : reject(new Error(`rich_peer.py client exited with ${code}: ${stderr}`)),
    );
  });
}

function assertSample(error: unknown): void {
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(error.code, Status.RESOURCE_EXHAUSTED);
  assert.equal(error.details, MESSAGE);
  assert.equal(error.statusDetailsError, undefined);
  assert.equal(error.statusDetails.length, 10);
  const expected: Array<[DetailType<unknown, never>, unknown]> = [
    [ErrorInfo, ERROR_INFO],
    [RetryInfo, RETRY_INFO],
    [DebugInfo, DEBUG_INFO],
    [QuotaFailure, QUOTA_FAILURE],
    [PreconditionFailure, PRECONDITION_FAILURE],
    [BadRequest, BAD_REQUEST],
    [RequestInfo, REQUEST_INFO],
    [ResourceInfo, RESOURCE_INFO],
    [Help, HELP],
    [LocalizedMessage, LOCALIZED_MESSAGE],
  ];
  for (const [type, value] of expected) {
    assert.deepEqual(findDetail(error, type), value, type.typeName);
  }
}

test("a Python server's status details reach a leaksafe client, unary and streaming", async () => {
  const leaks = createLeakChecker();
  const python = await startPythonServer();
  const client = createClient(ChatService, `127.0.0.1:${python.port}`);
  leaks.track({ registries: [client] });
  try {
    assertSample(await client.post({ author: "ada", text: "hi" }).catch((e: unknown) => e));
    const revisions: number[] = [];
    const error = await (async () => {
      for await (const event of client.watch({ afterRevision: 0 })) revisions.push(event.revision);
    })().catch((e: unknown) => e);
    assert.deepEqual(revisions, [7]);
    assertSample(error);
  } finally {
    client.close();
    python.child.kill("SIGKILL");
    await python.exited;
    python.child.stdout?.destroy();
    await leaks.assertNoLeaks();
  }
});

test("a leaksafe server's status details reach a Python client, which parses them with its own protobuf", async () => {
  const leaks = createLeakChecker();
  const failure = () => new RpcError(Status.RESOURCE_EXHAUSTED, MESSAGE, { statusDetails: sampleDetails() });
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    post() {
      throw failure();
    },
    async *watch() {
      yield { revision: 7, at: undefined };
      throw failure();
    },
  });
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });
  try {
    const status = { code: Status.RESOURCE_EXHAUSTED, message: MESSAGE, details: SAMPLE_JSON };
    assert.deepEqual(await runPythonClient(`127.0.0.1:${port}`), [
      { call: "post", code: "RESOURCE_EXHAUSTED", message: MESSAGE, received: 0, trailers: 1, status },
      { call: "watch", code: "RESOURCE_EXHAUSTED", message: MESSAGE, received: 1, trailers: 1, status },
    ]);
  } finally {
    await server.shutdown({ graceMs: 5000 });
    await leaks.assertNoLeaks();
  }
});
