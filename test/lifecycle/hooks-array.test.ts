/**
 * `hooks` as an array on both sides: every object's hooks run in order, a
 * throwing one stops none of the others, start and end share one object,
 * and a bad entry is refused with an error naming it.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { type CallEndInfo, type CallHooks, type CallStartInfo, createClient, createServer } from "leaksafe";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually, type Harness, startChat } from "../e2e/harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** Hooks that log what they see under `name`, and keep each start's object to compare with its end. */
function logger(name: string, log: string[], starts: Map<string, CallStartInfo>): CallHooks {
  return {
    onCallStart(info) {
      log.push(`${name} start ${info.side} ${info.method}`);
      starts.set(`${name} ${info.side}`, info);
    },
    onCallEnd(info) {
      log.push(`${name} end ${info.side} ${info.reason}`);
      assert.equal(info, starts.get(`${name} ${info.side}`), "the end's object is the start's");
    },
  };
}

test("an array of hooks on a server and a client: each runs, in order, and a throw stops none", async () => {
  const log: string[] = [];
  const starts = new Map<string, CallStartInfo>();
  const ends: CallEndInfo[] = [];
  const thrower: CallHooks = {
    onCallStart() {
      throw new Error("a broken hook");
    },
    onCallEnd() {
      throw new Error("a broken hook");
    },
  };
  const sizes: CallHooks = { messageSizes: true, onCallEnd: (info) => ends.push(info) };
  let header: string | undefined;
  harness = await startChat(
    {
      async post(_request, ctx) {
        header = String(ctx.metadata.get("x-added")[0]);
        return { revision: 42 };
      },
    },
    {
      serverOptions: { hooks: [thrower, logger("a", log, starts), logger("b", log, starts), sizes] },
      clientOptions: {
        hooks: [
          logger("a", log, starts),
          thrower,
          {
            // A client hook may add to the outgoing metadata.
            onCallStart: (info) => info.metadata.set("x-added", `from ${info.side}`),
          },
          sizes,
        ],
      },
    },
  );
  const request = { author: "ann", text: "hello" };
  await harness.client.post(request);
  await eventually(() => ends.length === 2, "both ends");
  assert.equal(header, "from client");
  assert.deepEqual(
    log.filter((l) => l.includes("client")),
    ["a start client /example.v1.Chat/Post", "a end client ok"],
  );
  assert.deepEqual(
    log.filter((l) => l.includes("server")),
    [
      "a start server /example.v1.Chat/Post",
      "b start server /example.v1.Chat/Post",
      "a end server ok",
      "b end server ok",
    ],
  );
  const server = ends.find((e) => e.side === "server");
  const client = ends.find((e) => e.side === "client");
  const requestBytes = ChatService.post.requestSerialize(request).length;
  const responseBytes = ChatService.post.responseSerialize({ revision: 42 }).length;
  assert.deepEqual([server?.bytesIn, server?.bytesOut], [requestBytes, responseBytes]);
  assert.deepEqual([client?.bytesIn, client?.bytesOut], [responseBytes, requestBytes]);
  assert.equal(server?.metadata.get("x-added")[0], "from client", "the server's start saw the request metadata");
  assert.ok((client?.durationMs ?? 0) > 0 && Number.isFinite(client?.durationMs));
});

test("without messageSizes, bytes are not counted", async () => {
  const ends: CallEndInfo[] = [];
  harness = await startChat(
    { post: async () => ({ revision: 1 }) },
    { serverOptions: { hooks: { onCallEnd: (i) => ends.push(i) } }, clientOptions: { hooks: [] } },
  );
  await harness.client.post({ author: "a", text: "b" });
  await eventually(() => ends.length === 1, "the server's end");
  assert.deepEqual([ends[0]?.bytesIn, ends[0]?.bytesOut], [undefined, undefined]);
});

test("a bad hooks entry is refused, naming it", () => {
  assert.throws(() => createServer({ hooks: [{}, { onCallEnd: 1 as never }] }), {
    name: "TypeError",
    message: "createServer's hooks[1].onCallEnd must be a function or undefined, not number",
  });
  assert.throws(() => createServer({ hooks: null as never }), {
    message: "createServer's hooks must be a hooks object or an array of them, not null",
  });
  assert.throws(() => createClient(ChatService, "127.0.0.1:1", { hooks: [undefined as never] }), {
    message: "createClient's hooks[0] must be a hooks object or an array of them, not undefined",
  });
  assert.throws(() => createClient(ChatService, "127.0.0.1:1", { hooks: { messageSizes: "yes" as never } }), {
    message: "createClient's hooks.messageSizes must be a boolean or undefined, not string",
  });
});
