/**
 * A live stream of each kind through the fault proxy, with keepalive at
 * 500 ms / 500 ms on both sides unless told otherwise, recording when and
 * how each side ends.
 */
import type { KeepaliveOptions } from "leaksafe";
import type { ChatMessage, UploadChunk } from "../../generated-example/example/v1/chat.js";
import type { ChatImplementation } from "../../generated-example/example/v1/chat_leaksafe.js";
import { type Harness, sleep, startChat } from "../e2e/harness.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";

export type Kind = "server-streaming" | "client-streaming" | "bidi";
export const KINDS: Kind[] = ["server-streaming", "client-streaming", "bidi"];
export const KEEPALIVE = { timeMs: 500, timeoutMs: 500 };

/** When and how one side's stream ended. */
export interface Ending {
  error?: unknown;
  at?: number;
  /** Messages this side received, in order. */
  received: string[];
}

export interface LiveStream {
  harness: Harness;
  proxy: FaultProxy;
  server: Ending;
  client: Ending;
  /** Resolves when the client's side of the call has ended. */
  clientDone: Promise<void>;
}

/**
 * Starts one call of `kind`; each side sends a message every `everyMs`, or
 * `count` messages and then ends when `count` is given. `keepalive` applies
 * to both sides; `false` turns it off.
 */
export async function startLiveStream(
  kind: Kind,
  options: { everyMs?: number; count?: number; keepalive?: KeepaliveOptions | false } = {},
): Promise<LiveStream> {
  const keepalive = options.keepalive ?? KEEPALIVE;
  const everyMs = options.everyMs ?? 50;
  const count = options.count ?? Number.POSITIVE_INFINITY;
  const server: Ending = { received: [] };
  const client: Ending = { received: [] };
  const ended = (side: Ending, error: unknown): void => {
    side.error ??= error;
    side.at ??= Date.now();
  };
  let proxy: FaultProxy | undefined;
  const impl: Partial<ChatImplementation> = {
    async *watch(_request, ctx) {
      try {
        for (let r = 1; r <= count; r++) {
          yield { revision: r, at: undefined };
          await sleep(everyMs);
        }
      } finally {
        if (ctx.signal.aborted) ended(server, ctx.signal.reason);
      }
    },
    async upload(chunks) {
      try {
        for await (const c of chunks) server.received.push(c.name);
      } catch (error) {
        ended(server, error);
        throw error;
      }
      return { name: "", bytes: 0, chunks: server.received.length };
    },
    async *converse(messages) {
      try {
        for await (const m of messages) {
          server.received.push(m.text);
          yield { author: "s", text: m.text };
        }
      } catch (error) {
        ended(server, error);
        throw error;
      }
    },
  };
  const harness = await startChat(impl, {
    serverOptions: { keepalive },
    clientOptions: { keepalive },
    route: async (port) => {
      proxy = await startFaultProxy(port);
      return proxy.port;
    },
  });
  async function* requests<T>(make: (i: number) => T): AsyncGenerator<T> {
    for (let i = 1; i <= count; i++) {
      yield make(i);
      await sleep(everyMs);
    }
  }
  const chunk = (i: number): UploadChunk => ({ name: String(i), data: new Uint8Array(64) });
  const message = (i: number): ChatMessage => ({ author: "c", text: String(i) });
  const run = async (): Promise<void> => {
    try {
      if (kind === "server-streaming") {
        for await (const e of harness.client.watch({ afterRevision: 0 })) client.received.push(String(e.revision));
      } else if (kind === "client-streaming") {
        await harness.client.upload(requests(chunk));
      } else {
        for await (const m of harness.client.converse(requests(message))) client.received.push(m.text);
      }
    } catch (error) {
      ended(client, error);
    }
  };
  const clientDone = run();
  if (proxy === undefined) throw new Error("the proxy did not start");
  return { harness, proxy, server, client, clientDone };
}
