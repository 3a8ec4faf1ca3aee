/**
 * Faults in what is sent: a consumer far slower than its producer,
 * malformed request bytes, and messages over the size limit.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { RpcError, Status } from "leaksafe";
import type { ChatMessage, UploadChunk } from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { type Harness, sleep, startChat } from "../e2e/harness.js";
import { describeError, recordRow } from "./report.js";

const TOTAL = 30_000;
/** A guard: the slow reader gives up waiting for the producer to stop after this many reads, a second each. */
const MAX_SLOW_READS = 30;
const MiB = 1024 * 1024;
/** What one 64 KiB HTTP/2 stream window holds of 7-byte frames, plus the stream buffers: the most a producer can run ahead. */
const WINDOW_MESSAGES = Math.ceil(65_535 / 7) + 64;

/**
 * A reader at one item a second: after each read it samples how far the
 * producer got, and reads slowly until two samples in a row are equal (the
 * producer stopped, held by flow control), however long that takes. Then it
 * reads the rest at full speed.
 */
function slowReader(produced: () => number) {
  const samples: number[] = [];
  return {
    samples,
    /** Whether the producer was seen to stop. */
    get stalled(): boolean {
      return samples.length >= 2 && samples.at(-1) === samples.at(-2);
    },
    /** Call after each item: waits a second while the reader is slow. */
    async read(): Promise<void> {
      if (this.stalled || samples.length >= MAX_SLOW_READS) return;
      await sleep(1000);
      samples.push(produced());
    },
  };
}

/** Reads `items` with a slow reader; returns every item in arrival order. */
async function readSlowThenFast<T>(items: AsyncIterable<T>, reader: ReturnType<typeof slowReader>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    out.push(item);
    await reader.read();
  }
  return out;
}

const sequence = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i + 1));

describe("a slow consumer (1 msg/s) against a fast producer", () => {
  test("server streaming: the server stops producing, then every event arrives once, in order", async () => {
    let produced = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    let heapGrowth = 0;
    const harness: Harness = await startChat({
      async *watch() {
        for (let r = 1; r <= TOTAL; r++) {
          produced = r;
          yield { revision: r, at: undefined };
        }
      },
    });
    const reader = slowReader(() => {
      heapGrowth = Math.max(heapGrowth, process.memoryUsage().heapUsed - heapBefore);
      return produced;
    });
    let events: Array<{ revision: number }>;
    try {
      events = await readSlowThenFast(harness.client.watch({ afterRevision: 0 }), reader);
    } finally {
      await harness.close();
    }
    const maxAhead = Math.max(...reader.samples);
    assert.deepEqual(
      events.map((e) => String(e.revision)),
      sequence(TOTAL),
    );
    // The producer is held by HTTP/2 flow control: one 64 KiB stream window
    // of these ~7-byte frames, plus grpc-js's 16-message buffers on each side.
    assert.ok(maxAhead <= WINDOW_MESSAGES, `the server ran ${maxAhead} events ahead of a reader at 1 msg/s`);
    assert.ok(reader.stalled, `the producer should have stopped while nobody read: ${reader.samples.join(", ")}`);
    assert.ok(heapGrowth < 20 * MiB, `heap grew ${(heapGrowth / MiB).toFixed(1)} MiB`);
    recordRow({
      scenario: "slow consumer, server-streaming",
      outcome: `OK, ${TOTAL} in order; producer at most ${maxAhead} ahead, heap +${(heapGrowth / MiB).toFixed(1)} MiB`,
      detectMs: "n/a",
      boundMs: "n/a",
      leaked: "none",
    });
  });

  test("client streaming: the client's sends wait, then every chunk arrives once, in order", async () => {
    let sent = 0;
    let received: string[] = [];
    const reader = slowReader(() => sent);
    const harness = await startChat({
      async upload(chunks) {
        received = (await readSlowThenFast(chunks, reader)).map((c) => c.name);
        return { name: "", bytes: 0, chunks: received.length };
      },
    });
    async function* chunks(): AsyncGenerator<UploadChunk> {
      for (let i = 1; i <= TOTAL; i++) {
        sent = i;
        yield { name: String(i), data: new Uint8Array(16) };
      }
    }
    assert.equal((await harness.client.upload(chunks())).chunks, TOTAL);
    assert.deepEqual(received, sequence(TOTAL));
    const maxAhead = Math.max(...reader.samples);
    assert.ok(reader.stalled, `the client should have stopped sending while nobody read: ${reader.samples.join(", ")}`);
    assert.ok(maxAhead <= WINDOW_MESSAGES, `the client ran ${maxAhead} chunks ahead of a reader at 1 msg/s`);
    await harness.close();
    recordRow({
      scenario: "slow consumer, client-streaming",
      outcome: `OK, ${TOTAL} in order; producer at most ${maxAhead} ahead`,
      detectMs: "n/a",
      boundMs: "n/a",
      leaked: "none",
    });
  });

  test("bidi: a slow server reader holds the client back, and nothing is lost, doubled or reordered", async () => {
    let sent = 0;
    const reader = slowReader(() => sent);
    const harness = await startChat({
      async *converse(messages) {
        for await (const m of messages) {
          await reader.read();
          yield m;
        }
      },
    });
    async function* messages(): AsyncGenerator<ChatMessage> {
      for (let i = 1; i <= TOTAL; i++) {
        sent = i;
        yield { author: "c", text: String(i) };
      }
    }
    const echoed: string[] = [];
    for await (const m of harness.client.converse(messages())) echoed.push(m.text);
    assert.deepEqual(echoed, sequence(TOTAL));
    const maxAhead = Math.max(...reader.samples);
    assert.ok(reader.stalled, `the client should have stopped sending while nobody read: ${reader.samples.join(", ")}`);
    assert.ok(maxAhead <= WINDOW_MESSAGES, `the client ran ${maxAhead} messages ahead of a reader at 1 msg/s`);
    await harness.close();
    recordRow({
      scenario: "slow consumer, bidi",
      outcome: `OK, ${TOTAL} in order; producer at most ${maxAhead} ahead`,
      detectMs: "n/a",
      boundMs: "n/a",
      leaked: "none",
    });
  });
});

