/**
 * `leaksafe/otel`: OpenTelemetry metrics and traces for leaksafe servers
 * and clients, as hooks. The only part of leaksafe that loads
 * `@opentelemetry/api`, an optional peer: import it only where it is
 * installed.
 *
 * ```ts
 * const hooks = openTelemetry({ meterProvider, tracerProvider });
 * const server = createServer({ hooks });
 * const client = createClient(ChatService, target, { hooks });
 * ```
 */
import { createRequire } from "node:module";
import type { MeterProvider, TextMapPropagator, TracerProvider } from "@opentelemetry/api";
import { CallMetrics } from "./otel-metrics.js";
import { W3CTraceContextPropagator } from "./otel-trace-context.js";
import { CallSpans, type IncomingTrace } from "./otel-traces.js";
import type { CallEndInfo, CallHooks, CallStartInfo } from "./registry.js";

export { LATENCY_BUCKETS, SIZE_BUCKETS } from "./otel-names.js";
export { parseTraceparent, W3CTraceContextPropagator } from "./otel-trace-context.js";
export type { IncomingTrace } from "./otel-traces.js";

/** Options of {@link openTelemetry}. */
export interface OpenTelemetryOptions {
  /**
   * Where the metrics go. Default: none, so no metrics; as gRPC proposal A66
   * asks, the global meter provider is never used behind your back.
   */
  meterProvider?: MeterProvider | undefined;
  /** Where the spans go. Default: none, so no spans and no trace context in metadata. */
  tracerProvider?: TracerProvider | undefined;
  /**
   * How the trace context travels in metadata. Default: W3C Trace Context
   * (`traceparent`, `tracestate`), by {@link W3CTraceContextPropagator}.
   */
  propagator?: TextMapPropagator | undefined;
  /**
   * How a server's span relates to the client span its request names.
   * `"child"` (the default): the server span is its child, in the same
   * trace, and also links to it. `"link"`: the server span starts a trace of
   * its own and only links to it, for a server that does not trust its
   * callers' trace ids.
   */
  incomingTrace?: IncomingTrace | undefined;
}

/** The instrumentation scope's name: the meter's and the tracer's. */
export const INSTRUMENTATION_NAME = "leaksafe";

/**
 * Hooks that record gRPC's standard OpenTelemetry metrics (proposal A66),
 * leaksafe's own (`leaksafe.{client,server}.call.active` and
 * `.call.ended` by reason), and a span per call with W3C trace-context
 * propagation. Give the result as `hooks` to `createServer` and to
 * `createClient`, alone or in an array with other hooks; one result can
 * serve any number of servers and clients. With neither provider it
 * returns hooks that do nothing and cost nothing. Throws a TypeError for a
 * provider that is not one, or an unknown `incomingTrace`.
 */
export function openTelemetry(options: OpenTelemetryOptions = {}): CallHooks {
  const { meterProvider, tracerProvider, propagator, incomingTrace = "child" } = options;
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== "function") {
    throw new TypeError("openTelemetry: meterProvider must be an OpenTelemetry MeterProvider (with getMeter)");
  }
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== "function") {
    throw new TypeError("openTelemetry: tracerProvider must be an OpenTelemetry TracerProvider (with getTracer)");
  }
  if (
    propagator !== undefined &&
    (typeof propagator?.inject !== "function" || typeof propagator.extract !== "function")
  ) {
    throw new TypeError(
      "openTelemetry: propagator must be an OpenTelemetry TextMapPropagator (with inject and extract)",
    );
  }
  if (incomingTrace !== "child" && incomingTrace !== "link") {
    throw new TypeError(`openTelemetry: incomingTrace must be "child" or "link", not ${JSON.stringify(incomingTrace)}`);
  }
  const version = packageVersion();
  const metrics =
    meterProvider === undefined ? undefined : new CallMetrics(meterProvider.getMeter(INSTRUMENTATION_NAME, version));
  const spans =
    tracerProvider === undefined
      ? undefined
      : new CallSpans(
          tracerProvider.getTracer(INSTRUMENTATION_NAME, version),
          propagator ?? new W3CTraceContextPropagator(),
          incomingTrace,
        );
  if (metrics === undefined && spans === undefined) {
    return {};
  }
  return {
    onCallStart(info: CallStartInfo) {
      metrics?.start(info);
      spans?.start(info);
    },
    onCallEnd(info: CallEndInfo) {
      metrics?.end(info);
      spans?.end(info);
    },
    ...(metrics === undefined
      ? {}
      : {
          messageSizes: true,
          onResumedEnd: (info) => metrics.resumedEnd(info),
          onUnservedCall: (info) => metrics.unserved(info),
        }),
  };
}

/** This package's version, for the instrumentation scope. */
function packageVersion(): string {
  try {
    // The package refers to itself by name, through its "exports".
    return (createRequire(import.meta.url)("leaksafe/package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}
