/**
 * The end-of-stream barrier (runtime/end-barrier.ts) on a connection that
 * is closing. A grpc-js client that leaves a connection sends GOAWAY
 * first, and Node then marks the server's session `closed` and refuses its
 * `ping()`; the calls still open there may yet be cancelled, with
 * END_STREAM and then RST_STREAM. Their END_STREAM must still wait for the
 * PING proof, however late the RST_STREAM comes.
 */
import assert from "node:assert/strict";
import { constants } from "node:http2";
import { test } from "node:test";
import { createServer } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { UploadChunk } from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { connectRaw } from "../hostile/raw-client.js";
import { startFrameTap } from "../support/frame-tap.js";
import { eventually, unimplemented } from "./harness.js";

/** How long the network holds the RST_STREAM back: far past the 5 ms fallback wait. */
const RST_DELAY_MS = 300;

test("a call cancelled after its client sent GOAWAY is seen as a cancel, however late its RST_STREAM arrives", async () => {
  const leaks = createLeakChecker();
  const loops: Array<"end" | "cancel"> = [];
  let received = 0;
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    async upload(requests) {
      try {
        for await (const _ of requests) received++;
      } catch (error) {
        loops.push("cancel");
        throw error;
      }
      loops.push("end");
      return { name: "", bytes: 0, chunks: received };
    },
  });
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });
  // The client's END_STREAM goes through; whatever it sends next is held back.
  const tap = await startFrameTap(port, {
    holdAfter: (frame) => (frame.type === "DATA" && frame.endOrAck ? RST_DELAY_MS : 0),
  });
  const client = await connectRaw(tap.port);

  const call = client.open("/example.v1.Chat/Upload");
  call.writeMessage(UploadChunk.encode(UploadChunk.create({ name: "a" })).finish());
  await eventually(() => received === 1, "the server to read the message");
  // GOAWAY(NO_ERROR), as a client that leaves sends it; the client's session stays open.
  client.session.goaway(constants.NGHTTP2_NO_ERROR, 0);
  await eventually(() => tap.connections[0]?.some((f) => f.type === "GOAWAY") === true, "the client's GOAWAY");
  // Node's cancel of a stream it has not ended: END_STREAM, then RST_STREAM(CANCEL).
  call.stream.close(constants.NGHTTP2_CANCEL);
  await call.outcome;

  await eventually(() => loops.length === 1, "the request loop to end", 10 * RST_DELAY_MS + 10_000);
  assert.deepEqual(loops, ["cancel"], "the request loop of a cancelled call ended normally");
  const frames = tap.connections[0] ?? [];
  const end = frames.findIndex((f) => f.type === "DATA" && f.endOrAck);
  const reset = frames.findIndex((f) => f.type === "RST_STREAM");
  assert.ok(end >= 0 && reset > end, "the client sent END_STREAM, then RST_STREAM");

  await client.close();
  await tap.close();
  await server.shutdown({ graceMs: 1000 });
  await leaks.assertNoLeaks();
});
