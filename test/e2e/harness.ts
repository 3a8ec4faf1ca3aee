/**
 * A real grpc-js server and client on 127.0.0.1:0, through the generated
 * example stubs, with a leak check when the test is done.
 */
import assert from "node:assert/strict";
import { createClient, createServer, type LeaksafeServer } from "leaksafe";
import {
  type ChatClient,
  type ChatImplementation,
  ChatService,
} from "../../generated-example/example/v1/chat_leaksafe.js";

export interface Harness {
  server: LeaksafeServer;
  client: ChatClient;
  port: number;
  /** Closes both ends and asserts that nothing is left behind. */
  close(): Promise<void>;
}

/** An implementation whose methods all fail; tests override what they use. */
export function unimplemented(): ChatImplementation {
  const fail = (): never => {
    throw new Error("not used by this test");
  };
  return { post: fail, watch: fail, upload: fail, converse: fail };
}

export async function startChat(overrides: Partial<ChatImplementation>): Promise<Harness> {
  const baseline = resourceCounts();
  const server = createServer().add(ChatService, { ...unimplemented(), ...overrides });
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  return {
    server,
    client,
    port,
    async close() {
      await eventually(() => server.activeStreams().length === 0, "the server registry to empty");
      client.close();
      const report = await server.shutdown({ graceMs: 1000 });
      assert.deepEqual(report.forced, [], "no call should be open at shutdown");
      await eventually(
        () => sameCounts(resourceCounts(), baseline),
        () => `active resources back to baseline: ${JSON.stringify(diff(resourceCounts(), baseline))}`,
      );
    },
  };
}

function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) {
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return counts;
}

function diff(now: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of new Set([...now.keys(), ...before.keys()])) {
    const d = (now.get(key) ?? 0) - (before.get(key) ?? 0);
    if (d > 0) out[key] = d;
  }
  return out;
}

function sameCounts(now: Map<string, number>, before: Map<string, number>): boolean {
  return Object.keys(diff(now, before)).length === 0;
}

/** Polls `condition` for up to `ms`, then fails naming what was awaited. */
export async function eventually(condition: () => boolean, what: string | (() => string), ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) {
      assert.fail(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}
