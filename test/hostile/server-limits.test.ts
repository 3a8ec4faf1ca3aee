/**
 * A leaksafe server against hostile clients that hold streams open without
 * ever letting a handler run or finish (issue 15, server points 1–3). Each
 * stream must show in `activeStreams()` while it is open and end by the
 * server's own limits, and a request cut short must never look like a
 * normal end; then nothing is left behind.
 */
import assert from "node:assert/strict";
import { constants, type Settings } from "node:http2";
import { test } from "node:test";
import { ServerInterceptingCall, type ServerInterceptor, ServerListenerBuilder } from "@grpc/grpc-js";
import { type CallRecord, createClient, createServer, type LeaksafeServer, type ServiceLimits } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import {
  ChatMessage,
  PostRequest,
  PostResponse,
  RoomEvent,
  UploadChunk,
  UploadSummary,
  WatchRequest,
} from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually, unimplemented } from "../e2e/harness.js";
import { assertFiredOnTime } from "../support/bounds.js";
import { connectRaw, type RawClient } from "./raw-client.js";
import { grpcFrame } from "./raw-server.js";

const DEADLINE_EXCEEDED = "4";
/** An Upload's 1 MiB answer, made once. */
const ONE_MIB = "x".repeat(1 << 20);
const INTERNAL = "13";

/** A Chat server whose handlers answer at once, with `limits`, and a raw client to it. */
async function serve(
  limits: ServiceLimits,
  settings: Settings = {},
): Promise<{ server: LeaksafeServer; raw: RawClient; done(): Promise<void> }> {
  const leaks = createLeakChecker();
  const server = createServer().add(
    ChatService,
    {
      ...unimplemented(),
      post: async (request) => PostResponse.create({ revision: request.text.length }),
      async *watch() {
        yield RoomEvent.create({ revision: 1 });
      },
      async upload(chunks) {
        let bytes = 0;
        for await (const chunk of chunks) {
          bytes += chunk.data.length;
        }
        return UploadSummary.create({ bytes, name: ONE_MIB });
      },
      async *converse(messages) {
        for await (const message of messages) {
          yield message;
        }
      },
    },
    limits,
  );
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });
  const raw = await connectRaw(port, settings);
  return {
    server,
    raw,
    async done() {
      await raw.close();
      await server.shutdown({ graceMs: 1000 });
      await leaks.assertNoLeaks();
    },
  };
}

/** The latest of a time that every listed call has, as `pick` reads it. */
function latest(server: LeaksafeServer, pick: (call: CallRecord) => number | undefined): number {
  return Math.max(...server.activeStreams().map((call) => pick(call) ?? 0));
}

const held = [
  { what: "HEADERS alone", path: "/example.v1.Chat/Post", request: undefined },
  {
    what: "the request without END_STREAM",
    path: "/example.v1.Chat/Post",
    request: PostRequest.encode(PostRequest.create({ text: "never ends" })).finish(),
  },
  { what: "HEADERS alone", path: "/example.v1.Chat/Watch", request: undefined },
  {
    what: "the request without END_STREAM",
    path: "/example.v1.Chat/Watch",
    request: WatchRequest.encode(WatchRequest.create({ afterRevision: 1 })).finish(),
  },
] as const;

for (const { what, path, request } of held) {
  for (const limit of ["idleTimeoutMs", "timeoutMs"] as const) {
    test(`${path}: 200 streams that send ${what} are listed, then end by ${limit}`, async () => {
      const limitMs = 300;
      const { server, raw, done } = await serve({ idleTimeoutMs: 0, [limit]: limitMs });
      const streams = Array.from({ length: 200 }, () => {
        const stream = raw.open(path);
        if (request !== undefined) {
          stream.writeMessage(request);
        }
        return stream;
      });
      await eventually(() => server.activeStreams().length === 200, "all 200 streams are in the registry");
      assert.ok(server.activeStreams().every((call) => call.method === path));
      // Each limit counts from its call's open, or for idleness its last message.
      const from = latest(server, (call) =>
        limit === "timeoutMs" ? call.startedAt : (call.lastMessageInAt ?? call.startedAt),
      );
      const outcomes = await Promise.all(streams.map((stream) => stream.outcome));
      assertFiredOnTime(Date.now() - from, limitMs, `${limit} on ${what}`);
      for (const outcome of outcomes) {
        assert.equal(outcome.status, DEADLINE_EXCEEDED, `ended by ${limit}: ${outcome.message}`);
        assert.match(outcome.message ?? "", limit === "timeoutMs" ? /deadline passed/ : /idleTimeoutMs/);
        assert.equal(outcome.messages.length, 0, "the handler never ran");
      }
      assert.equal(server.activeStreams().length, 0);
      await done();
    });
  }
}

test("a request that comes whole in time runs the handler, within the same deadline", async () => {
  const { server, raw, done } = await serve({ idleTimeoutMs: 5000 });
  const stream = raw.open("/example.v1.Chat/Post");
  stream.writeMessage(PostRequest.encode(PostRequest.create({ text: "on time" })).finish());
  stream.end();
  const outcome = await stream.outcome;
  assert.equal(outcome.status, "0");
  assert.equal(PostResponse.decode(outcome.messages[0] as Buffer).revision, 7);
  assert.equal(server.activeStreams().length, 0);
  await done();
});

