/**
 * A leaksafe server against hostile clients at the connection level (issue
 * 15, server points 4 to 7): a `grpc-timeout` that breaks the spec or
 * overflows grpc-js. The server must answer each as documented, keep
 * serving, and leave nothing behind.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createServer, type LeaksafeServer, type ServerContext, type ServerOptions } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { PostRequest, PostResponse, RoomEvent } from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";
import { connectRaw } from "./raw-client.js";

const OK = "0";
const INTERNAL = "13";

/** A Chat server whose Post and Watch answer at once and record each call's `ctx.deadline`. */
async function serve(options: ServerOptions = {}): Promise<{
  server: LeaksafeServer;
  port: number;
  deadlines: Array<Date | undefined>;
  done(): Promise<void>;
}> {
  const leaks = createLeakChecker();
  const deadlines: Array<Date | undefined> = [];
  const record = (ctx: ServerContext): void => {
    deadlines.push(ctx.deadline);
  };
  const server = createServer(options).add(ChatService, {
    ...unimplemented(),
    post: async (request, ctx) => {
      record(ctx);
      return PostResponse.create({ revision: request.text.length });
    },
    async *watch(_request, ctx) {
      record(ctx);
      yield RoomEvent.create({ revision: 1 });
    },
    async upload(requests, ctx) {
      record(ctx);
      for await (const _ of requests) {
        // drains the requests
      }
      return { name: "", bytes: 0, chunks: 0 };
    },
    async *converse(requests, ctx) {
      record(ctx);
      yield* requests;
    },
  });
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });
  return {
    server,
    port,
    deadlines,
    async done() {
      await server.shutdown({ graceMs: 1000 });
      await leaks.assertNoLeaks();
    },
  };
}

const request = PostRequest.encode(PostRequest.create({ author: "a", text: "hello" })).finish();
const paths = [
  "/example.v1.Chat/Post",
  "/example.v1.Chat/Watch",
  "/example.v1.Chat/Upload",
  "/example.v1.Chat/Converse",
];

test("a grpc-timeout that breaks the spec is INTERNAL with the value named, for every kind, and no handler runs", async () => {
  const { server, port, deadlines, done } = await serve();
  const raw = await connectRaw(port);
  // Each is accepted by grpc-js's own reading: a sign, a fraction, 9 digits,
  // no unit, a space, a unit grpc-js does not know, two units.
  const malformed = ["-1S", "1.5S", "999999999H", "1", "S", "1 S", "10s", "+5m", "1SS", "0x10S"];
  for (const path of paths) {
    for (const value of malformed) {
      const call = raw.open(path, { headers: { "grpc-timeout": value } });
      call.writeMessage(request);
      call.end();
      const outcome = await call.outcome;
      assert.equal(outcome.status, INTERNAL, `${path} with grpc-timeout "${value}" gives INTERNAL`);
      const message = decodeURIComponent(outcome.message ?? "");
      assert.ok(message.includes(`"${value}"`), `the message names "${value}": ${message}`);
    }
  }
  assert.equal(deadlines.length, 0, "no handler ran");
  assert.equal(server.activeStreams().length, 0);
  // The connection still serves a well-formed call.
  const fine = raw.open("/example.v1.Chat/Post", { headers: { "grpc-timeout": "10S" } });
  fine.writeMessage(request);
  fine.end();
  assert.equal((await fine.outcome).status, OK);
  await raw.close();
  await done();
});

test("a valid grpc-timeout too long for grpc-js's int32 arithmetic is served, and ctx.deadline reports it", async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning.name);
  };
  process.on("warning", onWarning);
  const { server, port, deadlines, done } = await serve();
  const raw = await connectRaw(port);
  // The largest the spec allows in minutes and in hours (190 and 11,000 years),
  // one just past 2^31 - 1 ms, and one just under it, which grpc-js reads itself.
  const cases = [
    { path: "/example.v1.Chat/Post", value: "99999999M", ms: 99_999_999 * 60_000 },
    { path: "/example.v1.Chat/Watch", value: "99999999H", ms: 99_999_999 * 3_600_000 },
    { path: "/example.v1.Chat/Converse", value: "2147484S", ms: 2_147_484_000 },
    { path: "/example.v1.Chat/Upload", value: "2147483m", ms: 2_147_483 },
  ];
  for (const { path, value, ms } of cases) {
    const sentAt = Date.now();
    const call = raw.open(path, { headers: { "grpc-timeout": value } });
    call.writeMessage(request);
    call.end();
    const outcome = await call.outcome;
    assert.equal(outcome.status, OK, `${path} with grpc-timeout "${value}" is served: ${outcome.message}`);
    const deadline = deadlines.at(-1);
    assert.ok(deadline !== undefined, `${path} sees a deadline`);
    const expected = sentAt + ms;
    assert.ok(
      Math.abs(deadline.getTime() - expected) < 10_000,
      `ctx.deadline for "${value}" is ${deadline.toISOString()}, expected about ${new Date(expected).toISOString()}`,
    );
  }
  assert.equal(server.activeStreams().length, 0);
  await raw.close();
  await done();
  process.off("warning", onWarning);
  assert.deepEqual(warnings, [], "no timer overflowed");
});
