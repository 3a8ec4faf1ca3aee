/**
 * An example: leaksafe's hooks wired to prom-client. Pass the result as
 * `hooks` to `createServer` or `createClient`:
 *
 * ```ts
 * const registry = new Registry();
 * const server = createServer({ hooks: prometheusHooks(registry) });
 * ```
 *
 * It keeps two metrics: a gauge of the calls open now, by method, and a
 * counter of the calls that ended, by method, reason and code.
 */
import { type CallHooks, Status } from "leaksafe";
import { Counter, Gauge, type Registry } from "prom-client";

export function prometheusHooks(registry: Registry, prefix = "leaksafe"): CallHooks {
  const active = new Gauge({
    name: `${prefix}_active_streams`,
    help: "Calls open now, by method.",
    labelNames: ["method"],
    registers: [registry],
  });
  const ended = new Counter({
    name: `${prefix}_calls_ended_total`,
    help: "Calls that ended, by method, reason (ok, cancelled, idle, deadline, send-timeout, peer-gone, shutdown, remote) and gRPC code.",
    labelNames: ["method", "reason", "code"],
    registers: [registry],
  });
  return {
    onCallStart({ method }) {
      active.inc({ method });
    },
    onCallEnd({ method, reason, code }) {
      active.dec({ method });
      ended.inc({ method, reason, code: Status[code] ?? String(code) });
    },
  };
}
