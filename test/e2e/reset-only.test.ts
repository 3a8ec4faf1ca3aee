/**
 * The promise a leaksafe client makes on each connection (runtime/reset-only.ts):
 * it cancels with RST_STREAM alone, so a leaksafe server trusts its
 * END_STREAM at once instead of proving it with two PING round trips. The
 * server honours the promise only when it comes before the connection's
 * first stream; the client keeps it on every stream of that connection.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { test } from "node:test";
import { createServer, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { UploadChunk } from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { RESET_ONLY_PING } from "../../runtime/reset-only.js";
import { connectRaw, type RawClient } from "../hostile/raw-client.js";
import { type FrameTap, startFrameTap } from "../support/frame-tap.js";
import { eventually, startChat, unimplemented } from "./harness.js";

const UPLOAD = "/example.v1.Chat/Upload";
const chunk = UploadChunk.encode(UploadChunk.create({ name: "a", data: new Uint8Array([1, 2, 3]) })).finish();

/** Uploads one chunk on a raw session and returns how many PINGs the server sent meanwhile. */
async function uploadCountingPings(client: RawClient): Promise<number> {
  let pings = 0;
  const count = (): void => {
    pings += 1;
  };
  client.session.on("ping", count);
  const call = client.open(UPLOAD);
  call.writeMessage(chunk);
  call.end();
  const outcome = await call.outcome;
  client.session.off("ping", count);
  assert.equal(outcome.status, String(Status.OK), outcome.message);
  assert.equal(outcome.messages.length, 1);
  return pings;
}

test("a leaksafe server trusts END_STREAM at once only from a peer that promised RST-only cancels before its first stream", async () => {
  const leaks = createLeakChecker();
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    async upload(requests) {
      let chunks = 0;
      for await (const _ of requests) {
        chunks += 1;
      }
      return { name: "", bytes: 0, chunks };
    },
  });
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });

  const promisedFirst = await connectRaw(port);
  await new Promise((resolve) => promisedFirst.session.ping(RESET_ONLY_PING, resolve));
  const silent = await connectRaw(port);
  const promisedLate = await connectRaw(port);

  assert.equal(await uploadCountingPings(promisedFirst), 0, "a promised connection's END_STREAM needs no PING");
  assert.equal(await uploadCountingPings(promisedFirst), 0, "nor on its later streams");
  assert.ok(
    (await uploadCountingPings(silent)) >= 2,
    "without the promise, the server proves END_STREAM with two PINGs",
  );
  assert.ok((await uploadCountingPings(promisedLate)) >= 2);
  await new Promise((resolve) => promisedLate.session.ping(RESET_ONLY_PING, resolve));
  assert.ok((await uploadCountingPings(promisedLate)) >= 2, "a promise made after the first stream does not count");

  await Promise.all([promisedFirst.close(), silent.close(), promisedLate.close()]);
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});

test("a leaksafe client promises before its first stream and cancels an unfinished upload with RST_STREAM alone", async () => {
  const cancelled: unknown[] = [];
  let tap: FrameTap | undefined;
  const harness = await startChat(
    {
      async upload(requests, ctx) {
        try {
          for await (const _ of requests) {
            // reads until the client cancels
          }
        } catch (error) {
          cancelled.push(error);
          throw error;
        }
        assert.fail(`the request loop ended normally for a call the client cancelled (${String(ctx.signal.aborted)})`);
      },
    },
    {
      route: async (port) => {
        tap = await startFrameTap(port);
        return tap.port;
      },
    },
  );
  for (const round of [1, 2]) {
    const cancel = new AbortController();
    const upload = harness.client.upload(
      (async function* () {
        yield UploadChunk.create({ name: "a" });
        await new Promise(() => {});
      })(),
      { signal: cancel.signal },
    );
    await eventually(() => harness.server.activeStreams().length === 1, `upload ${round} to reach the server`);
    cancel.abort();
    const error = await upload.catch((e: unknown) => e);
    assert.ok(error instanceof RpcError && error.code === Status.CANCELLED, String(error));
    await eventually(() => cancelled.length === round, `the server's request loop ${round} to throw`);
  }

  assert.equal(tap?.connections.length, 1);
  const frames = tap?.connections[0] ?? [];
  const firstPing = frames.findIndex((f) => f.type === "PING" && !f.endOrAck);
  const firstHeaders = frames.findIndex((f) => f.type === "HEADERS");
  assert.equal(frames[firstPing]?.detail, RESET_ONLY_PING.toString("latin1"), "the client's first PING is the promise");
  assert.ok(firstPing >= 0 && firstPing < firstHeaders, "the promise comes before the first stream");
  const streamIds = [...new Set(frames.filter((f) => f.type === "HEADERS").map((f) => f.streamId))];
  assert.equal(streamIds.length, 2);
  for (const id of streamIds) {
    const ofStream = frames.filter((f) => f.streamId === id);
    assert.deepEqual(
      ofStream.filter((f) => f.endOrAck),
      [],
      `stream ${id} never sent END_STREAM: ${JSON.stringify(ofStream)}`,
    );
    assert.deepEqual(
      ofStream.filter((f) => f.type === "RST_STREAM").map((f) => f.detail),
      [http2.constants.NGHTTP2_CANCEL],
    );
  }
  await tap?.close();
  await harness.close();
});
