/**
 * The live registry on both sides, the hooks, and grpc-js interceptors
 * passing through.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import {
  InterceptingCall as ClientInterceptingCall,
  type InterceptingCall,
  type InterceptorOptions,
  Metadata,
  type NextCall,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerMethodDefinition,
} from "@grpc/grpc-js";
import { type CallEndInfo, type CallStartInfo, type MessageEvent, RpcError, Status } from "leaksafe";
import { aborted, eventually, type Harness, sleep, startChat } from "../e2e/harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

test("a dump of the registry tells which side of a stuck stream waits", async () => {
  let handlerWaits = false;
  harness = await startChat({
    async *watch() {
      for (let r = 1; ; r++) yield { revision: r, at: undefined, posted: { author: "s", text: "x".repeat(32 * 1024) } };
    },
    async upload(chunks, ctx) {
      const iterator = chunks[Symbol.asyncIterator]();
      await iterator.next();
      handlerWaits = true;
      await aborted(ctx.signal); // the handler stops reading: its own code is what waits
      return { name: "", bytes: 0, chunks: 0 };
    },
  });
  const { server, client } = harness;

  // The client stops reading a server stream: the server's send is blocked on the peer.
  const watch = client.watch({ afterRevision: 0 }, { timeoutMs: 5000 })[Symbol.asyncIterator]();
  await watch.next();
  await eventually(
    () => server.activeStreams().some((r) => r.kind === "server-streaming" && r.sendBlockedSince !== undefined),
    "the server's send to block",
  );
  const serverWatch = server.activeStreams().find((r) => r.kind === "server-streaming");
  const clientWatch = client.activeStreams().find((r) => r.kind === "server-streaming");
  assert.ok(serverWatch !== undefined && clientWatch !== undefined);
  assert.ok((serverWatch.messagesOut ?? 0) > 1);
  assert.ok(serverWatch.lastMessageOutAt !== undefined);
  assert.equal(clientWatch.receiveWaitingSince, undefined, "the client's reader is not waiting: it stopped reading");
  assert.ok(clientWatch.deadline !== undefined && Math.abs(clientWatch.deadline - (clientWatch.startedAt + 5000)) < 50);
  assert.equal(serverWatch.method, "/example.v1.Chat/Watch");
  assert.match(serverWatch.peer, /127\.0\.0\.1:\d+/);
  await watch.return?.();

  // The client sends one chunk and then nothing: the server's handler owns the wait, not the peer.
  const stop = new AbortController();
  const upload = client
    .upload(
      (async function* () {
        yield { name: "a", data: new Uint8Array(1) };
        await aborted(stop.signal);
      })(),
      { signal: stop.signal },
    )
    .catch((e: unknown) => e);
  await eventually(() => handlerWaits, "the handler to stop reading");
  const serverUpload = server.activeStreams().find((r) => r.kind === "client-streaming");
  assert.equal(serverUpload?.messagesIn, 1);
  assert.equal(serverUpload?.receiveWaitingSince, undefined, "nobody reads, so the server's reader is not waiting");
  assert.equal(serverUpload?.sendBlockedSince, undefined);
  stop.abort();
  await upload;
});

test("a server waiting for a silent client shows receiveWaitingSince", async () => {
  harness = await startChat({
    async upload(chunks) {
      for await (const _ of chunks) {
      }
      return { name: "", bytes: 0, chunks: 0 };
    },
  });
  const stop = new AbortController();
  const upload = harness.client
    .upload(
      (async function* () {
        yield { name: "a", data: new Uint8Array(1) };
        await aborted(stop.signal);
      })(),
      { signal: stop.signal },
    )
    .catch((e: unknown) => e);
  await eventually(
    () => harness?.server.activeStreams()[0]?.receiveWaitingSince !== undefined,
    "the server's reader to wait on the client",
  );
  stop.abort();
  assert.equal(((await upload) as RpcError).reason, "cancelled");
});

test("hooks see every call start and end, with reason, code, duration and counts", async () => {
  const events: string[] = [];
  const ends: CallEndInfo[] = [];
  const starts: CallStartInfo[] = [];
  const messages: MessageEvent[] = [];
  const hooks = (side: string) => ({
    onCallStart: (info: CallStartInfo) => {
      starts.push(info);
      events.push(`${side} start ${info.method}`);
    },
    onCallEnd: (info: CallEndInfo) => {
      ends.push(info);
      events.push(`${side} end ${info.reason}`);
    },
    onMessage: (event: MessageEvent) => {
      messages.push(event);
    },
  });
  harness = await startChat(
    {
      async *watch(request) {
        for (let r = 1; r <= 3; r++) yield { revision: r, at: undefined };
        if (request.afterRevision === 1) throw new RpcError(Status.DATA_LOSS, "gone");
      },
    },
    { serverOptions: { hooks: hooks("server") }, clientOptions: { hooks: hooks("client") } },
  );
  for await (const _ of harness.client.watch({ afterRevision: 0 })) {
  }
  await eventually(() => ends.length === 2, "both ends to report");
  const failed = harness.client.watch({ afterRevision: 1 });
  await assert.rejects(async () => {
    for await (const _ of failed) {
    }
  });
  await eventually(() => ends.length === 4, "both ends of the failed call to report");
  const [okA, okB, failA, failB] = ends;
  for (const ok of [okA, okB]) {
    assert.equal(ok?.reason, "ok");
    assert.equal(ok?.code, Status.OK);
    assert.equal(ok?.method, "/example.v1.Chat/Watch");
    assert.equal(ok?.kind, "server-streaming");
    assert.ok((ok?.durationMs ?? -1) >= 0);
  }
  const serverOk = [okA, okB].find((e) => e?.messagesOut === 3);
  const clientOk = [okA, okB].find((e) => e?.messagesIn === 3);
  assert.ok(serverOk && clientOk, "the server sent 3 and the client received 3");
  const reasons = [failA?.reason, failB?.reason].sort();
  assert.deepEqual(reasons, ["remote", "remote"]);
  assert.ok([failA, failB].every((e) => e?.code === Status.DATA_LOSS));
  assert.equal(starts.length, 4);
  // Two calls: each sends one request and three events, each seen once leaving and once arriving.
  assert.equal(messages.filter((m) => m.direction === "out").length, 8);
  assert.equal(messages.filter((m) => m.direction === "in").length, 8);
});

test("a hook that throws does not fail the call", async () => {
  const boom = () => {
    throw new Error("a broken hook");
  };
  harness = await startChat(
    {
      async post() {
        return { revision: 5 };
      },
    },
    {
      serverOptions: { hooks: { onCallStart: boom, onCallEnd: boom, onMessage: boom } },
      clientOptions: { hooks: { onCallStart: boom, onCallEnd: boom, onMessage: boom } },
    },
  );
  assert.equal((await harness.client.post({ author: "a", text: "b" })).revision, 5);
});

test("grpc-js interceptors pass through on both sides", async () => {
  const seenByServerInterceptor: string[] = [];
  let headerSeenByHandler: unknown;
  const serverInterceptor = (
    method: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ) => {
    seenByServerInterceptor.push(method.path);
    return new ServerInterceptingCall(call);
  };
  const clientInterceptor = (options: InterceptorOptions, next: NextCall): InterceptingCall =>
    new ClientInterceptingCall(next(options), {
      start(metadata, listener, startNext) {
        metadata.set("x-from-interceptor", "yes");
        startNext(metadata, listener);
      },
    });
  harness = await startChat(
    {
      async post(_request, ctx) {
        headerSeenByHandler = ctx.metadata.get("x-from-interceptor")[0];
        return { revision: 1 };
      },
    },
    { serverOptions: { interceptors: [serverInterceptor] }, clientOptions: { interceptors: [clientInterceptor] } },
  );
  await harness.client.post({ author: "a", text: "b" }, { metadata: new Metadata() });
  assert.deepEqual(seenByServerInterceptor, ["/example.v1.Chat/Post"]);
  assert.equal(headerSeenByHandler, "yes");
  await sleep(1);
});
