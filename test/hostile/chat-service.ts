/**
 * The Chat service as the hostile-peer suites and benches serve it: like a
 * real server's, every handler reads its requests and ends when its call
 * does, so whatever holds a stream open is the peer's doing.
 */
import type { ChatImplementation } from "../../generated-example/example/v1/chat_leaksafe.js";

export const servingChat: ChatImplementation = {
  async post() {
    return { revision: 1 };
  },
  async *watch(_request, ctx) {
    yield { revision: 1, at: undefined };
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  },
  async upload(requests) {
    let chunks = 0;
    for await (const _ of requests) chunks++;
    return { name: "upload", bytes: 0, chunks };
  },
  async *converse(requests) {
    for await (const message of requests) yield message;
  },
};

/** The same, except that Post never answers and ignores its signal: a shutdown forces it when the grace ends. */
export const stuckPostChat: ChatImplementation = { ...servingChat, post: () => new Promise(() => {}) };
