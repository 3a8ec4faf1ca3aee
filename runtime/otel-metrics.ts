/**
 * The metrics of `openTelemetry()`: gRPC's own, as proposal A66 names and
 * shapes them, and leaksafe's open calls and ends by reason.
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type UpDownCounter,
  ValueType,
} from "@opentelemetry/api";
import { canonicalTarget, LATENCY_BUCKETS, methodNames, OTHER_METHOD, SIZE_BUCKETS, statusName } from "./otel-names.js";
import type { CallEndInfo, CallStartInfo } from "./registry.js";
import type { ResumedEndInfo } from "./resume-policy.js";
import type { UnservedCallInfo } from "./unserved-calls.js";

interface SideInstruments {
  /** A66: `grpc.client.attempt.started` or `grpc.server.call.started`. */
  started: Counter;
  /** A66: `grpc.client.attempt.duration` or `grpc.server.call.duration`. */
  duration: Histogram;
  sent: Histogram;
  received: Histogram;
  /** leaksafe: calls open now. */
  active: UpDownCounter;
  /** leaksafe: calls ended, by status and reason. */
  ended: Counter;
}

function latency(meter: Meter, name: string, description: string): Histogram {
  return meter.createHistogram(name, {
    description,
    unit: "s",
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS] },
  });
}

function size(meter: Meter, name: string, description: string): Histogram {
  return meter.createHistogram(name, {
    description,
    unit: "By",
    valueType: ValueType.INT,
    advice: { explicitBucketBoundaries: [...SIZE_BUCKETS] },
  });
}

function leaksafeInstruments(meter: Meter, side: "client" | "server"): Pick<SideInstruments, "active" | "ended"> {
  return {
    active: meter.createUpDownCounter(`leaksafe.${side}.call.active`, {
      description: `The ${side}'s calls open now (each attempt of a resumed stream is a call), by method.`,
      unit: "{call}",
      valueType: ValueType.INT,
    }),
    ended: meter.createCounter(`leaksafe.${side}.call.ended`, {
      description: `The ${side}'s calls that ended, by method, status and leaksafe.reason (ok, idle, deadline, send-timeout, cancelled, peer-gone, shutdown, remote).`,
      unit: "{call}",
      valueType: ValueType.INT,
    }),
  };
}

/** Records every metric of one `openTelemetry()`'s hooks. */
export class CallMetrics {
  private readonly client: SideInstruments;
  private readonly server: SideInstruments;
  private readonly callDuration: Histogram;

  constructor(meter: Meter) {
    this.client = {
      started: meter.createCounter("grpc.client.attempt.started", {
        description: "The number of client call attempts started.",
        unit: "{attempt}",
        valueType: ValueType.INT,
      }),
      duration: latency(meter, "grpc.client.attempt.duration", "The time a client call attempt took, end to end."),
      sent: size(
        meter,
        "grpc.client.attempt.sent_total_compressed_message_size",
        "The bytes of all request messages of a client call attempt, framing and metadata excluded.",
      ),
      received: size(
        meter,
        "grpc.client.attempt.rcvd_total_compressed_message_size",
        "The bytes of all response messages of a client call attempt, framing and metadata excluded.",
      ),
      ...leaksafeInstruments(meter, "client"),
    };
    this.callDuration = latency(
      meter,
      "grpc.client.call.duration",
      "The time a client call took, as its caller saw it, across all its attempts.",
    );
    this.server = {
      started: meter.createCounter("grpc.server.call.started", {
        description: "The number of server calls started.",
        unit: "{call}",
        valueType: ValueType.INT,
      }),
      duration: latency(
        meter,
        "grpc.server.call.duration",
        "The time a server call took, from its HEADERS to its status.",
      ),
      sent: size(
        meter,
        "grpc.server.call.sent_total_compressed_message_size",
        "The bytes of all response messages of a server call, framing and metadata excluded.",
      ),
      received: size(
        meter,
        "grpc.server.call.rcvd_total_compressed_message_size",
        "The bytes of all request messages of a server call, framing and metadata excluded.",
      ),
      ...leaksafeInstruments(meter, "server"),
    };
  }

  start(info: CallStartInfo): void {
    const side = info.side === "client" ? this.client : this.server;
    const attributes = baseAttributes(info);
    side.started.add(1, attributes);
    side.active.add(1, attributes);
  }

  end(info: CallEndInfo): void {
    const client = info.side === "client";
    const side = client ? this.client : this.server;
    const base = baseAttributes(info);
    const attributes: Attributes = { ...base, "grpc.status": statusName(info.code) };
    const seconds = info.durationMs / 1000;
    side.duration.record(seconds, attributes);
    side.sent.record(info.bytesOut ?? 0, attributes);
    side.received.record(info.bytesIn ?? 0, attributes);
    if (client && info.attempt === undefined) {
      // A call with one attempt; a resumed stream's call ends in resumedEnd.
      this.callDuration.record(seconds, attributes);
    }
    side.active.add(-1, base);
    side.ended.add(1, { ...attributes, "leaksafe.reason": info.reason });
  }

  resumedEnd(info: ResumedEndInfo): void {
    this.callDuration.record(info.durationMs / 1000, {
      "grpc.method": methodNames(info.method).full,
      "grpc.target": canonicalTarget(info.peer),
      "grpc.status": statusName(info.code),
    });
  }

  /** A66: a method the server does not know is recorded as "other". */
  unserved(info: UnservedCallInfo): void {
    const method = info.registered ? methodNames(info.method).full : OTHER_METHOD;
    const { server } = this;
    server.started.add(1, { "grpc.method": method });
    const attributes: Attributes = { "grpc.method": method, "grpc.status": statusName(info.code) };
    server.duration.record(info.durationMs / 1000, attributes);
    server.sent.record(0, attributes);
    server.received.record(0, attributes);
  }
}

function baseAttributes(info: CallStartInfo): Attributes {
  const method = methodNames(info.method).full;
  return info.side === "client"
    ? { "grpc.method": method, "grpc.target": canonicalTarget(info.peer) }
    : { "grpc.method": method };
}
