/**
 * A protobuf codec for google.rpc.Status that leaksafe did not write: the
 * tests' own .proto files (test/rich-errors/proto) compiled by buf into a
 * descriptor set, and read and written by @bufbuild/protobuf's reflection.
 * It is the far side of the grpc-js tests, so that leaksafe's hand-written
 * codec is never checked against itself. Python's side is made from the
 * same .proto files by protoc (pythonProtos).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  createFileRegistry,
  type DescMessage,
  type FileRegistry,
  fromBinary,
  fromJson,
  type JsonValue,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { ROOT, removeDir, tempDir } from "../support/generate.js";

export const RICH_PROTO = join(ROOT, "test/rich-errors/proto");

let cached: { registry: FileRegistry; status: DescMessage } | undefined;
const made: string[] = [];

/** Removes the folders this module made; for a test file's `after`. */
export function removeGenerated(): void {
  for (const dir of made.splice(0)) removeDir(dir);
}

function freshDir(): string {
  const dir = tempDir("rich-errors");
  made.push(dir);
  return dir;
}

function load(): { registry: FileRegistry; status: DescMessage } {
  if (cached === undefined) {
    const out = join(freshDir(), "rich.binpb");
    const r = spawnSync(join(ROOT, "node_modules/.bin/buf"), ["build", RICH_PROTO, "-o", out], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
    const status = registry.getMessage("google.rpc.Status");
    assert.ok(status, "google.rpc.Status is in the descriptor set");
    cached = { registry, status };
  }
  return cached;
}

/** A serialized google.rpc.Status, made by @bufbuild/protobuf from its proto3 JSON (details with "@type"). */
export function foreignStatusBytes(code: number, message: string, details: JsonValue[]): Buffer {
  const { registry, status } = load();
  const msg = fromJson(status, { code, message, details }, { registry });
  return Buffer.from(toBinary(status, msg));
}

/** A serialized google.rpc.Status, read by @bufbuild/protobuf and printed as proto3 JSON. */
export function foreignStatusJson(bytes: Uint8Array): JsonValue {
  const { registry, status } = load();
  return toJson(status, fromBinary(status, bytes), { registry });
}

/** Python modules for google.rpc, from the same .proto files, in a fresh folder to put on PYTHONPATH. */
export function pythonProtos(): string {
  const dir = freshDir();
  const r = spawnSync(
    "protoc",
    [
      `-I${RICH_PROTO}`,
      "-I/usr/include",
      `--python_out=${dir}`,
      "google/rpc/status.proto",
      "google/rpc/error_details.proto",
    ],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return dir;
}
