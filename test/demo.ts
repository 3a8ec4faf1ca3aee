/**
 * `npm run demo`: a chat server and a client from the generated example
 * stubs, one call of each kind, over loopback.
 */
import { createClient, createServer, RpcError } from "leaksafe";
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
