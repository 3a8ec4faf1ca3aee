/**
 * A method the implementation leaves out answers UNIMPLEMENTED, even when
 * its .proto name is one that every object inherits (`toString`): grpc-js
 * looks a handler up by that name too, and must find nothing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, createServer, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { type ChatImplementation, ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";

test("an unserved rpc whose .proto name is an Object.prototype member answers UNIMPLEMENTED", async () => {
  const leaks = createLeakChecker();
  const service = {
    ...ChatService,
    post: { ...ChatService.post, path: "/example.v1.Chat/toString", originalName: "toString" },
  };
  // Plain JavaScript can leave a method out; the types would not let it.
  const partial = {
    watch: () => assert.fail("not used"),
    upload: () => assert.fail("not used"),
    converse: () => assert.fail("not used"),
  } as unknown as ChatImplementation;
  const server = createServer().add(service, partial);
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(service, `127.0.0.1:${port}`);
  leaks.track({ registries: [server, client] });
  const error = await client.post({ author: "ann", text: "hi" }, { timeoutMs: 10_000 }).catch((e: unknown) => e);
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(Status[error.code], "UNIMPLEMENTED");
  client.close();
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});
