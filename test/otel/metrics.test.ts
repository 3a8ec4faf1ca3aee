/**
 * openTelemetry()'s metrics, read back through the OpenTelemetry SDK:
 * gRPC's A66 metrics and leaksafe's own, on both sides of real calls.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { type DataPoint, DataPointType, type Histogram, type MetricData } from "@opentelemetry/sdk-metrics";
import { RpcError, Status } from "leaksafe";
import { LATENCY_BUCKETS, openTelemetry, SIZE_BUCKETS } from "leaksafe/otel";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { aborted, eventually, type Harness, startChat } from "../e2e/harness.js";
import { attributeSets, createTelemetry, endCounter, pointOf } from "./collect.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const POST = { "grpc.method": "example.v1.Chat/Post" };
const WATCH = { "grpc.method": "example.v1.Chat/Watch" };
const UPLOAD = { "grpc.method": "example.v1.Chat/Upload" };

const EVENTS = [1, 2, 3].map((revision) => ({
  revision: 100 + revision,
  at: undefined,
  posted: { author: "bob", text: "x".repeat(revision * 50) },
}));

function histogram(metrics: Map<string, MetricData>, name: string, attributes: Record<string, string>): Histogram {
  return pointOf<Histogram>(metrics, name, attributes).value;
}

function counter(metrics: Map<string, MetricData>, name: string, attributes: Record<string, string>): number {
  return pointOf<number>(metrics, name, attributes).value;
}

test("unary and server-streaming calls: A66's names, units, buckets, attributes, counts and message sizes", async () => {
  const telemetry = createTelemetry();
  const hooks = openTelemetry({ meterProvider: telemetry.meterProvider });
  const serverEnds = endCounter();
  harness = await startChat(
    {
      async post() {
        return { revision: 7 };
      },
      async *watch() {
        yield* EVENTS;
      },
    },
    { serverOptions: { hooks: [hooks, serverEnds.hooks] }, clientOptions: { hooks } },
  );
  const { client } = harness;
  const request = { author: "ann", text: "hello, world" };
  const response = await client.post(request);
  const received = [];
  for await (const event of client.watch({ afterRevision: 3 })) received.push(event);
  assert.equal(received.length, 3);
  await eventually(() => serverEnds.ended === 2, "the server's calls to be reported");

  const metrics = await telemetry.metrics();
  const target = { "grpc.target": `dns:///127.0.0.1:${harness.port}` };
  const size = {
    postRequest: ChatService.post.requestSerialize(request).length,
    postResponse: ChatService.post.responseSerialize(response).length,
    watchRequest: ChatService.watch.requestSerialize({ afterRevision: 3 }).length,
    watchResponses: EVENTS.reduce((sum, e) => sum + ChatService.watch.responseSerialize(e).length, 0),
  };
  assert.ok(size.postRequest > 10 && size.watchResponses > 300, "real, distinct sizes");

  // Each instrument: its kind and unit, as A66 has them.
  const shapes: Array<[string, DataPointType, string]> = [
    ["grpc.client.attempt.started", DataPointType.SUM, "{attempt}"],
    ["grpc.client.attempt.duration", DataPointType.HISTOGRAM, "s"],
    ["grpc.client.attempt.sent_total_compressed_message_size", DataPointType.HISTOGRAM, "By"],
    ["grpc.client.attempt.rcvd_total_compressed_message_size", DataPointType.HISTOGRAM, "By"],
    ["grpc.client.call.duration", DataPointType.HISTOGRAM, "s"],
    ["grpc.server.call.started", DataPointType.SUM, "{call}"],
    ["grpc.server.call.duration", DataPointType.HISTOGRAM, "s"],
    ["grpc.server.call.sent_total_compressed_message_size", DataPointType.HISTOGRAM, "By"],
    ["grpc.server.call.rcvd_total_compressed_message_size", DataPointType.HISTOGRAM, "By"],
    ["leaksafe.client.call.active", DataPointType.SUM, "{call}"],
    ["leaksafe.client.call.ended", DataPointType.SUM, "{call}"],
    ["leaksafe.server.call.active", DataPointType.SUM, "{call}"],
    ["leaksafe.server.call.ended", DataPointType.SUM, "{call}"],
  ];
  for (const [name, type, unit] of shapes) {
    const metric = metrics.get(name);
    assert.ok(metric !== undefined, `${name} is recorded`);
    assert.equal(metric.dataPointType, type, `${name}'s type`);
    assert.equal(metric.descriptor.unit, unit, `${name}'s unit`);
  }
  const monotonic = (name: string): unknown =>
    (metrics.get(name) as { isMonotonic?: boolean } | undefined)?.isMonotonic;
  assert.equal(monotonic("leaksafe.server.call.active"), false, "an UpDownCounter");
  assert.equal(monotonic("grpc.server.call.started"), true, "a Counter");

  // Server side.
  const postOk = { ...POST, "grpc.status": "OK" };
  const watchOk = { ...WATCH, "grpc.status": "OK" };
  assert.equal(counter(metrics, "grpc.server.call.started", POST), 1);
  assert.equal(counter(metrics, "grpc.server.call.started", WATCH), 1);
  const serverPost = histogram(metrics, "grpc.server.call.duration", postOk);
  assert.equal(serverPost.count, 1);
  assert.ok((serverPost.sum ?? 0) > 0 && (serverPost.sum ?? 0) < 10, "a duration in seconds");
  assert.deepEqual(serverPost.buckets.boundaries, LATENCY_BUCKETS, "A66's latency buckets");
  const serverPostIn = histogram(metrics, "grpc.server.call.rcvd_total_compressed_message_size", postOk);
  assert.deepEqual([serverPostIn.count, serverPostIn.sum], [1, size.postRequest]);
  assert.deepEqual(serverPostIn.buckets.boundaries, SIZE_BUCKETS, "A66's size buckets");
  const serverPostOut = histogram(metrics, "grpc.server.call.sent_total_compressed_message_size", postOk);
  assert.deepEqual([serverPostOut.count, serverPostOut.sum], [1, size.postResponse]);
  const serverWatchOut = histogram(metrics, "grpc.server.call.sent_total_compressed_message_size", watchOk);
  assert.deepEqual([serverWatchOut.count, serverWatchOut.sum], [1, size.watchResponses]);
  const serverWatchIn = histogram(metrics, "grpc.server.call.rcvd_total_compressed_message_size", watchOk);
  assert.equal(serverWatchIn.sum, size.watchRequest);
  assert.equal(counter(metrics, "leaksafe.server.call.active", POST), 0);
  assert.equal(counter(metrics, "leaksafe.server.call.ended", { ...watchOk, "leaksafe.reason": "ok" }), 1);

  // Client side: every attribute set also names the target.
  assert.equal(counter(metrics, "grpc.client.attempt.started", { ...POST, ...target }), 1);
  assert.equal(counter(metrics, "grpc.client.attempt.started", { ...WATCH, ...target }), 1);
  for (const [ok, sent, rcvd] of [
    [postOk, size.postRequest, size.postResponse],
    [watchOk, size.watchRequest, size.watchResponses],
  ] as const) {
    const attributes = { ...ok, ...target };
    assert.equal(histogram(metrics, "grpc.client.attempt.duration", attributes).count, 1);
    assert.equal(histogram(metrics, "grpc.client.call.duration", attributes).count, 1);
    assert.equal(histogram(metrics, "grpc.client.attempt.sent_total_compressed_message_size", attributes).sum, sent);
    assert.equal(histogram(metrics, "grpc.client.attempt.rcvd_total_compressed_message_size", attributes).sum, rcvd);
  }
  assert.equal(counter(metrics, "leaksafe.client.call.active", { ...WATCH, ...target }), 0);
  assert.equal(counter(metrics, "leaksafe.client.call.ended", { ...postOk, ...target, "leaksafe.reason": "ok" }), 1);
});

test("an idle deadline, a cancel and an error: statuses by name and leaksafe's reasons", async () => {
  const telemetry = createTelemetry();
  const hooks = openTelemetry({ meterProvider: telemetry.meterProvider });
  const serverEnds = endCounter();
  let watching = 0;
  harness = await startChat(
    {
      async post() {
        throw new RpcError(Status.INVALID_ARGUMENT, "no");
      },
      async *watch(_request, ctx) {
        watching++;
        yield EVENTS[0] as (typeof EVENTS)[0];
        await aborted(ctx.signal);
      },
      async upload(chunks) {
        for await (const _ of chunks) {
          // the client sends nothing: the idle deadline ends this
        }
        return { name: "", bytes: 0, chunks: 0 };
      },
    },
    {
      serverOptions: { hooks: [hooks, serverEnds.hooks] },
      clientOptions: { hooks },
      serverLimits: { idleTimeoutMs: 200 },
    },
  );
  const { client } = harness;
  const target = { "grpc.target": `dns:///127.0.0.1:${harness.port}` };

  await assert.rejects(client.post({ author: "a", text: "" }), { code: Status.INVALID_ARGUMENT });

  const silence = new AbortController();
  const upload = await client
    .upload(
      (async function* () {
        await aborted(silence.signal);
        yield* []; // nothing, ever
      })(),
    )
    .catch((error: unknown) => error);
  silence.abort();
  assert.ok(upload instanceof RpcError && upload.code === Status.DEADLINE_EXCEEDED, String(upload));

  const stop = new AbortController();
  const watch = client.watch({ afterRevision: 0 }, { signal: stop.signal })[Symbol.asyncIterator]();
  await watch.next();
  await eventually(() => watching === 1, "the watch to start");
  stop.abort();
  await assert.rejects(watch.next(), { code: Status.CANCELLED });
  await eventually(() => serverEnds.ended === 3, "the server's calls to be reported");

  const metrics = await telemetry.metrics();
  const ended = "leaksafe.server.call.ended";
  assert.equal(counter(metrics, ended, { ...POST, "grpc.status": "INVALID_ARGUMENT", "leaksafe.reason": "remote" }), 1);
  assert.equal(
    counter(metrics, ended, { ...UPLOAD, "grpc.status": "DEADLINE_EXCEEDED", "leaksafe.reason": "idle" }),
    1,
  );
  assert.equal(counter(metrics, ended, { ...WATCH, "grpc.status": "CANCELLED", "leaksafe.reason": "peer-gone" }), 1);
  const idle = histogram(metrics, "grpc.server.call.duration", { ...UPLOAD, "grpc.status": "DEADLINE_EXCEEDED" });
  assert.equal(idle.count, 1);
  assert.ok((idle.sum ?? 0) >= 0.19, `the idle call lasted its idle limit, ${idle.sum} s`);
  const cancelledOut = histogram(metrics, "grpc.server.call.sent_total_compressed_message_size", {
    ...WATCH,
    "grpc.status": "CANCELLED",
  });
  assert.equal(
    cancelledOut.sum,
    ChatService.watch.responseSerialize(EVENTS[0] as (typeof EVENTS)[0]).length,
    "the one event it sent",
  );

  const clientEnded = "leaksafe.client.call.ended";
  assert.equal(
    counter(metrics, clientEnded, { ...WATCH, ...target, "grpc.status": "CANCELLED", "leaksafe.reason": "cancelled" }),
    1,
  );
  const statuses = attributeSets(metrics, "grpc.client.call.duration").map(
    (a) => `${a["grpc.method"]} ${a["grpc.status"]}`,
  );
  assert.deepEqual(statuses.sort(), [
    "example.v1.Chat/Post INVALID_ARGUMENT",
    "example.v1.Chat/Upload DEADLINE_EXCEEDED",
    "example.v1.Chat/Watch CANCELLED",
  ]);
  for (const method of [POST, UPLOAD, WATCH]) {
    assert.equal(counter(metrics, "leaksafe.client.call.active", { ...method, ...target }), 0);
    assert.equal(counter(metrics, "leaksafe.server.call.active", method), 0);
  }
});

test("a resumed stream: attempt metrics for each attempt, one call duration for the call", async () => {
  const telemetry = createTelemetry();
  const hooks = openTelemetry({ meterProvider: telemetry.meterProvider });
  const serverEnds = endCounter();
  let calls = 0;
  harness = await startChat(
    {
      async *watch() {
        calls++;
        yield EVENTS[calls - 1] as (typeof EVENTS)[0];
        if (calls === 1) throw new RpcError(Status.UNAVAILABLE, "moving");
      },
    },
    { serverOptions: { hooks: [hooks, serverEnds.hooks] }, clientOptions: { hooks } },
  );
  const received = [];
  const stream = harness.client.watch(
    { afterRevision: 0 },
    { resume: { initialBackoffMs: 1, maxBackoffMs: 1, resumeRequest: (last) => ({ afterRevision: last.revision }) } },
  );
  for await (const event of stream) received.push(event.revision);
  assert.deepEqual(received, [101, 102]);
  await eventually(() => serverEnds.ended === 2, "the server's calls to be reported");

  const metrics = await telemetry.metrics();
  const attempt = { ...WATCH, "grpc.target": `dns:///127.0.0.1:${harness.port}` };
  assert.equal(counter(metrics, "grpc.client.attempt.started", attempt), 2);
  for (const status of ["UNAVAILABLE", "OK"]) {
    const attributes = { ...attempt, "grpc.status": status };
    assert.equal(histogram(metrics, "grpc.client.attempt.duration", attributes).count, 1, status);
    assert.equal(
      histogram(metrics, "grpc.client.attempt.rcvd_total_compressed_message_size", attributes).count,
      1,
      status,
    );
  }
  const call = pointOf<Histogram>(metrics, "grpc.client.call.duration", { ...attempt, "grpc.status": "OK" });
  assert.equal(call.value.count, 1, "one call");
  assert.deepEqual(attributeSets(metrics, "grpc.client.call.duration").length, 1, "no call duration per attempt");
  const attempts = (metrics.get("grpc.client.attempt.duration")?.dataPoints ?? []) as DataPoint<Histogram>[];
  const longest = Math.max(...attempts.map((p) => p.value.sum ?? 0));
  assert.ok((call.value.sum ?? 0) >= longest, "the call spans its attempts");
  assert.equal(counter(metrics, "grpc.server.call.started", WATCH), 2);
});

test("without a meter provider or a tracer provider, the hooks are empty", () => {
  assert.deepEqual(openTelemetry(), {});
  assert.deepEqual(openTelemetry({}), {});
});

test("bad options get a precise error", () => {
  assert.throws(() => openTelemetry({ meterProvider: {} as never }), {
    name: "TypeError",
    message: "openTelemetry: meterProvider must be an OpenTelemetry MeterProvider (with getMeter)",
  });
  assert.throws(() => openTelemetry({ tracerProvider: 3 as never }), {
    message: "openTelemetry: tracerProvider must be an OpenTelemetry TracerProvider (with getTracer)",
  });
  assert.throws(() => openTelemetry({ incomingTrace: "parent" as never }), {
    message: 'openTelemetry: incomingTrace must be "child" or "link", not "parent"',
  });
});
