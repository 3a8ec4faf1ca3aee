/**
 * One replica of the fleet: a leaksafe server with the KV service over a
 * clock-driven feed, the Chat service's unary Post, and health checks.
 * Every replica computes the same feed from the same clock (revision r is
 * due at EPOCH + r × TICK_MS, and its change is computed from r), so a
 * watch that resumes on another replica continues the same sequence.
 *
 * Usage: replica.ts PORT EPOCH TICK_MS AGE_MS AGE_GRACE_MS STREAM_AGE_MS POST_MS
 *   PORT     0 for a free port; a restart passes the port it had
 *   AGE_MS   maxConnectionAgeMs (0: none), AGE_GRACE_MS its grace
 *   STREAM_AGE_MS maxStreamAgeMs (0: none)
 *   POST_MS  how long each Post takes
 * Prints "listening <port>" once serving. Post by author "stats" answers
 * with the number of KV watches open on this replica, as its `revision`.
 * On SIGTERM it shuts down (health NOT_SERVING first, grace 2000 ms) and
 * prints "report <json>" with the shutdown report, then exits.
 */
import { createServer, type LeaksafeServer, shutdownOnSignals } from "leaksafe";
import { WatchResponse } from "../../generated-example/example/kv/v1/kv.js";
import { KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { sleep, unimplemented } from "../e2e/harness.js";
import { change } from "../resume/feed.js";

const [port, epoch, tickMs, ageMs, ageGraceMs, streamAgeMs, postMs] = process.argv.slice(2).map(Number) as number[];
const WATCH = "/example.kv.v1.KV/Watch";

/** The revision due now. */
const due = (): number => Math.floor((Date.now() - (epoch as number)) / (tickMs as number));

const server: LeaksafeServer = createServer({
  health: true,
  maxConnectionAgeMs: ageMs,
  maxConnectionAgeGraceMs: ageGraceMs,
  maxStreamAgeMs: streamAgeMs,
})
  .add(KVService, {
    async put() {
      throw new Error("not served");
    },
    async *watch(request, ctx) {
      let next = request.startRevision > 0 ? request.startRevision : due() + 1;
      while (!ctx.signal.aborted) {
        const last = due();
        if (next <= last) {
          const changes = [];
          for (; next <= last; next++) changes.push(change(next));
          yield WatchResponse.fromPartial({ changes });
        }
        // Wait for the next revision; a cancelled call's await ends with its timer.
        await sleep(Math.max(1, (epoch as number) + (last + 1) * (tickMs as number) - Date.now()));
      }
    },
  })
  .add(ChatService, {
    ...unimplemented(),
    async post(request) {
      if (request.author === "stats") {
        return { revision: server.activeStreams().filter((c) => c.method === WATCH).length };
      }
      await sleep(postMs as number);
      return { revision: due() };
    },
  });

const bound = await server.listen(`127.0.0.1:${port}`);
const handle = shutdownOnSignals([{ name: "grpc", target: server, graceMs: 2000 }], {
  log: () => undefined,
  exit: (code) => {
    void handle.run().then((steps) => {
      process.stdout.write(`report ${JSON.stringify(steps[0]?.report ?? null)}\n`);
      process.exit(code);
    });
  },
});
process.stdout.write(`listening ${bound}\n`);
