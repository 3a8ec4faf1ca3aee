/**
 * A peer in its own process, for tests that SIGKILL it mid-stream.
 *   server            serves Watch, Upload and Converse: endless streams, a message every 10 ms
 *   client PORT KIND  streams to or from 127.0.0.1:PORT forever (KIND: upload, converse or watch)
 * It prints "ready <port>" or "sending" once the stream is running.
 */
import { createClient, createServer } from "leaksafe";
import type { ChatMessage, UploadChunk } from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { sleep, unimplemented } from "./harness.js";

const [mode, port, kind] = process.argv.slice(2);

if (mode === "server") {
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    async *watch() {
      for (let r = 1; ; r++) {
        yield { revision: r, at: undefined };
        await sleep(10);
      }
    },
    async *converse(requests) {
      for await (const m of requests) yield m;
    },
    async upload(chunks) {
      let n = 0;
      for await (const _ of chunks) n++;
      return { name: "", bytes: 0, chunks: n };
    },
  });
  const bound = await server.listen("127.0.0.1:0");
  console.log(`ready ${bound}`);
} else if (mode === "client") {
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  async function* chunks(): AsyncGenerator<UploadChunk> {
    for (let i = 0; ; i++) {
      if (i === 3) console.log("sending");
      yield { name: "x", data: new Uint8Array(16) };
      await sleep(10);
    }
  }
  async function* messages(): AsyncGenerator<ChatMessage> {
    for (let i = 0; ; i++) {
      if (i === 3) console.log("sending");
      yield { author: "child", text: String(i) };
      await sleep(10);
    }
  }
  if (kind === "upload") {
    await client.upload(chunks());
  } else if (kind === "watch") {
    let n = 0;
    for await (const _ of client.watch({ afterRevision: 0 })) {
      if (++n === 3) console.log("sending");
    }
  } else {
    for await (const _ of client.converse(messages())) {
    }
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
