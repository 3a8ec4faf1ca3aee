/**
 * The server the reflection tests ask: Chat and KV from generated-example,
 * health and reflection. Chat's Post answers with a revision computed from
 * the request, so a client that calls it through descriptors it fetched
 * proves that it encoded the request right.
 */
import { createServer, type LeaksafeServer, type ServerOptions } from "leaksafe";
import { KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";

/** What Post answers: the length of the author's name times 1000 plus the length of the text. */
export function postRevision(author: string, text: string): number {
  return author.length * 1000 + text.length;
}

export async function serve(
  options: ServerOptions = { reflection: true, health: true },
): Promise<{ server: LeaksafeServer; target: string }> {
  const server = createServer(options)
    .add(ChatService, {
      ...unimplemented(),
      post: async ({ author, text }) => ({ revision: postRevision(author, text) }),
    })
    .add(KVService, {
      put: async () => ({ revision: 1 }),
      watch: async function* () {},
    });
  const port = await server.listen("127.0.0.1:0");
  return { server, target: `127.0.0.1:${port}` };
}
