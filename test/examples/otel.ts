/**
 * An example: a leaksafe server and client reporting to OpenTelemetry.
 * Run it with `npx tsx test/examples/otel.ts`: it makes a unary call and a
 * server-streaming call, then prints each metric recorded, with its unit and
 * points, and each span, with its kind and parent.
 *
 * The wiring is three lines: make the hooks from your providers, and give
 * them to the server and the client. Here the providers export to memory;
 * in a service they would export over OTLP, to Prometheus, and so on.
 */

import { SpanKind } from "@opentelemetry/api";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { createClient, createServer } from "leaksafe";
import { openTelemetry } from "leaksafe/otel";
import { type ChatImplementation, ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";

const chat: Pick<ChatImplementation, "post" | "watch"> = {
  async post(request) {
    return { revision: request.text.length };
  },
  async *watch(request) {
    for (let revision = request.afterRevision + 1; revision <= request.afterRevision + 3; revision++) {
      yield { revision, at: undefined, posted: { author: "bot", text: `message ${revision}` } };
    }
  },
};

/** Runs the calls; resolves to the lines the script prints. */
export async function runExample(): Promise<string[]> {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 })],
  });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });

  // The hooks: one object for any number of servers and clients.
  const hooks = openTelemetry({ meterProvider, tracerProvider });
  const server = createServer({ hooks }).add(ChatService, chat as ChatImplementation);
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(ChatService, `127.0.0.1:${port}`, { hooks });

  await client.post({ author: "ann", text: "hello" });
  for await (const _ of client.watch({ afterRevision: 0 })) {
    // read every event
  }
  client.close();
  await server.shutdown({ graceMs: 1000 });
  await meterProvider.forceFlush();

  const lines: string[] = [];
  const metrics =
    metricExporter
      .getMetrics()
      .at(-1)
      ?.scopeMetrics.flatMap((scope) => scope.metrics) ?? [];
  for (const metric of [...metrics].sort((a, b) => a.descriptor.name.localeCompare(b.descriptor.name))) {
    const points = metric.dataPoints.map((point) => {
      const attributes = Object.values(point.attributes).join(" ");
      const value = typeof point.value === "number" ? point.value : `count ${point.value.count}`;
      return `${attributes}: ${value}`;
    });
    lines.push(`metric ${metric.descriptor.name} (${metric.descriptor.unit}) ${points.sort().join("; ")}`);
  }
  const spans = spanExporter.getFinishedSpans();
  for (const span of spans) {
    const parent = spans.find((other) => other.spanContext().spanId === span.parentSpanContext?.spanId);
    lines.push(
      `span ${SpanKind[span.kind]} ${span.name}${parent === undefined ? "" : ` (child of the ${parent.name} client span)`}`,
    );
  }
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
  return lines;
}

if (process.argv[1] === import.meta.filename) {
  for (const line of await runExample()) console.log(line);
}
