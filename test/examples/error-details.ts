/**
 * An example: rich error details. A chat server says precisely what is
 * wrong with a post (BadRequest, with a LocalizedMessage for the user) and
 * when a too-eager author may post again (RetryInfo, with ErrorInfo and
 * QuotaFailure). Its client shows the first and waits out the second.
 *
 *     npx tsx test/examples/error-details.ts
 */
import { realpathSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createClient, createServer, type LeaksafeServer, RpcError, Status } from "leaksafe";
import {
  BadRequest,
  ErrorInfo,
  findDetail,
  LocalizedMessage,
  packDetail,
  QuotaFailure,
  RetryInfo,
} from "leaksafe/error-details";
import type { PostRequest, PostResponse } from "../../generated-example/example/v1/chat.js";
import { type ChatClient, ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";

/** One post per author in this many milliseconds. */
export const POST_INTERVAL_MS = 300;

/** A chat server whose Post refuses empty posts and authors who post too often, with details. */
export function createChatServer(): LeaksafeServer {
  const lastPost = new Map<string, number>();
  let revision = 0;
  return createServer().add(ChatService, {
    ...unimplemented(),
    async post({ author, text }) {
      if (text.trim() === "") {
        throw new RpcError(Status.INVALID_ARGUMENT, "the post is not valid", {
          statusDetails: [
            packDetail(BadRequest, { fieldViolations: [{ field: "text", description: "is empty", reason: "EMPTY" }] }),
            packDetail(LocalizedMessage, { locale: "en-US", message: "Write something first." }),
          ],
        });
      }
      const wait = Math.ceil((lastPost.get(author) ?? Number.NEGATIVE_INFINITY) + POST_INTERVAL_MS - Date.now());
      if (wait > 0) {
        const retryDelay = { seconds: Math.floor(wait / 1000), nanos: (wait % 1000) * 1e6 };
        throw new RpcError(Status.RESOURCE_EXHAUSTED, `${author} posts too often`, {
          statusDetails: [
            packDetail(RetryInfo, { retryDelay }),
            packDetail(ErrorInfo, { reason: "RATE_LIMITED", domain: "chat.example.com", metadata: { author } }),
            packDetail(QuotaFailure, { violations: [{ subject: `author:${author}`, description: "1 post a turn" }] }),
          ],
        });
      }
      lastPost.set(author, Date.now());
      return { revision: ++revision };
    },
  });
}

/**
 * Posts, and when the server says RESOURCE_EXHAUSTED with a RetryInfo,
 * waits as long as it asks (at most `maxWaitMs`) and tries once more.
 */
export async function postPolitely(client: ChatClient, request: PostRequest, maxWaitMs = 5000): Promise<PostResponse> {
  try {
    return await client.post(request);
  } catch (error) {
    const retry = findDetail(error, RetryInfo);
    if (!(error instanceof RpcError) || error.code !== Status.RESOURCE_EXHAUSTED || retry?.retryDelay === undefined) {
      throw error;
    }
    const { seconds, nanos } = retry.retryDelay;
    const waitMs = seconds * 1000 + nanos / 1e6;
    if (waitMs > maxWaitMs) {
      throw error;
    }
    await sleep(waitMs);
    return client.post(request);
  }
}

/** One line for a user about a failed call: the localized message if there is one, and each bad field. */
export function explain(error: unknown): string {
  if (!(error instanceof RpcError)) {
    return String(error);
  }
  const fields = (findDetail(error, BadRequest)?.fieldViolations ?? []).map((v) => `${v.field} ${v.description}`);
  const message = findDetail(error, LocalizedMessage)?.message ?? error.details;
  return [`${Status[error.code]}: ${message}`, ...fields].join("; ");
}

/** Runs the example against its own server; returns what it prints. */
export async function main(): Promise<string[]> {
  const server = createChatServer();
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  const lines: string[] = [];
  try {
    lines.push(`posted revision ${(await postPolitely(client, { author: "ada", text: "hello" })).revision}`);
    // Too soon: the server asks for a wait, and postPolitely waits it out.
    const again = await postPolitely(client, { author: "ada", text: "again" });
    lines.push(`posted revision ${again.revision}, after the wait that RetryInfo asked for`);
    lines.push(await client.post({ author: "ada", text: " " }).then(() => "posted", explain));
    // Too soon, without waiting: the details say why.
    await client.post({ author: "bob", text: "hi" });
    const refused = await client.post({ author: "bob", text: "hi again" }).then(
      () => "posted",
      (error: unknown) => {
        const info = findDetail(error, ErrorInfo);
        return `${explain(error)} (${info?.reason} in ${info?.domain}, for ${info?.metadata.author})`;
      },
    );
    lines.push(refused);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 5000 });
  }
  return lines;
}

// Run as a script (not imported by the test).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const line of await main()) console.log(line);
}
