/**
 * The scenario matrix: every streaming kind × the side that receives × every
 * way a stream can end abnormally, on real grpc-js over loopback. Each test
 * asserts the code and reason on both sides, the timing (a limit fires no
 * earlier than itself, within 10× of it; an abort, a break or a kill is
 * noticed before any built-in timer could have noticed it), that the
 * handler's finally ran, and, through the harness, that registries are empty
 * and nothing leaked.
 */
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import type { ChatMessage, RoomEvent, UploadChunk } from "../../generated-example/example/v1/chat.js";
import type { ChatImplementation } from "../../generated-example/example/v1/chat_leaksafe.js";
import { assertFiredOnTime, assertNoticedAtOnce } from "../support/bounds.js";
import { startPeer } from "./child.js";
import { aborted, eventually, type Harness, type HarnessOptions, sleep, startChat } from "./harness.js";

const LIMIT = 300;
const BIG = "x".repeat(64 * 1024);

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(impl: Partial<ChatImplementation>, options?: HarnessOptions): Promise<Harness> {
  harness = await startChat(impl, options);
  return harness;
}

function expectError(error: unknown, code: Status, reason: RpcError["reason"], side: string): void {
  assert.ok(error instanceof RpcError, `${side}: expected an RpcError, got ${String(error)}`);
  assert.equal(Status[error.code], Status[code], `${side} code (${error.message})`);
  assert.equal(error.reason, reason, `${side} reason (${error.message})`);
}

/** What a server handler observed. */
class ServerSide {
  error: unknown;
  finallyAt: number | undefined;
  lastYieldAt = 0;
  get finallyRan(): boolean {
    return this.finallyAt !== undefined;
  }
  async settled(): Promise<void> {
    await eventually(() => this.finallyRan, "the handler's finally to run");
  }
}

/** Waits until the server has read a few requests of the call, so what follows lands mid-stream. */
async function carrying(h: Harness): Promise<void> {
  await eventually(() => (h.server.activeStreams()[0]?.messagesIn ?? 0) >= 3, "the server to read requests");
}

/** Consumes an async iterable fully; resolves to the error that ended it, or undefined. */
/**
 * When the client's one live call last received a message: the moment its
 * idle deadline counts from. The loop that reads the message runs later, by
 * more than a clock's tick on a loaded machine.
 */
function lastArrival(client: { activeStreams(): Array<{ lastMessageInAt: number | undefined }> }): number {
  const [call] = client.activeStreams();
  assert.ok(call?.lastMessageInAt !== undefined, "a live call that has received a message");
  return call.lastMessageInAt;
}

async function drain<T>(iterable: AsyncIterable<T>, onItem: (item: T, index: number) => unknown = () => undefined) {
  let i = 0;
  try {
    for await (const item of iterable) {
      if (onItem(item, i++) === "stop") break;
    }
    return undefined;
  } catch (error) {
    return error;
  }
}

/** An endless request stream, a message every `everyMs`; its finally is recorded. */
function requests<T>(make: (i: number) => T, everyMs: number, log: { finallyRan: boolean; lastYieldAt: number }) {
  return (async function* () {
    try {
      for (let i = 0; ; i++) {
        log.lastYieldAt = Date.now();
        yield make(i);
        await sleep(everyMs);
      }
    } finally {
      log.finallyRan = true;
    }
  })();
}

/** A request stream that sends one message, then nothing until `stop` aborts. */
function stalled<T>(message: T, stop: AbortSignal, log: { finallyRan: boolean; lastYieldAt: number }) {
  return (async function* () {
    try {
      log.lastYieldAt = Date.now();
      yield message;
      await aborted(stop);
    } finally {
      log.finallyRan = true;
    }
  })();
}

const event = (r: number, text = ""): RoomEvent => ({ revision: r, at: undefined, posted: { author: "s", text } });
const chunk = (i: number, data = new Uint8Array(16)): UploadChunk => ({ name: `c${i}`, data });
const message = (i: number, text = String(i)): ChatMessage => ({ author: "c", text });