describe("malformed request bytes", () => {
  test("a valid gRPC frame with garbage protobuf gets INTERNAL, and the server keeps serving", async () => {
    const harness = await startChat({
      async post(request) {
        return { revision: request.text.length };
      },
      async upload(chunks) {
        let n = 0;
        for await (const _ of chunks) n++;
        return { name: "", bytes: 0, chunks: n };
      },
    });
    const raw = new Client(`127.0.0.1:${harness.port}`, credentials.createInsecure());
    const garbage = (): Buffer => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    const unary = await new Promise<unknown>((resolve) => {
      raw.makeUnaryRequest(
        ChatService.post.path,
        garbage,
        ChatService.post.responseDeserialize,
        {},
        new Metadata(),
        {},
        (e) => resolve(e),
      );
    });
    const stream = await new Promise<unknown>((resolve) => {
      const call = raw.makeClientStreamRequest(
        ChatService.upload.path,
        garbage,
        ChatService.upload.responseDeserialize,
        new Metadata(),
        {},
        (e) => resolve(e),
      );
      call.write({});
      call.end();
    });
    for (const error of [unary, stream]) {
      const e = error as { code: number; details: string };
      assert.equal(Status[e.code], "INTERNAL");
      // grpc-js's own words. From 1.14.6 it adds the decoder's message only with
      // GRPC_NODE_DEBUG_SEND_ERROR_DETAILS set; 1.14.3 to 1.14.5 always add it.
      assert.match(e.details, /^Error deserializing request(: .+)?$/);
    }
    assert.equal((await harness.client.post({ author: "a", text: "still here" })).revision, 10);
    raw.close();
    await harness.close();
    recordRow({
      scenario: "malformed request bytes (unary and client-streaming)",
      outcome: `client INTERNAL "${(unary as { details: string }).details}"; the server keeps serving`,
      detectMs: "n/a",
      boundMs: "n/a",
      leaked: "none",
    });
  });
});

describe("oversized messages", () => {
  const big = new Uint8Array(5 * MiB);

  test("over 4 MiB each way gets RESOURCE_EXHAUSTED, nothing crashes, and the limit can be raised", async () => {
    const harness = await startChat({
      async upload(chunks) {
        let bytes = 0;
        for await (const c of chunks) bytes += c.data.length;
        return { name: "", bytes, chunks: 1 };
      },
      async *watch() {
        yield { revision: 1, at: undefined, posted: { author: "s", text: "x".repeat(5 * MiB) } };
      },
      async post() {
        return { revision: 1 };
      },
    });
    const up = await harness.client.upload([{ name: "big", data: big }]).catch((e: unknown) => e);
    assert.ok(up instanceof RpcError);
    assert.equal(Status[up.code], "RESOURCE_EXHAUSTED");
    assert.match(up.details, /larger than max/);
    const down = await (async () => {
      for await (const _ of harness.client.watch({ afterRevision: 0 })) {
      }
    })().catch((e: unknown) => e);
    assert.ok(down instanceof RpcError);
    assert.equal(Status[down.code], "RESOURCE_EXHAUSTED");
    assert.equal((await harness.client.post({ author: "a", text: "b" })).revision, 1, "the server still serves");
    await harness.close();

    const raised = await startChat(
      {
        async upload(chunks) {
          let bytes = 0;
          for await (const c of chunks) bytes += c.data.length;
          return { name: "", bytes, chunks: 1 };
        },
      },
      { serverOptions: { grpcOptions: { "grpc.max_receive_message_length": 8 * MiB } } },
    );
    assert.equal((await raised.client.upload([{ name: "big", data: big }])).bytes, 5 * MiB);
    await raised.close();
    recordRow({
      scenario: "oversized message (5 MiB, limit 4 MiB), each way",
      outcome: `client ${describeError(up)} sending, ${describeError(down)} receiving; raising grpc.max_receive_message_length lets it through`,
      detectMs: "n/a",
      boundMs: "n/a",
      leaked: "none",
    });
  });
});
