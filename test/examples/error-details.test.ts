/** The error-details example: run as a script, and its parts against a real server with a leak check. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { createChatServer, explain, POST_INTERVAL_MS, postPolitely } from "./error-details.js";
import { runScript } from "./run-script.js";

const EXPECTED = [
  "posted revision 1",
  "posted revision 2, after the wait that RetryInfo asked for",
  "INVALID_ARGUMENT: Write something first.; text is empty",
  "RESOURCE_EXHAUSTED: bob posts too often (RATE_LIMITED in chat.example.com, for bob)",
];

test("the script prints what each detail said, and exits by itself", async () => {
  const { code, out } = await runScript("error-details.ts");
  assert.equal(code, 0, out);
  assert.deepEqual(out.split("\n"), EXPECTED);
});

test("postPolitely waits as long as RetryInfo says, and explain() reads BadRequest and LocalizedMessage", async () => {
  const leaks = createLeakChecker();
  const server = createChatServer();
  const client = createClient(ChatService, `127.0.0.1:${await server.listen("127.0.0.1:0")}`);
  leaks.track({ registries: [server, client] });
  try {
    const start = Date.now();
    assert.equal((await postPolitely(client, { author: "ada", text: "one" })).revision, 1);
    assert.equal((await postPolitely(client, { author: "ada", text: "two" })).revision, 2);
    assert.ok(Date.now() - start >= POST_INTERVAL_MS, "the second post waited for the interval");
    await assert.rejects(postPolitely(client, { author: "ada", text: "three" }, 10), /RESOURCE_EXHAUSTED/);
    const invalid = await client.post({ author: "ada", text: "" }).catch((e: unknown) => e);
    assert.equal(explain(invalid), "INVALID_ARGUMENT: Write something first.; text is empty");
  } finally {
    client.close();
    await server.shutdown({ graceMs: 5000 });
    await leaks.assertNoLeaks();
  }
});
