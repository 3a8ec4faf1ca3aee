/**
 * A live scene for the debug page's tests: a real leaksafe server with open
 * streams and calls that ended for several reasons, and an admin HTTP
 * server on 127.0.0.1:0 that mounts `debugHandler` beside it. One of the
 * services has a hostile name, markup and quotes included, as a peer or a
 * careless .proto can give; the page must print it as text.
 */
import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import {
  type CallOptions,
  type ClientBase,
  createClient,
  createServer,
  defineService,
  type LeaksafeServer,
  RpcError,
  type ServerContext,
} from "leaksafe";
import { type DebugHandlerOptions, debugHandler } from "leaksafe/debug";
import { createLeakChecker } from "leaksafe/testing";
import { type ChatClient, ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { aborted, eventually } from "../e2e/harness.js";
import { servingChat } from "../hostile/chat-service.js";

/**
 * A service name no page may run: a script, an image with a handler, quotes
 * and an ampersand. No space: an HTTP/2 path may not have one.
 */
export const HOSTILE_SERVICE = `debug.v1.<script>document.title='pwned';document.documentElement.dataset.pwned='1'</script><img/src=x/onerror="document.title='img'">&amp;"Svc'`;
export const HOLD_PATH = `/${HOSTILE_SERVICE}/Hold`;
export const IDLE_PATH = `/${HOSTILE_SERVICE}/Idle`;
/** The idle limit of the Idle method: a call that sends nothing ends by it. */
export const IDLE_MS = 300;

const bytes = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

type Echo = (requests: AsyncIterable<Buffer>, ctx: ServerContext) => AsyncIterable<Buffer>;
interface HostileClient extends ClientBase {
  hold(requests: AsyncIterable<Buffer>, options?: CallOptions): AsyncIterable<Buffer>;
  idle(requests: AsyncIterable<Buffer>, options?: CallOptions): AsyncIterable<Buffer>;
}

/** Two echo methods under the hostile name: Hold has no limit but sending; Idle ends after {@link IDLE_MS} of silence. */
export const HostileService = defineService<{ hold: Echo; idle: Echo }, HostileClient>()({
  hold: {
    path: HOLD_PATH,
    requestStream: true,
    responseStream: true,
    ...bytes,
    originalName: "Hold",
    kind: "bidi",
    idempotency: "unknown",
    policy: { idleTimeoutMs: 0, timeoutMs: 0, sendTimeoutMs: 7000 },
  },
  idle: {
    path: IDLE_PATH,
    requestStream: true,
    responseStream: true,
    ...bytes,
    originalName: "Idle",
    kind: "bidi",
    idempotency: "unknown",
    policy: { idleTimeoutMs: IDLE_MS },
  },
});

async function* echo(requests: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const message of requests) yield message;
}

/** Yields `items`, then waits for `signal` to abort, so the call stays open. */
async function* until<T>(signal: AbortSignal, items: T[]): AsyncIterable<T> {
  yield* items;
  await aborted(signal);
}

/** Reads a stream to its end, swallowing the error it ends with; resolves with what was read. */
async function drain<T>(stream: AsyncIterable<T>, seen: T[] = []): Promise<T[]> {
  try {
    for await (const item of stream) seen.push(item);
  } catch (error) {
    if (!(error instanceof RpcError)) throw error;
  }
  return seen;
}

export interface Scene {
  server: LeaksafeServer;
  /** The admin page's base URL, e.g. http://127.0.0.1:41234/debug. */
  url: string;
  /** The port of the leaksafe server. */
  port: number;
  chat: ChatClient;
  /** Ends the open calls, stops everything and asserts that nothing leaked (the HTTP server included). */
  close(): Promise<void>;
}

/** What the scene leaves open: two Watches, one Converse and one hostile Hold. */
export const OPEN_CALLS = 4;

/**
 * Starts the scene and waits until it is in place: 4 open calls (2 Chat
 * Watches, a Converse that exchanged 2 messages each way, a Hold that
 * exchanged 1), and 5 ended calls (3 Posts "ok", 1 Watch that its client
 * cancelled, "peer-gone" on the server, and 1 Idle "idle").
 */
export async function startScene(options: DebugHandlerOptions = {}): Promise<Scene> {
  const leaks = createLeakChecker();
  const server = createServer().add(ChatService, servingChat).add(HostileService, { hold: echo, idle: echo });
  const port = await server.listen("127.0.0.1:0");
  const target = `127.0.0.1:${port}`;
  const chat = createClient(ChatService, target);
  const hostile = createClient(HostileService, target);
  const admin = createHttpServer(debugHandler(server, options));
  await new Promise<void>((resolve) => admin.listen(0, "127.0.0.1", resolve));
  const address = admin.address();
  assert.ok(address !== null && typeof address === "object");
  leaks.track({ registries: [server, chat, hostile] });

  const stop = new AbortController();
  const running: Array<Promise<unknown>> = [];
  const close = async () => {
    stop.abort();
    await Promise.all(running);
    await eventually(() => server.activeStreams().length === 0, "the open calls to end");
    chat.close();
    hostile.close();
    const report = await server.shutdown({ graceMs: 5000 });
    assert.deepEqual(report.forced, [], "nothing is open at shutdown");
    await closeHttp(admin);
    await leaks.assertNoLeaks();
  };
  try {
    for (let i = 0; i < 3; i++) await chat.post({ author: "a", text: `hello ${i}` });
    for (let i = 0; i < 2; i++) {
      running.push(drain(chat.watch({ afterRevision: 0 }, { signal: stop.signal })));
    }
    const replies: unknown[] = [];
    const talk = [
      { author: "b", text: "one" },
      { author: "b", text: "two" },
    ];
    running.push(drain(chat.converse(until(stop.signal, talk), { signal: stop.signal }), replies));
    const held: Buffer[] = [];
    running.push(drain(hostile.hold(until(stop.signal, [Buffer.from("x")]), { signal: stop.signal }), held));
    // One Watch that the client cancels, and one Idle call that sends nothing.
    const cancel = new AbortController();
    const cancelled = drain(chat.watch({ afterRevision: 0 }, { signal: cancel.signal }));
    await eventually(() => server.activeStreams().length === OPEN_CALLS + 1, "the calls to open");
    cancel.abort();
    await cancelled;
    // The client would give up after the method's idle limit too: it waits longer, so the server's fires.
    await drain(hostile.idle(until(stop.signal, []), { idleTimeoutMs: 0 }));
    await eventually(() => replies.length === 2 && held.length === 1, "the echoes");
    await eventually(() => {
      const { byReason } = server.recentEnds();
      return byReason.ok === 3 && byReason["peer-gone"] === 1 && byReason.idle === 1;
    }, "the ends: 3 ok, 1 peer-gone (the cancelled Watch, as the server sees it), 1 idle");
    assert.equal(server.activeStreams().length, OPEN_CALLS);
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  return { server, url: `http://127.0.0.1:${address.port}/debug`, port, chat, close };
}

/** Closes an HTTP server and every connection it holds. */
export function closeHttp(server: HttpServer): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error === undefined ? resolve() : reject(error)));
    server.closeAllConnections();
  });
}
