/**
 * A real grpc-js server and client on 127.0.0.1:0, through the generated
 * example stubs, with a leak check when the test is done.
 */
import assert from "node:assert/strict";
import {
  type ClientOptions,
  createClient,
  createServer,
  type LeaksafeServer,
  type ServerOptions,
  type ServiceLimits,
  type StreamLimits,
} from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import {
  type ChatClient,
  type ChatImplementation,
  ChatService,
} from "../../generated-example/example/v1/chat_leaksafe.js";

export interface Harness {
  server: LeaksafeServer;
  client: ChatClient;
  port: number;
  /**
   * Closes both ends and asserts that nothing is left behind. `forced`
   * names the methods a shutdown that the test already made had to force.
   */
  close(forced?: string[]): Promise<void>;
}

export interface HarnessOptions {
  /** Limits given to `server.add`. */
  serverLimits?: ServiceLimits;
  /** Limits for every call of the client. */
  clientLimits?: StreamLimits;
  /** Long-lived signals whose abort listeners must return to baseline. */
  signals?: AbortSignal[];
  serverOptions?: ServerOptions;
  clientOptions?: ClientOptions;
  /** Puts something between client and server: given the server's port, returns the port to dial. */
  route?: (serverPort: number) => Promise<number>;
}

/** An implementation whose methods all fail; tests override what they use. */
export function unimplemented(): ChatImplementation {
  const fail = (): never => {
    throw new Error("not used by this test");
  };
  return { post: fail, watch: fail, upload: fail, converse: fail };
}

export async function startChat(
  overrides: Partial<ChatImplementation>,
  options: HarnessOptions = {},
): Promise<Harness> {
  const leaks = createLeakChecker({ signals: options.signals });
  const server = createServer(options.serverOptions).add(
    ChatService,
    { ...unimplemented(), ...overrides },
    options.serverLimits,
  );
  const port = await server.listen("127.0.0.1:0");
  const dial = options.route === undefined ? port : await options.route(port);
  const client = createClient(ChatService, `127.0.0.1:${dial}`, {
    ...options.clientOptions,
    limits: options.clientLimits,
  });
  leaks.track({ registries: [server, client] });
  return {
    server,
    client,
    port,
    async close(forced = []) {
      await eventually(() => server.activeStreams().length === 0, "the server registry to empty");
      client.close();
      const report = await server.shutdown({ graceMs: 1000 });
      assert.deepEqual(
        report.forced.map((f) => f.method),
        forced,
        "no call should be open at shutdown",
      );
      await leaks.assertNoLeaks();
    },
  };
}

/** Polls `condition` for up to `ms` (a hang guard, not a speed bound), then fails naming what was awaited. */
export async function eventually(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) {
      assert.fail(`timed out waiting for ${what}`);
    }
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `signal` aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}
