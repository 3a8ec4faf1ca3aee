import type { ServerOptions as GrpcServerOptions } from "@grpc/grpc-js";
import { MAX_TIMER_MS } from "./limits.js";

/** Limits a server puts on each HTTP/2 connection. */
export interface ConnectionLimits {
  /**
   * Closes a connection (GOAWAY, then its socket) once no call has used it
   * for this long, in ms; `0` keeps idle connections open. Default
   * 300000 (5 minutes). A client reconnects on its next call. It sets
   * grpc-js's `grpc.max_connection_idle_ms`, which `grpcOptions` overrides.
   */
  idleConnectionMs?: number | undefined;
}

/**
 * The default: an idle connection closes after 5 minutes. That is far above
 * any pause between the calls of a client that uses its connection (and
 * keepalive pings do not count as use); a peer that connects and does
 * nothing holds a socket for at most that long.
 */
export const CONNECTION_DEFAULTS: { readonly idleConnectionMs: number } = Object.freeze({
  idleConnectionMs: 300_000,
});

/** The grpc-js options for `limits`; a `grpcOptions` given to the server overrides them. */
export function connectionOptions(limits: ConnectionLimits): GrpcServerOptions {
  const idle = checked(
    "idleConnectionMs",
    limits.idleConnectionMs ?? CONNECTION_DEFAULTS.idleConnectionMs,
    MAX_TIMER_MS,
  );
  return {
    ...(idle === 0 ? {} : { "grpc.max_connection_idle_ms": idle }),
  };
}

function checked(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer from 0 to ${max}, got ${value}`);
  }
  return value;
}
