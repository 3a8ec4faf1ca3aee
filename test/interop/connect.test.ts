/**
 * Interop with @connectrpc/connect-node speaking the gRPC protocol: an
 * HTTP/2 gRPC implementation that shares nothing with grpc-js. A connect
 * client against a leaksafe server, and the standard interop cases with a
 * leaksafe client against a connect server, with deadline propagation and
 * cancellation both ways.
 */
import assert from "node:assert/strict";
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient as createConnectClient, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { createClient, createServer, type LeaksafeServer, RpcError, type ServerContext, Status } from "leaksafe";
import { createLeakChecker, type LeakChecker } from "leaksafe/testing";
import { aborted, eventually, sleep } from "../e2e/harness.js";
import { assertFiredOnTime, assertNoticedAtOnce, NOTICE_MS } from "../support/bounds.js";
import { removeDir } from "../support/generate.js";
import { CASES, type TestClient } from "./cases.js";
import { type Generated, generateInterop } from "./generate.js";
import { ECHO_INITIAL, ECHO_TRAILING, testService } from "./test-service.js";

let gen: Generated;
let stubs: any;
let es: any;
let leaks: LeakChecker;

before(async () => {
  leaks = createLeakChecker();
  gen = generateInterop();
  stubs = await import(gen.stubs);
  es = await import(gen.es);
});

after(async () => {
  removeDir(gen.dir);
  await leaks.assertNoLeaks({ timeoutMs: 5000 });
});

const bytes = (n: number) => ({ body: new Uint8Array(n) });

describe("a connect-node client against a leaksafe server", () => {
  let server: LeaksafeServer;
  let client: any;
  const seen: { deadline?: Date | undefined; startedAt?: number; reason?: unknown; reasonAt?: number } = {};
  before(async () => {
    server = createServer().add(stubs.TestServiceService, {
      ...testService,
      async *streamingOutputCall(request: { responseParameters: Array<{ size: number }> }, ctx: ServerContext) {
        seen.deadline = ctx.deadline;
        seen.startedAt = Date.now();
        if (request.responseParameters.length === 0) {
          // Waits for the client to go: the deadline and cancellation tests end it.
          seen.reason = await aborted(ctx.signal);
          seen.reasonAt = Date.now();
          return;
        }
        yield* testService.streamingOutputCall(request as never, ctx);
      },
    } as never);
    const port = await server.listen("127.0.0.1:0");
    client = createConnectClient(es.TestService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  });
  after(async () => {
    await eventually(() => server.activeStreams().length === 0, "the server's calls to end");
    await server.shutdown({ graceMs: 500 });
  });

  test("unary, with request metadata echoed as header and trailer", async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const response = await client.unaryCall(
      { responseSize: 314159, payload: bytes(271828) },
      {
        headers: { [ECHO_INITIAL]: "test_initial_metadata_value", [ECHO_TRAILING]: "q6ur" },
        onHeader: (h: Headers) => (header = h),
        onTrailer: (t: Headers) => (trailer = t),
      },
    );
    assert.equal(response.payload.body.length, 314159);
    assert.equal(header?.get(ECHO_INITIAL), "test_initial_metadata_value");
    assert.equal(trailer?.get(ECHO_TRAILING), "q6ur"); // base64 of ab ab ab, as -bin values travel
  });

  test("server streaming, client streaming and a bidi ping-pong", async () => {
    const sizes: number[] = [];
    for await (const r of client.streamingOutputCall({
      responseParameters: [31415, 9, 2653].map((size) => ({ size })),
    })) {
      sizes.push(r.payload.body.length);
    }
    assert.deepEqual(sizes, [31415, 9, 2653]);
    async function* chunks() {
      for (const n of [27182, 8, 1828, 45904]) yield { payload: bytes(n) };
    }
    assert.equal((await client.streamingInputCall(chunks())).aggregatedPayloadSize, 74922);
    async function* pings() {
      for (const size of [1, 2, 3]) yield { responseParameters: [{ size }], payload: bytes(size) };
    }
    const pongs: number[] = [];
    for await (const r of client.fullDuplexCall(pings())) pongs.push(r.payload.body.length);
    assert.deepEqual(pongs, [1, 2, 3]);
  });

  test("status codes and messages, special characters included", async () => {
    const special = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    for (const message of ["test status message", special]) {
      const error = await client.unaryCall({ responseStatus: { code: 2, message } }).catch((e: unknown) => e);
      assert.ok(error instanceof ConnectError);
      assert.equal(error.code, Code.Unknown);
      assert.equal(error.rawMessage, message);
    }
    const missing = await client.unimplementedCall({}).catch((e: unknown) => e);
    assert.equal((missing as ConnectError).code, Code.Unimplemented);
  });

  test("connect's deadline reaches the leaksafe server, which ends the call with reason deadline", async () => {
    const started = Date.now();
    const error = await (async () => {
      for await (const _ of client.streamingOutputCall({ responseParameters: [] }, { timeoutMs: 300 })) {
      }
    })().catch((e: unknown) => e);
    assert.equal((error as ConnectError).code, Code.DeadlineExceeded);
    // grpc-timeout is relative: it counts from when the server read the headers, not from `started`.
    // So the server's deadline is the client's 300 ms less the time in transit, however long that was,
    // and not its own default of an hour.
    const remaining = (seen.deadline?.getTime() ?? 0) - (seen.startedAt ?? 0);
    assert.ok((seen.startedAt ?? 0) >= started, "the handler ran after the call started");
    assert.ok(remaining > 0 && remaining <= 300, `the server's deadline was ${remaining} ms away when its handler ran`);
    await eventually(() => seen.reason !== undefined, "the server's signal");
    assert.equal((seen.reason as RpcError).reason, "deadline");
    // The signal aborts at the server's deadline, or at the client's cancel when its own deadline came
    // first (a cancel this close to the deadline is the deadline); neither is before started + 300 ms.
    assertFiredOnTime((seen.reasonAt as number) - started, 300, "the server's deadline");
  });

  test("connect's cancellation aborts the leaksafe handler's signal", async () => {
    seen.reason = undefined;
    const controller = new AbortController();
    const call = (async () => {
      for await (const _ of client.streamingOutputCall({ responseParameters: [] }, { signal: controller.signal })) {
      }
    })().catch((e: unknown) => e);
    await eventually(() => server.activeStreams().length === 1, "the call to reach the server");
    const abortedAt = Date.now();
    controller.abort();
    assert.equal(((await call) as ConnectError).code, Code.Canceled);
    await eventually(() => seen.reason !== undefined, "the server's signal", NOTICE_MS);
    assert.equal((seen.reason as RpcError).reason, "peer-gone");
    assertNoticedAtOnce((seen.reasonAt as number) - abortedAt, "the server's notice of the cancel");
  });
});

