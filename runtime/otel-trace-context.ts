/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as an
 * OpenTelemetry propagator: `traceparent` and `tracestate`, in gRPC
 * metadata or any carrier. `@opentelemetry/api` has no W3C propagator of
 * its own (the SDK's core package has one), so leaksafe carries this one
 * and needs nothing beyond the API.
 */
import {
  type Context,
  createTraceState,
  isSpanContextValid,
  isValidSpanId,
  isValidTraceId,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  TraceFlags,
  trace,
} from "@opentelemetry/api";

const TRACEPARENT = "traceparent";
const TRACESTATE = "tracestate";

/** version-traceid-parentid-flags, lower-case hex; a later version may append fields after another dash. */
const FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The W3C Trace Context propagator. `inject` writes `traceparent` (version
 * 00) and, if the span context has one, `tracestate`. `extract` reads them
 * back into a remote span context; a malformed `traceparent` (a bad
 * version, all-zero ids, version 00 with extra fields) is ignored, as the
 * specification says, leaving the context as it was.
 */
export class W3CTraceContextPropagator implements TextMapPropagator {
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpanContext(context);
    if (span === undefined || !isSpanContextValid(span)) {
      return;
    }
    const flags = (span.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, "0");
    setter.set(carrier, TRACEPARENT, `00-${span.traceId}-${span.spanId}-${flags}`);
    const state = span.traceState?.serialize();
    if (state !== undefined && state !== "") {
      setter.set(carrier, TRACESTATE, state);
    }
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const parent = parseTraceparent(one(getter.get(carrier, TRACEPARENT)));
    if (parent === undefined) {
      return context;
    }
    const state = getter.get(carrier, TRACESTATE);
    const joined = Array.isArray(state) ? state.join(",") : state;
    return trace.setSpanContext(context, {
      ...parent,
      isRemote: true,
      ...(joined === undefined || joined === "" ? {} : { traceState: createTraceState(joined) }),
    });
  }

  fields(): string[] {
    return [TRACEPARENT, TRACESTATE];
  }
}

/** The ids and flags of a `traceparent` value, or undefined if it is not a valid one. */
export function parseTraceparent(
  value: string | undefined,
): { traceId: string; spanId: string; traceFlags: number } | undefined {
  const match = value === undefined ? null : FORMAT.exec(value.trim());
  if (match === null) {
    return undefined;
  }
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === "ff" || (version === "00" && rest !== undefined)) {
    return undefined;
  }
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) {
    return undefined;
  }
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED };
}

/** A header sent once: a second `traceparent` makes the value ambiguous, so it is ignored. */
function one(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) {
    return value.length === 1 ? value[0] : undefined;
  }
  return value;
}
