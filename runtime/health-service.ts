/**
 * `grpc.health.v1.Health` served from a server's {@link HealthStatuses}.
 * The server loads this module when it listens with `health: true`; it is
 * the only part of the runtime that needs `@bufbuild/protobuf`, through the
 * ts-proto code generated from runtime/proto/grpc/health/v1/health.proto.
 */
import { HealthCheckResponse_ServingStatus as Wire } from "./generated/grpc/health/v1/health.js";
import { type HealthImplementation, HealthService } from "./generated/grpc/health/v1/health_leaksafe.js";
import type { HealthStatuses, HealthWatcher, ServingStatus } from "./health.js";
import { RpcError, Status } from "./rpc-error.js";

export { HealthService };

const WIRE: Record<ServingStatus, Wire> = { SERVING: Wire.SERVING, NOT_SERVING: Wire.NOT_SERVING };

function wire(status: ServingStatus | undefined): Wire {
  return status === undefined ? Wire.SERVICE_UNKNOWN : WIRE[status];
}

export function healthImplementation(health: HealthStatuses): HealthImplementation {
  return {
    async check({ service }) {
      const status = health.get(service);
      if (status === undefined) {
        throw new RpcError(Status.NOT_FOUND, `no health status for service ${JSON.stringify(service)}`);
      }
      return { status: wire(status) };
    },

    async list() {
      const statuses: Record<string, { status: Wire }> = {};
      for (const [service, status] of health.entries()) {
        statuses[service] = { status: wire(status) };
      }
      return { statuses };
    },

    // The current status at once, then each change (a change overtaken by
    // another before it was sent is skipped, as the protocol allows), until
    // the call ends or shutdown begins: the last status sent is then
    // NOT_SERVING, and the call ends with OK.
    async *watch({ service }, ctx) {
      let pending: Wire | undefined = wire(health.get(service));
      let sent: Wire | undefined;
      let over = health.ended;
      let wake: (() => void) | undefined;
      const watcher: HealthWatcher = {
        changed(status) {
          pending = wire(status);
          wake?.();
        },
        ended() {
          over = true;
          wake?.();
        },
      };
      const stop = health.watch(service, watcher);
      const aborted = () => wake?.();
      ctx.signal.addEventListener("abort", aborted);
      try {
        while (!ctx.signal.aborted) {
          if (pending !== undefined) {
            const status: Wire = pending;
            pending = undefined;
            if (status !== sent) {
              sent = status;
              yield { status };
            }
            continue;
          }
          if (over) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        stop();
        ctx.signal.removeEventListener("abort", aborted);
      }
    },
  };
}