describe("a leaksafe client against a connect-node server", () => {
  let http2: Http2Server;
  const sessions = new Set<ServerHttp2Session>();
  let client: TestClient & { close(): void; activeStreams(): unknown[] };
  const seen: { timeoutMs?: number | undefined; waiting?: boolean; aborted?: boolean } = {};

  const echo = (ctx: HandlerContext): void => {
    const initial = ctx.requestHeader.get(ECHO_INITIAL);
    if (initial !== null) ctx.responseHeader.set(ECHO_INITIAL, initial);
    const trailing = ctx.requestHeader.get(ECHO_TRAILING);
    if (trailing !== null) ctx.responseTrailer.set(ECHO_TRAILING, trailing);
  };
  const failIfAsked = (status: { code: number; message: string } | undefined): void => {
    if (status !== undefined && status.code !== 0) throw new ConnectError(status.message, status.code as Code);
  };

  before(async () => {
    const impl = {
      async emptyCall() {
        return {};
      },
      async unaryCall(req: any, ctx: HandlerContext) {
        echo(ctx);
        failIfAsked(req.responseStatus);
        return { payload: bytes(req.responseSize) };
      },
      async *streamingOutputCall(req: any, ctx: HandlerContext) {
        seen.timeoutMs = ctx.timeoutMs();
        if (req.responseParameters.length === 0) {
          seen.waiting = true;
          await aborted(ctx.signal);
          seen.aborted = true;
          return;
        }
        echo(ctx);
        for (const p of req.responseParameters) {
          if (p.intervalUs > 0) await sleep(p.intervalUs / 1000);
          yield { payload: bytes(p.size) };
        }
        failIfAsked(req.responseStatus);
      },
      async streamingInputCall(reqs: AsyncIterable<any>) {
        let size = 0;
        for await (const r of reqs) size += r.payload?.body.length ?? 0;
        return { aggregatedPayloadSize: size };
      },
      async *fullDuplexCall(reqs: AsyncIterable<any>, ctx: HandlerContext) {
        echo(ctx);
        for await (const r of reqs) {
          failIfAsked(r.responseStatus);
          for (const p of r.responseParameters) {
            if (p.intervalUs > 0) await sleep(p.intervalUs / 1000);
            yield { payload: bytes(p.size) };
          }
        }
      },
    };
    http2 = createHttp2Server(
      connectNodeAdapter({
        grpc: true,
        grpcWeb: false,
        connect: false,
        routes: (router) => router.service(es.TestService, impl as never),
      }),
    );
    http2.on("session", (session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
    });
    await new Promise<void>((resolve) => http2.listen(0, "127.0.0.1", resolve));
    const port = (http2.address() as { port: number }).port;
    client = createClient(stubs.TestServiceService, `127.0.0.1:${port}`) as never;
  });

  after(async () => {
    await eventually(() => client.activeStreams().length === 0, "the client's calls to end");
    client.close();
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => http2.close(() => resolve()));
  });

  for (const [name, run] of Object.entries(CASES)) {
    test(name, () => run(client));
  }

  test("leaksafe's deadline reaches the connect server", async () => {
    const error = await (async () => {
      for await (const _ of client.streamingOutputCall({ responseParameters: [] }, { timeoutMs: 300 })) {
      }
    })().catch((e: unknown) => e);
    assert.ok(error instanceof RpcError);
    assert.equal(Status[error.code], "DEADLINE_EXCEEDED");
    assert.equal(error.reason, "deadline");
    // The client's 300 ms less the time in transit, however long that was.
    assert.ok(
      seen.timeoutMs !== undefined && seen.timeoutMs > 0 && seen.timeoutMs <= 300,
      `connect saw ${seen.timeoutMs} ms`,
    );
    await eventually(() => seen.aborted === true, "the connect handler's signal");
  });

  test("leaksafe's cancellation aborts the connect handler's signal", async () => {
    seen.waiting = false;
    seen.aborted = false;
    const controller = new AbortController();
    const call = (async () => {
      for await (const _ of client.streamingOutputCall({ responseParameters: [] }, { signal: controller.signal })) {
      }
    })().catch((e: unknown) => e);
    await eventually(() => seen.waiting === true, "the call to reach the connect handler");
    controller.abort();
    assert.equal(((await call) as RpcError).reason, "cancelled");
    await eventually(() => seen.aborted === true, "the connect handler's signal", NOTICE_MS);
  });
});
