/**
 * Long runs in one process: a shared signal across 1,000 calls, 10,000
 * streams ended by mixed causes, and one stream of 1,000,000 messages. Heap
 * is measured after a forced GC; resources and listeners by the leak checker.
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { afterEach, test } from "node:test";
import { RpcError } from "leaksafe";
import type { ChatMessage } from "../../generated-example/example/v1/chat.js";
import { heapAfterGc, MiB } from "../support/heap.js";
import { aborted, type Harness, sleep, startChat } from "./harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function* chatter(n: number): AsyncGenerator<ChatMessage> {
  for (let i = 0; i < n; i++) yield { author: "a", text: String(i) };
}

test("one signal shared by 1,000 calls of every kind keeps no abort listener", async () => {
  const shared = new AbortController();
  harness = await startChat(
    {
      async post(request) {
        return { revision: request.text.length };
      },
      async *watch() {
        yield { revision: 1, at: undefined };
        yield { revision: 2, at: undefined };
      },
      async upload(chunks) {
        let n = 0;
        for await (const _ of chunks) n++;
        return { name: "", bytes: 0, chunks: n };
      },
      async *converse(messages) {
        for await (const m of messages) yield m;
      },
    },
    { signals: [shared.signal] },
  );
  const { client } = harness;
  const signal = shared.signal;
  for (let i = 0; i < 250; i++) {
    await client.post({ author: "a", text: "x" }, { signal });
    for await (const event of client.watch({ afterRevision: 0 }, { signal })) {
      if (i % 2 === 0 && event.revision === 1) break; // half of them leave early
    }
    await client.upload([{ name: "n", data: new Uint8Array(1) }], { signal });
    for await (const _ of client.converse(chatter(2), { signal })) {
    }
  }
  assert.equal(getEventListeners(signal, "abort").length, 0);
});

test("10,000 streams ended by mixed causes return heap and resources to baseline", { timeout: 180_000 }, async (t) => {
  harness = await startChat(
    {
      async *watch(request, ctx) {
        const mode = request.afterRevision % 6;
        yield { revision: 1, at: undefined };
        if (mode === 0) return; // completes
        if (mode === 1) throw new RpcError(9, "refused"); // the handler fails
        await aborted(ctx.signal); // the client ends it: break, abort, idle or deadline
      },
      async *converse(messages) {
        for await (const m of messages) yield m;
      },
    },
    { serverLimits: { sendTimeoutMs: 1000 } },
  );
  const { client } = harness;
  const run = async (i: number): Promise<void> => {
    const mode = i % 6;
    const controller = new AbortController();
    const options =
      mode === 3
        ? { signal: controller.signal }
        : mode === 4
          ? { idleTimeoutMs: 20 }
          : mode === 5
            ? { timeoutMs: 30 }
            : {};
    try {
      for await (const _ of client.watch({ afterRevision: i }, options)) {
        if (mode === 2) break;
        if (mode === 3) controller.abort();
      }
    } catch (error) {
      assert.ok(error instanceof RpcError, String(error));
    }
  };
  const batch = async (from: number, count: number): Promise<void> => {
    const calls: Array<Promise<void>> = [];
    for (let i = from; i < from + count; i++) calls.push(run(i));
    await Promise.all(calls);
  };
  for (let i = 0; i < 600; i += 200) await batch(i, 200); // warm up the code paths and the channel
  await sleep(100);
  const before = heapAfterGc();
  for (let i = 0; i < 10_000; i += 500) await batch(i, 500);
  await sleep(100);
  assert.deepEqual(client.activeStreams(), []);
  assert.deepEqual(harness.server.activeStreams(), []);
  const after = heapAfterGc();
  const grown = (after - before) / MiB;
  t.diagnostic(`heap after GC: ${(before / MiB).toFixed(2)} MiB before, ${(after / MiB).toFixed(2)} MiB after`);
  assert.ok(grown < 5, `heap grew by ${grown.toFixed(2)} MiB over 10,000 streams`);
});

// A hang guard, not a speed bound: about 40 s alone here, and up to 117 s
// in a suite run with a CPU hog and another test file beside it.
test("one stream of 1,000,000 messages keeps heap flat", { timeout: 400_000 }, async (t) => {
  const total = 1_000_000;
  harness = await startChat({
    async *watch() {
      for (let r = 1; r <= total; r++) yield { revision: r, at: undefined };
    },
  });
  let atStart = 0;
  let atEnd = 0;
  let count = 0;
  for await (const event of harness.client.watch({ afterRevision: 0 })) {
    count++;
    assert.equal(event.revision, count);
    if (count === 100_000) atStart = heapAfterGc();
    if (count === total - 1) atEnd = heapAfterGc();
  }
  assert.equal(count, total);
  const drift = (atEnd - atStart) / MiB;
  t.diagnostic(
    `heap after GC: ${(atStart / MiB).toFixed(2)} MiB at 100,000, ${(atEnd / MiB).toFixed(2)} MiB at 999,999`,
  );
  assert.ok(Math.abs(drift) <= 2, `heap moved by ${drift.toFixed(2)} MiB between message 100,000 and 1,000,000`);
});
