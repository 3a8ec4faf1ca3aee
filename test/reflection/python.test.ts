/**
 * A foreign reflection client: Python grpcio, with the reflection messages
 * described in Python and nothing generated. It lists the services, fetches
 * Chat's file with its imports, builds Chat's message classes from them and
 * calls Post, on v1 and on v1alpha; the answer proves the descriptors are
 * complete enough to encode a request and decode a response.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { PYTHON } from "../interop/generate.js";
import { postRevision, serve } from "./serve.js";

const GRACE = 10_000;
const CLIENT = join(import.meta.dirname, "reflection_client.py");

/** Runs the Python client; resolves to the JSON objects it printed, one a line. */
function python(args: string[]): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [CLIENT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => {
      stdout += data.toString();
    });
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0) {
        reject(new Error(`reflection_client.py exited with ${code}: ${stderr}`));
        return;
      }
      resolve(
        stdout
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => JSON.parse(line)),
      );
    });
  });
}

for (const version of ["v1", "v1alpha"]) {
  test(`Python grpcio (${version}): lists the services, builds Chat from the files it is sent, and calls Post`, async () => {
    const leaks = createLeakChecker();
    const { server, target } = await serve();
    leaks.track({ registries: [server] });
    try {
      const author = "python";
      const text = "called through reflection";
      const [services, files, missing, response] = await python([
        target,
        version,
        "example.v1.Chat",
        "Post",
        JSON.stringify({ author, text }),
      ]);
      assert.deepEqual([...((services?.services ?? []) as string[])].sort(), [
        "example.kv.v1.KV",
        "example.v1.Chat",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]);
      assert.deepEqual(files, {
        files: [
          "example/v1/chat.proto",
          "google/protobuf/timestamp.proto",
          "leaksafe/v1/options.proto",
          "google/protobuf/descriptor.proto",
        ],
      });
      assert.deepEqual(missing, {
        missing: {
          errorCode: Status.NOT_FOUND,
          errorMessage: 'no symbol "example.v1.Chat.NoSuchMethod" in the files of this server\'s services',
        },
      });
      // uint64 is a string in protobuf's JSON.
      assert.deepEqual(response, { response: { revision: String(postRevision(author, text)) } });
    } finally {
      await server.shutdown({ graceMs: GRACE });
      await leaks.assertNoLeaks();
    }
  });
}
