/** The reflection example, run as a script against a real server, as a user would run it. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createServer } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";
import { runScript } from "./run-script.js";

const runDescribe = (args: string[]) => runScript("reflection.ts", args);

test("describe prints every service and method the server describes, with nothing generated on its side", async () => {
  const leaks = createLeakChecker();
  const server = createServer({ reflection: true }).add(ChatService, unimplemented());
  const target = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
  leaks.track({ registries: [server] });
  try {
    const { code, out } = await runDescribe([target]);
    assert.equal(code, 0, out);
    assert.deepEqual(out.split("\n"), [
      "example.v1.Chat (example/v1/chat.proto)",
      "  rpc Post(example.v1.PostRequest) returns (example.v1.PostResponse)",
      "  rpc Watch(example.v1.WatchRequest) returns (stream example.v1.RoomEvent)",
      "  rpc Upload(stream example.v1.UploadChunk) returns (example.v1.UploadSummary)",
      "  rpc Converse(stream example.v1.ChatMessage) returns (stream example.v1.ChatMessage)",
      "grpc.reflection.v1.ServerReflection (grpc/reflection/v1/reflection.proto)",
      "  rpc ServerReflectionInfo(stream grpc.reflection.v1.ServerReflectionRequest) returns (stream grpc.reflection.v1.ServerReflectionResponse)",
      "grpc.reflection.v1alpha.ServerReflection (grpc/reflection/v1alpha/reflection.proto)",
      "  rpc ServerReflectionInfo(stream grpc.reflection.v1alpha.ServerReflectionRequest) returns (stream grpc.reflection.v1alpha.ServerReflectionResponse)",
    ]);
  } finally {
    await server.shutdown({ graceMs: 5000 });
    await leaks.assertNoLeaks();
  }
});

test("against a server without reflection, describe fails and names why", async () => {
  const leaks = createLeakChecker();
  const server = createServer().add(ChatService, unimplemented());
  const target = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
  leaks.track({ registries: [server] });
  try {
    const { code, out } = await runDescribe([target]);
    assert.equal(code, 1);
    assert.match(out, /^127\.0\.0\.1:\d+: .*grpc\.reflection\.v1\.ServerReflection/);
  } finally {
    await server.shutdown({ graceMs: 5000 });
    await leaks.assertNoLeaks();
  }
});