/** A server-streaming handler: a message every `everyMs` ms, recording what it saw. */
function watchFor(side: ServerSide, everyMs: number, text = ""): ChatImplementation["watch"] {
  return async function* (_request, ctx) {
    try {
      for (let r = 1; ; r++) {
        side.lastYieldAt = Date.now();
        yield event(r, text);
        if (everyMs > 0) await sleep(everyMs);
        if (ctx.signal.aborted) throw ctx.signal.reason;
      }
    } catch (error) {
      side.error = error;
      throw error;
    } finally {
      side.error ??= ctx.signal.reason;
      side.finallyAt = Date.now();
    }
  };
}

/** A request-reading handler body: reads every request, records how the loop ended. */
async function readAll<T>(
  side: ServerSide,
  items: AsyncIterable<T>,
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<number> {
  let n = 0;
  try {
    for await (const _ of items) {
      if (++n >= stopAfter) break;
    }
    return n;
  } catch (error) {
    side.error = error;
    throw error;
  } finally {
    side.finallyAt = Date.now();
  }
}

describe("server streaming, the client receives", () => {
  test("caller abort", async () => {
    const side = new ServerSide();
    const h = await start({ watch: watchFor(side, 5) });
    const controller = new AbortController();
    let abortedAt = 0;
    const error = await drain(h.client.watch({ afterRevision: 0 }, { signal: controller.signal }), (_e, i) => {
      if (i === 2) {
        abortedAt = Date.now();
        controller.abort();
      }
    });
    expectError(error, Status.CANCELLED, "cancelled", "client");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - abortedAt, "the server's notice of the abort");
  });

  test("early break", async () => {
    const side = new ServerSide();
    const h = await start({ watch: watchFor(side, 5) });
    let leftAt = 0;
    const error = await drain(h.client.watch({ afterRevision: 0 }), (_e, i) => {
      if (i === 2) {
        leftAt = Date.now();
        return "stop";
      }
      return undefined;
    });
    assert.equal(error, undefined);
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - leftAt, "the server's notice of the break");
  });

  test("idle deadline", async () => {
    const side = new ServerSide();
    const h = await start({
      async *watch(_request, ctx) {
        try {
          yield event(1);
          side.error = await aborted(ctx.signal);
        } finally {
          side.finallyAt = Date.now();
        }
      },
    });
    let lastAt = 0;
    const error = await drain(h.client.watch({ afterRevision: 0 }, { idleTimeoutMs: LIMIT }), () => {
      lastAt = lastArrival(h.client);
    });
    expectError(error, Status.DEADLINE_EXCEEDED, "idle", "client");
    assertFiredOnTime(Date.now() - lastAt, LIMIT, "the idle deadline");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
  });

  test("total deadline", async () => {
    const side = new ServerSide();
    const h = await start({ watch: watchFor(side, 20) });
    const startedAt = Date.now();
    const error = await drain(h.client.watch({ afterRevision: 0 }, { timeoutMs: LIMIT }));
    expectError(error, Status.DEADLINE_EXCEEDED, "deadline", "client");
    assertFiredOnTime(Date.now() - startedAt, LIMIT, "the total deadline");
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "deadline", "server");
  });

  test("send timeout on a client that stopped reading", async () => {
    const side = new ServerSide();
    const h = await start({ watch: watchFor(side, 0, BIG) }, { serverLimits: { sendTimeoutMs: LIMIT } });
    const iterator = h.client.watch({ afterRevision: 0 })[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.revision, 1);
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "send-timeout", "server");
    assertFiredOnTime((side.finallyAt as number) - side.lastYieldAt, LIMIT, "the send deadline");
    const error = await drain({ [Symbol.asyncIterator]: () => iterator });
    expectError(error, Status.CANCELLED, "peer-gone", "client");
  });

  test("the server process is killed", async () => {
    const leaks = createLeakChecker();
    const peer = await startPeer(["server"]);
    const port = Number(peer.line.split(" ")[1]);
    const { createClient } = await import("leaksafe");
    const { ChatService } = await import("../../generated-example/example/v1/chat_leaksafe.js");
    const client = createClient(ChatService, `127.0.0.1:${port}`);
    let killedAt = 0;
    let kill: Promise<unknown> | undefined;
    const error = await drain(client.watch({ afterRevision: 0 }), (_e, i) => {
      if (i === 2) {
        killedAt = Date.now();
        kill = peer.kill();
      }
    });
    expectError(error, Status.UNAVAILABLE, "peer-gone", "client");
    assertNoticedAtOnce(Date.now() - killedAt, "detecting the killed server");
    assert.equal(await kill, "SIGKILL");
    assert.deepEqual(client.activeStreams(), []);
    client.close();
    await leaks.assertNoLeaks();
  });
});

