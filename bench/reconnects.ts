/**
 * Heap across many reconnects of one resumable watch: a KV server that ends
 * every connection after 300 ms (GOAWAY, then close), and one watch that
 * resumes each time. Prints heap after GC every 100 reconnects; a leak per
 * reconnect shows as a steady climb after the first ones (which warm the JIT).
 *
 * Run: TSX_TSCONFIG_PATH=bench/tsconfig.json npx tsx bench/reconnects.ts [reconnects]
 */
import { createClient } from "leaksafe";
import { KVService } from "../generated-example/example/kv/v1/kv_leaksafe.js";
import { Feed, kvOver, resumeAfter, serveKv } from "../test/resume/feed.js";
import { heapAfterGc, MiB } from "../test/support/heap.js";

const total = Number(process.argv[2] ?? 410);
const feed = new Feed();
const { server, port } = await serveKv(kvOver(feed), "127.0.0.1:0", {
  grpcOptions: { "grpc.max_connection_age_ms": 300, "grpc.max_connection_age_grace_ms": 0 },
});
const client = createClient(KVService, `127.0.0.1:${port}`);
feed.start(5, Number.MAX_SAFE_INTEGER);

let reconnects = 0;
let expected = 1;
const started = Date.now();
for await (const response of client.watch(
  { prefix: "", startRevision: 1 },
  {
    resume: {
      resumeRequest: resumeAfter,
      initialBackoffMs: 10,
      onRetry: () => {
        reconnects++;
        if (reconnects % 100 === 10) {
          const heap = heapAfterGc() / MiB;
          console.log(`reconnect ${reconnects}: heap after GC ${heap.toFixed(2)} MiB, revision ${expected - 1}`);
        }
      },
    },
  },
)) {
  for (const change of response.changes) {
    if (change.revision !== expected) throw new Error(`expected revision ${expected}, got ${change.revision}`);
    expected++;
  }
  if (reconnects >= total) break;
}
console.log(
  `${reconnects} reconnects, ${expected - 1} changes in order, in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
feed.stop();
client.close();
await server.shutdown({ graceMs: 1000 });