test("a stream waiting for its request when shutdown begins ends with the shutdown", async () => {
  const { server, raw, done } = await serve({ idleTimeoutMs: 60_000 });
  const stream = raw.open("/example.v1.Chat/Watch");
  await eventually(() => server.activeStreams().length === 1, "the waiting stream is listed");
  const report = await server.shutdown({ graceMs: 1000 });
  const outcome = await stream.outcome;
  assert.equal(outcome.status, "14", `UNAVAILABLE: ${outcome.message}`);
  assert.deepEqual(report.forced, []);
  await done();
});

const cuts = [
  {
    what: "10 of a message's 100 bytes",
    bytes: grpcFrame(new Uint8Array(10), { length: 100 }),
    says: /10 of its 100 bytes/,
  },
  { what: "3 bytes of a length prefix", bytes: Buffer.from([0, 0, 0]), says: /5-byte length prefix/ },
];
const streamed = [
  {
    path: "/example.v1.Chat/Upload",
    whole: UploadChunk.encode(UploadChunk.create({ data: new Uint8Array(8) })).finish(),
  },
  { path: "/example.v1.Chat/Converse", whole: ChatMessage.encode(ChatMessage.create({ text: "whole" })).finish() },
];
for (const { path, whole } of streamed) {
  for (const { what, bytes, says } of cuts) {
    test(`${path}: a whole message, then ${what} and END_STREAM, is INTERNAL, never a normal end`, async () => {
      const { server, raw, done } = await serve({});
      const stream = raw.open(path);
      stream.writeMessage(whole);
      stream.writeBytes(bytes);
      stream.end();
      const outcome = await stream.outcome;
      assert.equal(outcome.status, INTERNAL, `INTERNAL, not status ${outcome.status}: ${outcome.message}`);
      assert.match(outcome.message ?? "", says);
      assert.equal(server.activeStreams().length, 0);
      await done();
    });
  }
}

const unread = [
  { what: "a unary response, to a peer that grants no window", path: "/example.v1.Chat/Post", window: 0 },
  { what: "a 1 MiB Upload response, to a peer that never reads", path: "/example.v1.Chat/Upload", window: 65_535 },
];
for (const { what, path, window } of unread) {
  for (const limit of ["sendTimeoutMs", "timeoutMs"] as const) {
    test(`${what}: 50 calls stay listed until ${limit} resets them`, async () => {
      const limitMs = 300;
      const { server, raw, done } = await serve({ sendTimeoutMs: 0, [limit]: limitMs }, { initialWindowSize: window });
      const streams = Array.from({ length: 50 }, () => {
        const stream = raw.open(path, { read: false });
        stream.writeMessage(new Uint8Array(0));
        stream.end();
        return stream;
      });
      await eventually(
        () => server.activeStreams().filter((call) => call.sendBlockedSince !== undefined).length === 50,
        "all 50 calls are listed, waiting for the peer to take their response",
      );
      // The send deadline counts from the response's hand-over, the total from the call's open.
      const from = latest(server, (call) => (limit === "timeoutMs" ? call.startedAt : call.sendBlockedSince));
      const outcomes = await Promise.all(streams.map((stream) => stream.outcome));
      assertFiredOnTime(Date.now() - from, limitMs, `${limit} on ${what}`);
      for (const outcome of outcomes) {
        assert.equal(outcome.rstCode, constants.NGHTTP2_CANCEL, "the stream was reset");
        assert.equal(outcome.status, undefined, "no status reached a peer that took nothing");
      }
      assert.equal(server.activeStreams().length, 0);
      await done();
    });
  }
}

test("an interceptor that hands the handler other metadata does not lose the call opened at its HEADERS", {
  timeout: 60_000, // before the fix, this test never ended
}, async () => {
  const leaks = createLeakChecker();
  const cloning: ServerInterceptor = (_method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) => next(new ServerListenerBuilder().withOnReceiveMetadata((md, pass) => pass(md.clone())).build()),
    });
  const ends: string[] = [];
  let listedWhileRunning = -1;
  const server: LeaksafeServer = createServer({
    interceptors: [cloning],
    hooks: { onCallEnd: (info) => ends.push(info.reason) },
  }).add(
    ChatService,
    {
      ...unimplemented(),
      // Slower than the idle limit, which counts only until the request is whole.
      post: async (request) => {
        await new Promise((resolve) => setTimeout(resolve, 600));
        listedWhileRunning = server.activeStreams().length;
        return PostResponse.create({ revision: request.text.length });
      },
    },
    { idleTimeoutMs: 200 },
  );
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  assert.equal((await client.post({ author: "a", text: "cloned" })).revision, 6);
  assert.equal(listedWhileRunning, 1, "the call is listed once while its handler runs");
  await eventually(() => server.activeStreams().length === 0, "the call to leave the registry");
  assert.deepEqual(ends, ["ok"], "one call ended, and it ended OK");
  client.close();
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});
