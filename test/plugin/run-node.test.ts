/**
 * The plugin's Node runner, as protoc and buf see it: through the built bin
 * for the command line and bad input, and through a stand-in plugin for a
 * response far larger than a pipe holds, a reader that has gone, and a
 * thrown value that is not an Error.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorResponseSchema } from "@bufbuild/protobuf/wkt";
import { ROOT } from "../support/generate.js";

const BIN = join(ROOT, "plugin/dist/plugin/bin.js");
const CHILD = join(import.meta.dirname, "run-node-child.ts");
const USAGE =
  "protoc-gen-leaksafe accepts a google.protobuf.compiler.CodeGeneratorRequest on stdin and writes a CodeGeneratorResponse to stdout\n";

function bin(args: string[], input: Uint8Array | string = "") {
  return spawnSync(process.execPath, [BIN, ...args], { input, encoding: "utf8" });
}

/** Runs the stand-in plugin; `readAfterMs` leaves its stdout unread that long, so the pipe fills. */
function child(
  env: Record<string, string>,
  readAfterMs: number,
  closeStdout = false,
): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  const p = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  p.stdin.end();
  const chunks: Buffer[] = [];
  let stderr = "";
  p.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  if (closeStdout) {
    p.stdout.destroy();
  } else {
    p.stdout.pause();
    p.stdout.on("data", (c: Buffer) => chunks.push(c));
    setTimeout(() => p.stdout.resume(), readAfterMs);
  }
  return new Promise((resolve) =>
    p.on("close", (status) => resolve({ status, stdout: Buffer.concat(chunks), stderr })),
  );
}

test("--version, and -v alone, print the name and version", () => {
  for (const args of [["--version"], ["-v"], ["--version", "extra"]]) {
    const r = bin(args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^protoc-gen-leaksafe v\d+\.\d+\.\d+\n$/);
    assert.equal(r.stderr, "");
  }
});

test("any other argument prints the usage and exits 1", () => {
  for (const args of [["foo"], ["-v", "foo"], ["--help"]]) {
    const r = bin(args);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, USAGE);
  }
});

test("stdin that is not a CodeGeneratorRequest gets one line naming it, no stack trace", () => {
  const r = bin([], "hello world\n");
  assert.equal(r.status, 1);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    "protoc-gen-leaksafe: stdin is not a google.protobuf.compiler.CodeGeneratorRequest (12 bytes; the protobuf decoder says: cant skip wire type 4); run this plugin from protoc or buf\n",
  );
  const truncated = bin([], new Uint8Array([0x0a, 0x05, 0x61]));
  assert.equal(truncated.status, 1);
  assert.match(
    truncated.stderr,
    /^protoc-gen-leaksafe: stdin is not a .*\(3 bytes; the protobuf decoder says: premature EOF\)/,
  );
  assert.equal(truncated.stderr.split("\n").length, 2, truncated.stderr);
});

test("empty stdin is an empty request: an empty response and exit 0", () => {
  const r = spawnSync(process.execPath, [BIN], { input: "" });
  assert.equal(r.status, 0, r.stderr.toString());
  const response = fromBinary(CodeGeneratorResponseSchema, r.stdout);
  assert.deepEqual(response.file, []);
  assert.equal(response.error, "");
});

test("a response far larger than the pipe reaches a slow reader whole", async () => {
  const size = 16 * 1024 * 1024;
  const r = await child({ RESPONSE_BYTES: String(size) }, 300);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const response = fromBinary(CodeGeneratorResponseSchema, r.stdout);
  assert.equal(response.file[0]?.content.length, size);
});

test("a reader that has gone is one line on stderr and exit 1, not a crash", async () => {
  const r = await child({ RESPONSE_BYTES: String(1024 * 1024) }, 0, true);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^protoc-gen-child: cannot write the CodeGeneratorResponse to stdout: .*EPIPE.*\n$/);
});

test("a thrown value that is not an Error is printed as it is", async () => {
  const r = await child({ THROW: "string" }, 0);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "protoc-gen-child: a thrown string\n");
});
