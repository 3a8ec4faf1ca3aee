/**
 * `npm run demo`: a chat server and a client from the generated example
 * stubs, one call of each kind, over loopback; then a resumable watch that
 * survives a server restart.
 */
import { createClient, createServer, RpcError } from "leaksafe";
import type { Change } from "../generated-example/example/kv/v1/kv.js";
import { KVService } from "../generated-example/example/kv/v1/kv_leaksafe.js";
import type { ChatMessage, RoomEvent } from "../generated-example/example/v1/chat.js";
import { ChatService } from "../generated-example/example/v1/chat_leaksafe.js";

const log: RoomEvent[] = [];

const server = createServer().add(ChatService, {
  async post(request) {
    const event: RoomEvent = { revision: log.length + 1, at: new Date(), posted: request };
    log.push(event);
    return { revision: event.revision };
  },
  async *watch(request, ctx) {
    for (const event of log) {
      if (event.revision > request.afterRevision) yield event;
    }
    // A real watch would wait for new events here, until ctx.signal aborts.
    ctx.signal.throwIfAborted();
  },
  async upload(chunks) {
    let bytes = 0;
    let count = 0;
    let name = "";
    for await (const chunk of chunks) {
      name = chunk.name;
      bytes += chunk.data.length;
      count++;
    }
    return { name, bytes, chunks: count };
  },
  async *converse(messages) {
    for await (const message of messages) {
      yield { author: "echo-bot", text: `you said "${message.text}"` };
    }
  },
});

const port = await server.listen("127.0.0.1:0");
const client = createClient(ChatService, `127.0.0.1:${port}`);
console.log(`chat server on 127.0.0.1:${port}`);

for (const text of ["hello", "is anyone here?", "bye"]) {
  const { revision } = await client.post({ author: "ann", text });
  console.log(`unary        post -> revision ${revision}`);
}

for await (const event of client.watch({ afterRevision: 1 })) {
  console.log(`server-stream watch <- #${event.revision} ${event.posted?.author}: ${event.posted?.text}`);
}

const chunks = Array.from({ length: 4 }, (_, i) => ({ name: "notes.txt", data: new Uint8Array(256 * (i + 1)) }));
const summary = await client.upload(chunks);
console.log(`client-stream upload -> ${summary.name}: ${summary.bytes} bytes in ${summary.chunks} chunks`);

async function* say(): AsyncGenerator<ChatMessage> {
  yield { author: "ann", text: "ping" };
  yield { author: "ann", text: "pong" };
}
for await (const reply of client.converse(say())) {
  console.log(`bidi         converse <- ${reply.author}: ${reply.text}`);
}

const controller = new AbortController();
controller.abort();
await client.post({ author: "ann", text: "never sent" }, { signal: controller.signal }).catch((error: unknown) => {
  if (error instanceof RpcError) console.log(`cancelled    post -> ${error.message} (reason: ${error.reason})`);
});

client.close();
const report = await server.shutdown({ graceMs: 1000 });
console.log(
  `shutdown: ${report.finished} calls finished, ${report.forced.length} forced; live calls: ${server.activeStreams().length}`,
);

// A resumable watch (example.kv.v1.KV, declared `resumable` in its .proto):
// the server restarts on the same port mid-watch, and the watch goes on.
const store: Change[] = [];
const wakeups = new Set<() => void>();
function put(key: string, value: string): void {
  store.push({ revision: store.length + 1, key, value: Buffer.from(value) });
  for (const wake of wakeups) wake();
}
function serveKv(address: string) {
  const kvServer = createServer().add(KVService, {
    async put(request) {
      put(request.key, Buffer.from(request.value).toString());
      return { revision: store.length };
    },
    async *watch(request, ctx) {
      let next = Math.max(request.startRevision, 1);
      while (!ctx.signal.aborted) {
        if (next <= store.length) {
          yield { changes: store.slice(next - 1) };
          next = store.length + 1;
          continue;
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            wakeups.delete(done);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          };
          wakeups.add(done);
          ctx.signal.addEventListener("abort", done);
        });
      }
    },
  });
  return { kvServer, bound: kvServer.listen(address) };
}

let current = serveKv("127.0.0.1:0");
const kvPort = await current.bound;
const kv = createClient(KVService, `127.0.0.1:${kvPort}`);
for (const key of ["a", "b", "c"]) await kv.put({ key, value: Buffer.from(`${key}1`) });
const watch = kv.watch(
  { prefix: "", startRevision: 1 },
  {
    resume: {
      resumeRequest: (last, request) => ({ ...request, startRevision: (last.changes.at(-1)?.revision ?? 0) + 1 }),
      onRetry: ({ attempt, error, delayMs }) =>
        console.log(`resume       watch attempt ${attempt} ended (${error.message}); again in ${delayMs} ms`),
    },
  },
);
for await (const { changes } of watch) {
  for (const change of changes) {
    console.log(`resume       watch <- #${change.revision} ${change.key}=${Buffer.from(change.value).toString()}`);
  }
  const last = changes.at(-1)?.revision;
  if (last === 3) {
    await current.kvServer.shutdown({ graceMs: 100 });
    console.log("resume       the KV server restarts on the same port");
    current = serveKv(`127.0.0.1:${kvPort}`);
    await current.bound;
    put("d", "d1");
    put("e", "e1");
  }
  if (last === 5) break;
}
kv.close();
await current.kvServer.shutdown({ graceMs: 1000 });
