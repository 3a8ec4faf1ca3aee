/** Reading what the OpenTelemetry SDK recorded, for the tests. */
import assert from "node:assert/strict";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

/** A reader that exports nothing: the test calls `collect()`. */
class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

export interface Telemetry {
  meterProvider: MeterProvider;
  tracerProvider: BasicTracerProvider;
  /** Every metric recorded so far (cumulative), by name. */
  metrics(): Promise<Map<string, MetricData>>;
  /** Every span ended so far. */
  spans(): ReadableSpan[];
}

export function createTelemetry(): Telemetry {
  const reader = new CollectingReader();
  const exporter = new InMemorySpanExporter();
  return {
    meterProvider: new MeterProvider({ readers: [reader] }),
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    async metrics() {
      const { resourceMetrics, errors } = await reader.collect();
      assert.deepEqual(errors, []);
      const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
      return new Map(all.map((metric) => [metric.descriptor.name, metric]));
    },
    spans: () => exporter.getFinishedSpans(),
  };
}

/** The one data point of `name` whose attributes are exactly `attributes`. */
export function pointOf<T = number | Histogram>(
  metrics: Map<string, MetricData>,
  name: string,
  attributes: Record<string, string>,
): DataPoint<T> {
  const metric = metrics.get(name);
  assert.ok(metric !== undefined, `no metric ${name}; recorded: ${[...metrics.keys()].join(", ")}`);
  const points = (metric.dataPoints as DataPoint<T>[]).filter((p) => sameAttributes(p.attributes, attributes));
  assert.equal(
    points.length,
    1,
    `${name}: one point with ${JSON.stringify(attributes)}; points: ${JSON.stringify(metric.dataPoints.map((p) => p.attributes))}`,
  );
  return points[0] as DataPoint<T>;
}

/** The attribute sets of every point of `name`. */
export function attributeSets(metrics: Map<string, MetricData>, name: string): Array<Record<string, unknown>> {
  return (metrics.get(name)?.dataPoints ?? []).map((p) => ({ ...p.attributes }));
}

function sameAttributes(actual: Record<string, unknown>, expected: Record<string, string>): boolean {
  const keys = Object.keys(actual);
  return keys.length === Object.keys(expected).length && keys.every((k) => actual[k] === expected[k]);
}

/** Hooks that count the calls whose end was reported, beside openTelemetry()'s in a hooks array. */
export function endCounter(): { hooks: { onCallEnd(): void }; readonly ended: number } {
  let ended = 0;
  return {
    hooks: {
      onCallEnd() {
        ended++;
      },
    },
    get ended() {
      return ended;
    },
  };
}
