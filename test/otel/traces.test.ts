/**
 * openTelemetry()'s spans, read back through the OpenTelemetry SDK: a span
 * per call on each side, the trace context carried in metadata.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { RpcError, Status } from "leaksafe";
import { openTelemetry, parseTraceparent, W3CTraceContextPropagator } from "leaksafe/otel";
import { eventually, type Harness, startChat } from "../e2e/harness.js";
import { createTelemetry, endCounter } from "./collect.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function byKind(spans: ReadableSpan[], kind: SpanKind): ReadableSpan {
  const found = spans.filter((s) => s.kind === kind);
  assert.equal(found.length, 1, `one span of kind ${SpanKind[kind]}: ${spans.map((s) => s.name).join(", ")}`);
  return found[0] as ReadableSpan;
}

test("a client span and a server span per call: the server's is the client's child, links to it, and shares its trace", async () => {
  const telemetry = createTelemetry();
  const hooks = openTelemetry({ tracerProvider: telemetry.tracerProvider });
  const ends = endCounter();
  const seen: string[] = [];
  harness = await startChat(
    {
      async post(request, ctx) {
        seen.push(String(ctx.metadata.get("traceparent")[0]));
        if (request.text === "") throw new RpcError(Status.INVALID_ARGUMENT, "empty");
        return { revision: 1 };
      },
    },
    { serverOptions: { hooks: [hooks, ends.hooks] }, clientOptions: { hooks } },
  );
  const mine = new Metadata();
  mine.set("x-mine", "1");
  await harness.client.post({ author: "a", text: "hi" }, { metadata: mine });
  assert.deepEqual(Object.keys(mine.getMap()), ["x-mine"], "the caller's Metadata is not written to");
  await eventually(() => ends.ended === 1, "the server's end");

  const spans = telemetry.spans();
  assert.equal(spans.length, 2);
  const client = byKind(spans, SpanKind.CLIENT);
  const server = byKind(spans, SpanKind.SERVER);
  for (const span of [client, server]) {
    assert.equal(span.name, "example.v1.Chat/Post");
    assert.deepEqual(
      {
        system: span.attributes["rpc.system"],
        service: span.attributes["rpc.service"],
        method: span.attributes["rpc.method"],
        code: span.attributes["rpc.grpc.status_code"],
        reason: span.attributes["leaksafe.reason"],
      },
      { system: "grpc", service: "example.v1.Chat", method: "Post", code: 0, reason: "ok" },
    );
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.equal(span.instrumentationScope.name, "leaksafe");
  }
  const { traceId, spanId } = client.spanContext();
  assert.equal(server.spanContext().traceId, traceId, "one trace");
  assert.equal(server.parentSpanContext?.spanId, spanId, "the server span is the client span's child");
  assert.equal(server.parentSpanContext?.isRemote, true);
  assert.deepEqual(
    server.links.map((l) => l.context.spanId),
    [spanId],
    "and links to it",
  );
  assert.equal(client.parentSpanContext, undefined, "the client span is a root here");
  assert.deepEqual(parseTraceparent(seen[0]), { traceId, spanId, traceFlags: TraceFlags.SAMPLED });

  // A failed call: both spans say so.
  await assert.rejects(harness.client.post({ author: "a", text: "" }), { code: Status.INVALID_ARGUMENT });
  await eventually(() => ends.ended === 2, "the server's end");
  const failed = telemetry.spans().slice(2);
  for (const span of failed) {
    assert.equal(span.attributes["rpc.grpc.status_code"], Status.INVALID_ARGUMENT);
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR, message: "INVALID_ARGUMENT" });
  }
  assert.equal(failed.length, 2);
});

test("incomingTrace: \"link\" starts the server span's own trace, linked to the client's span", async () => {
  const telemetry = createTelemetry();
  const ends = endCounter();
  harness = await startChat(
    {
      async *watch() {
        yield { revision: 1, at: undefined };
      },
    },
    {
      serverOptions: {
        hooks: [openTelemetry({ tracerProvider: telemetry.tracerProvider, incomingTrace: "link" }), ends.hooks],
      },
      clientOptions: { hooks: openTelemetry({ tracerProvider: telemetry.tracerProvider }) },
    },
  );
  for await (const _ of harness.client.watch({ afterRevision: 0 })) {
    // read to the end
  }
  await eventually(() => ends.ended === 1, "the server's end");
  const spans = telemetry.spans();
  const client = byKind(spans, SpanKind.CLIENT);
  const server = byKind(spans, SpanKind.SERVER);
  assert.equal(server.name, "example.v1.Chat/Watch");
  assert.notEqual(server.spanContext().traceId, client.spanContext().traceId, "a trace of its own");
  assert.equal(server.parentSpanContext, undefined);
  assert.deepEqual(
    server.links.map((l) => [l.context.traceId, l.context.spanId]),
    [[client.spanContext().traceId, client.spanContext().spanId]],
  );
});

test("a malformed traceparent is ignored: the server span starts a trace of its own, with no link", async () => {
  const telemetry = createTelemetry();
  const ends = endCounter();
  harness = await startChat(
    { post: async () => ({ revision: 1 }) },
    { serverOptions: { hooks: [openTelemetry({ tracerProvider: telemetry.tracerProvider }), ends.hooks] } },
  );
  await harness.client.post({ author: "a", text: "b" }, { metadata: { traceparent: "00-zz-nonsense-01" } });
  await eventually(() => ends.ended === 1, "the server's end");
  const [server] = telemetry.spans();
  assert.equal(server?.kind, SpanKind.SERVER);
  assert.equal(server?.parentSpanContext, undefined);
  assert.deepEqual(server?.links, []);
});

test("the W3C propagator: traceparent's rules, and tracestate both ways", () => {
  const ids = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };
  assert.deepEqual(parseTraceparent(`00-${ids.traceId}-${ids.spanId}-01`), { ...ids, traceFlags: 1 });
  assert.deepEqual(parseTraceparent(`00-${ids.traceId}-${ids.spanId}-00`), { ...ids, traceFlags: 0 });
  // A later version may add fields; only the sampled flag is kept.
  assert.deepEqual(parseTraceparent(`cc-${ids.traceId}-${ids.spanId}-03-later`), { ...ids, traceFlags: 1 });
  for (const bad of [
    `ff-${ids.traceId}-${ids.spanId}-01`, // version ff is invalid
    `00-${ids.traceId}-${ids.spanId}-01-extra`, // version 00 has exactly four fields
    `00-${"0".repeat(32)}-${ids.spanId}-01`, // all-zero trace id
    `00-${ids.traceId}-${"0".repeat(16)}-01`, // all-zero span id
    `00-${ids.traceId.toUpperCase()}-${ids.spanId}-01`, // upper case
    `00-${ids.traceId}-${ids.spanId}`, // no flags
    "",
    undefined,
  ]) {
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  }

  const propagator = new W3CTraceContextPropagator();
  assert.deepEqual(propagator.fields(), ["traceparent", "tracestate"]);
  const carrier: Record<string, string> = {
    traceparent: `00-${ids.traceId}-${ids.spanId}-01`,
    tracestate: "vendor=a,other=b",
  };
  const extracted = propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  const context = trace.getSpanContext(extracted);
  assert.equal(context?.isRemote, true);
  assert.equal(context?.traceState?.get("vendor"), "a");
  const out: Record<string, string> = {};
  propagator.inject(extracted, out, defaultTextMapSetter);
  assert.deepEqual(out, carrier, "what it reads, it writes back");
  const none: Record<string, string> = {};
  propagator.inject(ROOT_CONTEXT, none, defaultTextMapSetter);
  assert.deepEqual(none, {}, "no span, nothing injected");
  assert.equal(propagator.extract(ROOT_CONTEXT, { traceparent: ["a", "b"] }, defaultTextMapGetter), ROOT_CONTEXT);
});