describe("client streaming, the server receives", () => {
  test("caller abort", async () => {
    const side = new ServerSide();
    const h = await start({ upload: async (items) => ({ name: "", bytes: 0, chunks: await readAll(side, items) }) });
    const controller = new AbortController();
    const log = { finallyRan: false, lastYieldAt: 0 };
    const call = h.client.upload(requests(chunk, 5, log), { signal: controller.signal });
    await carrying(h);
    const abortedAt = Date.now();
    controller.abort();
    expectError(await call.catch((e: unknown) => e), Status.CANCELLED, "cancelled", "client");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - abortedAt, "the server's notice of the abort");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("early break", async () => {
    const side = new ServerSide();
    const h = await start({ upload: async (items) => ({ name: "", bytes: 0, chunks: await readAll(side, items, 3) }) });
    const log = { finallyRan: false, lastYieldAt: 0 };
    const summary = await h.client.upload(requests(chunk, 5, log));
    assert.equal(summary.chunks, 3);
    assert.equal(side.error, undefined);
    assert.ok(side.finallyRan);
    await eventually(() => log.finallyRan, "the client's request generator to be closed");
  });

  test("idle deadline", async () => {
    const side = new ServerSide();
    const h = await start(
      { upload: async (items) => ({ name: "", bytes: 0, chunks: await readAll(side, items) }) },
      { serverLimits: { idleTimeoutMs: LIMIT } },
    );
    const stop = new AbortController();
    const log = { finallyRan: false, lastYieldAt: 0 };
    const error = await h.client.upload(stalled(chunk(0), stop.signal, log)).catch((e: unknown) => e);
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "idle", "server");
    assertFiredOnTime((side.finallyAt as number) - log.lastYieldAt, LIMIT, "the idle deadline");
    expectError(error, Status.DEADLINE_EXCEEDED, "remote", "client");
    stop.abort();
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("total deadline", async () => {
    const side = new ServerSide();
    const h = await start(
      { upload: async (items) => ({ name: "", bytes: 0, chunks: await readAll(side, items) }) },
      { serverLimits: { timeoutMs: LIMIT } },
    );
    const log = { finallyRan: false, lastYieldAt: 0 };
    const startedAt = Date.now();
    const error = await h.client.upload(requests(chunk, 20, log)).catch((e: unknown) => e);
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "deadline", "server");
    assertFiredOnTime((side.finallyAt as number) - startedAt, LIMIT, "the server's total deadline");
    expectError(error, Status.DEADLINE_EXCEEDED, "remote", "client");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("send timeout on a server that stopped reading", async () => {
    const side = new ServerSide();
    const h = await start({
      async upload(_items, ctx) {
        try {
          side.error = await aborted(ctx.signal);
          return { name: "", bytes: 0, chunks: 0 };
        } finally {
          side.finallyAt = Date.now();
        }
      },
    });
    const log = { finallyRan: false, lastYieldAt: 0 };
    const big = new Uint8Array(64 * 1024);
    const error = await h.client
      .upload(
        requests((i) => chunk(i, big), 0, log),
        { sendTimeoutMs: LIMIT },
      )
      .catch((e: unknown) => e);
    const failedAt = Date.now();
    expectError(error, Status.DEADLINE_EXCEEDED, "send-timeout", "client");
    assertFiredOnTime(failedAt - log.lastYieldAt, LIMIT, "the send deadline");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("the client process is killed", async () => {
    const side = new ServerSide();
    const h = await start({ upload: async (items) => ({ name: "", bytes: 0, chunks: await readAll(side, items) }) });
    const peer = await startPeer(["client", String(h.port), "upload"]);
    assert.equal(peer.line, "sending");
    const killedAt = Date.now();
    assert.equal(await peer.kill(), "SIGKILL");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - killedAt, "detecting the killed client");
  });
});

describe("bidi, the client receives", () => {
  const echo = (side: ServerSide, text = ""): ChatImplementation["converse"] =>
    async function* (items, ctx) {
      try {
        for await (const m of items) {
          side.lastYieldAt = Date.now();
          yield { author: "s", text: text || m.text };
        }
      } catch (error) {
        side.error = error;
        throw error;
      } finally {
        side.error ??= ctx.signal.reason;
        side.finallyAt = Date.now();
      }
    };

  test("caller abort", async () => {
    const side = new ServerSide();
    const h = await start({ converse: echo(side) });
    const controller = new AbortController();
    const log = { finallyRan: false, lastYieldAt: 0 };
    let abortedAt = 0;
    const error = await drain(h.client.converse(requests(message, 5, log), { signal: controller.signal }), (_m, i) => {
      if (i === 2) {
        abortedAt = Date.now();
        controller.abort();
      }
    });
    expectError(error, Status.CANCELLED, "cancelled", "client");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - abortedAt, "the server's notice of the abort");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("early break", async () => {
    const side = new ServerSide();
    const h = await start({ converse: echo(side) });
    const log = { finallyRan: false, lastYieldAt: 0 };
    let leftAt = 0;
    const error = await drain(h.client.converse(requests(message, 5, log)), (_m, i) => {
      if (i === 2) {
        leftAt = Date.now();
        return "stop";
      }
      return undefined;
    });
    assert.equal(error, undefined);
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - leftAt, "the server's notice of the break");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("idle deadline", async () => {
    const side = new ServerSide();
    const h = await start({
      async *converse(items, ctx) {
        try {
          for await (const m of items) {
            if (m.text === "0") yield m;
          }
        } catch (error) {
          side.error = error;
        } finally {
          side.error ??= ctx.signal.reason;
          side.finallyAt = Date.now();
        }
      },
    });
    const log = { finallyRan: false, lastYieldAt: 0 };
    let lastAt = 0;
    const error = await drain(h.client.converse(requests(message, 20, log), { idleTimeoutMs: LIMIT }), () => {
      lastAt = lastArrival(h.client);
    });
    expectError(error, Status.DEADLINE_EXCEEDED, "idle", "client");
    assertFiredOnTime(Date.now() - lastAt, LIMIT, "the idle deadline");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("total deadline", async () => {
    const side = new ServerSide();
    const h = await start({ converse: echo(side) });
    const log = { finallyRan: false, lastYieldAt: 0 };
    const startedAt = Date.now();
    const error = await drain(h.client.converse(requests(message, 20, log), { timeoutMs: LIMIT }));
    expectError(error, Status.DEADLINE_EXCEEDED, "deadline", "client");
    assertFiredOnTime(Date.now() - startedAt, LIMIT, "the total deadline");
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "deadline", "server");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("send timeout on a client that stopped reading", async () => {
    const side = new ServerSide();
    const h = await start(
      {
        async *converse(_items, ctx) {
          try {
            for (;;) {
              side.lastYieldAt = Date.now();
              yield { author: "s", text: BIG };
            }
          } finally {
            side.error = ctx.signal.reason;
            side.finallyAt = Date.now();
          }
        },
      },
      { serverLimits: { sendTimeoutMs: LIMIT } },
    );
    const stop = new AbortController();
    const log = { finallyRan: false, lastYieldAt: 0 };
    const iterator = h.client.converse(stalled(message(0), stop.signal, log))[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.text, BIG);
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "send-timeout", "server");
    assertFiredOnTime((side.finallyAt as number) - side.lastYieldAt, LIMIT, "the send deadline");
    const error = await drain({ [Symbol.asyncIterator]: () => iterator });
    expectError(error, Status.CANCELLED, "peer-gone", "client");
    stop.abort();
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("the server process is killed", async () => {
    const leaks = createLeakChecker();
    const peer = await startPeer(["server"]);
    const port = Number(peer.line.split(" ")[1]);
    const { createClient } = await import("leaksafe");
    const { ChatService } = await import("../../generated-example/example/v1/chat_leaksafe.js");
    const client = createClient(ChatService, `127.0.0.1:${port}`);
    const log = { finallyRan: false, lastYieldAt: 0 };
    let killedAt = 0;
    let kill: Promise<unknown> | undefined;
    const error = await drain(client.converse(requests(message, 10, log)), (_m, i) => {
      if (i === 2) {
        killedAt = Date.now();
        kill = peer.kill();
      }
    });
    expectError(error, Status.UNAVAILABLE, "peer-gone", "client");
    assertNoticedAtOnce(Date.now() - killedAt, "detecting the killed server");
    assert.equal(await kill, "SIGKILL");
    await eventually(() => log.finallyRan, "the request generator's finally");
    assert.deepEqual(client.activeStreams(), []);
    client.close();
    await leaks.assertNoLeaks();
  });
});

describe("bidi, the server receives", () => {
  const converseReading = (side: ServerSide, stopAfter = Number.POSITIVE_INFINITY): ChatImplementation["converse"] =>
    async function* (items) {
      const n = await readAll(side, items, stopAfter);
      yield { author: "s", text: `read ${n}` };
    };

  test("caller abort", async () => {
    const side = new ServerSide();
    const h = await start({ converse: converseReading(side) });
    const controller = new AbortController();
    const log = { finallyRan: false, lastYieldAt: 0 };
    const result = drain(h.client.converse(requests(message, 5, log), { signal: controller.signal }));
    await carrying(h);
    const abortedAt = Date.now();
    controller.abort();
    expectError(await result, Status.CANCELLED, "cancelled", "client");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - abortedAt, "the server's notice of the abort");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("early break", async () => {
    const side = new ServerSide();
    const h = await start({ converse: converseReading(side, 3) });
    const log = { finallyRan: false, lastYieldAt: 0 };
    const replies: string[] = [];
    const error = await drain(h.client.converse(requests(message, 5, log)), (m) => {
      replies.push(m.text);
    });
    assert.equal(error, undefined);
    assert.deepEqual(replies, ["read 3"]);
    assert.equal(side.error, undefined);
    await eventually(() => log.finallyRan, "the client's request generator to be closed");
  });

  test("idle deadline", async () => {
    const side = new ServerSide();
    const h = await start({ converse: converseReading(side) }, { serverLimits: { idleTimeoutMs: LIMIT } });
    const stop = new AbortController();
    const log = { finallyRan: false, lastYieldAt: 0 };
    const error = await drain(h.client.converse(stalled(message(0), stop.signal, log)));
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "idle", "server");
    assertFiredOnTime((side.finallyAt as number) - log.lastYieldAt, LIMIT, "the idle deadline");
    expectError(error, Status.DEADLINE_EXCEEDED, "remote", "client");
    stop.abort();
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("total deadline", async () => {
    const side = new ServerSide();
    const h = await start({ converse: converseReading(side) }, { serverLimits: { timeoutMs: LIMIT } });
    const log = { finallyRan: false, lastYieldAt: 0 };
    const startedAt = Date.now();
    const error = await drain(h.client.converse(requests(message, 20, log)));
    await side.settled();
    expectError(side.error, Status.DEADLINE_EXCEEDED, "deadline", "server");
    assertFiredOnTime((side.finallyAt as number) - startedAt, LIMIT, "the server's total deadline");
    expectError(error, Status.DEADLINE_EXCEEDED, "remote", "client");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("send timeout on a server that stopped reading", async () => {
    const side = new ServerSide();
    const h = await start({
      // biome-ignore lint/correctness/useYield: this handler never answers, on purpose
      async *converse(_items, ctx) {
        try {
          side.error = await aborted(ctx.signal);
        } finally {
          side.finallyAt = Date.now();
        }
      },
    });
    const log = { finallyRan: false, lastYieldAt: 0 };
    const error = await drain(
      h.client.converse(
        requests((i) => message(i, BIG), 0, log),
        { sendTimeoutMs: LIMIT },
      ),
    );
    const failedAt = Date.now();
    expectError(error, Status.DEADLINE_EXCEEDED, "send-timeout", "client");
    assertFiredOnTime(failedAt - log.lastYieldAt, LIMIT, "the send deadline");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    await eventually(() => log.finallyRan, "the request generator's finally");
  });

  test("the client process is killed", async () => {
    const side = new ServerSide();
    const h = await start({ converse: converseReading(side) });
    const peer = await startPeer(["client", String(h.port), "converse"]);
    assert.equal(peer.line, "sending");
    const killedAt = Date.now();
    assert.equal(await peer.kill(), "SIGKILL");
    await side.settled();
    expectError(side.error, Status.CANCELLED, "peer-gone", "server");
    assertNoticedAtOnce((side.finallyAt as number) - killedAt, "detecting the killed client");
  });
});
