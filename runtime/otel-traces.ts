/**
 * The spans of `openTelemetry()`: one per call on each side, named and
 * dressed as OpenTelemetry's RPC conventions say, with the trace context
 * carried in the call's metadata.
 */
import type { Metadata } from "@grpc/grpc-js";
import {
  type Attributes,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { methodNames, statusName } from "./otel-names.js";
import type { CallEndInfo, CallStartInfo } from "./registry.js";
import { Status } from "./rpc-error.js";

/** How a server span relates to the client's span that the metadata names. */
export type IncomingTrace = "child" | "link";

const setter: TextMapSetter<Metadata> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

const getter: TextMapGetter<Metadata> = {
  get(carrier, key) {
    const values = carrier.get(key);
    if (values.length === 0) return undefined;
    return values.length === 1 ? String(values[0]) : values.map(String);
  },
  keys(carrier) {
    return Object.keys(carrier.getMap());
  },
};

/** Starts and ends the spans of calls. */
export class CallSpans {
  /** The span of each call in flight, by the object its hooks share. */
  private readonly spans = new WeakMap<CallStartInfo, Span>();

  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: TextMapPropagator,
    private readonly incoming: IncomingTrace,
  ) {}

  start(info: CallStartInfo): void {
    const names = methodNames(info.method);
    const attributes: Attributes = {
      "rpc.system": "grpc",
      "rpc.service": names.service,
      "rpc.method": names.method,
    };
    if (info.attempt !== undefined) {
      attributes["leaksafe.attempt"] = info.attempt;
    }
    if (info.side === "client") {
      const parent = context.active();
      const span = this.tracer.startSpan(names.full, { kind: SpanKind.CLIENT, attributes }, parent);
      this.propagator.inject(trace.setSpan(parent, span), info.metadata, setter);
      this.spans.set(info, span);
      return;
    }
    const remote = this.propagator.extract(ROOT_CONTEXT, info.metadata, getter);
    const caller = trace.getSpanContext(remote);
    const links: Link[] = caller === undefined ? [] : [{ context: caller }];
    const parent = this.incoming === "child" ? remote : ROOT_CONTEXT;
    const span = this.tracer.startSpan(names.full, { kind: SpanKind.SERVER, attributes, links }, parent);
    this.spans.set(info, span);
  }

  end(info: CallEndInfo): void {
    const span = this.spans.get(info);
    if (span === undefined) {
      return;
    }
    this.spans.delete(info);
    span.setAttribute("rpc.grpc.status_code", info.code);
    span.setAttribute("leaksafe.reason", info.reason);
    if (info.code !== Status.OK) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: statusName(info.code) });
    }
    span.end();
  }
}
