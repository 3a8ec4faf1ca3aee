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
  /**
   * How many streams one connection may have open at once, advertised in
   * SETTINGS_MAX_CONCURRENT_STREAMS; `0` removes the limit. Default 1000.
   * A client's calls past it wait for a stream to end; a peer that opens
   * more anyway has them refused, or loses the connection once it has
   * acknowledged the limit. It sets grpc-js's `grpc.max_concurrent_streams`,
   * which `grpcOptions` overrides.
   */
  maxConcurrentStreams?: number | undefined;
  /**
   * Ends each connection once it is this old, in ms, with ±10 % jitter so
   * that connections made together do not end together; `0` lets a
   * connection live for ever. Default 0. The server sends GOAWAY: the
   * client makes its new calls on a new connection, which a balancer may
   * send to another replica, while the calls already open go on for up to
   * `maxConnectionAgeGraceMs`. The standard way to rebalance long-lived
   * streams over replicas; a resumable stream cut by it resumes on the new
   * connection. It sets grpc-js's `grpc.max_connection_age_ms`, which
   * `grpcOptions` overrides.
   */
  maxConnectionAgeMs?: number | undefined;
  /**
   * How long the calls still open on a connection past its maximum age may
   * go on, in ms; then the connection is closed, and they end (a leaksafe
   * client sees `peer-gone`). `0` lets them go on until they end. Default
   * 30000. Used only with `maxConnectionAgeMs`. It sets grpc-js's
   * `grpc.max_connection_age_grace_ms`, which `grpcOptions` overrides.
   */
  maxConnectionAgeGraceMs?: number | undefined;
}

/**
 * The defaults: an idle connection closes after 5 minutes, and a
 * connection has at most 1000 streams open at once.
 *
 * - 5 minutes is far above any pause between the calls of a client that
 *   uses its connection, and keepalive pings do not count as use; a peer
 *   that connects and does nothing holds a socket for at most that long.
 * - No maximum age: it is for fleets behind a balancer, which choose
 *   their own; 30 s of grace lets a call in progress finish, as a rolling
 *   restart's grace does.
 * - 1000 streams is ten times the 100 that HTTP/2 (RFC 9113, 6.5.2)
 *   recommends as the least, and four times Go's HTTP/2 server default of
 *   250, so a client that multiplexes many long-lived watches meets it
 *   rarely; it bounds what one connection can hold on the server.
 */
export const CONNECTION_DEFAULTS: {
  readonly idleConnectionMs: number;
  readonly maxConcurrentStreams: number;
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
} = Object.freeze({
  idleConnectionMs: 300_000,
  maxConcurrentStreams: 1000,
  maxConnectionAgeMs: 0,
  maxConnectionAgeGraceMs: 30_000,
});

/** The grpc-js options for `limits`; a `grpcOptions` given to the server overrides them. */
export function connectionOptions(limits: ConnectionLimits): GrpcServerOptions {
  const idle = checked(
    "idleConnectionMs",
    limits.idleConnectionMs ?? CONNECTION_DEFAULTS.idleConnectionMs,
    MAX_TIMER_MS,
  );
  const streams = checked(
    "maxConcurrentStreams",
    limits.maxConcurrentStreams ?? CONNECTION_DEFAULTS.maxConcurrentStreams,
    2 ** 32 - 1,
  );
  const age = checked(
    "maxConnectionAgeMs",
    limits.maxConnectionAgeMs ?? CONNECTION_DEFAULTS.maxConnectionAgeMs,
    MAX_TIMER_MS,
  );
  const grace = checked(
    "maxConnectionAgeGraceMs",
    limits.maxConnectionAgeGraceMs ?? CONNECTION_DEFAULTS.maxConnectionAgeGraceMs,
    MAX_TIMER_MS,
  );
  return {
    ...(idle === 0 ? {} : { "grpc.max_connection_idle_ms": idle }),
    ...(streams === 0 ? {} : { "grpc.max_concurrent_streams": streams }),
    ...(age === 0 ? {} : { "grpc.max_connection_age_ms": age }),
    ...(age === 0 || grace === 0 ? {} : { "grpc.max_connection_age_grace_ms": grace }),
  };
}

/** `value`, if it is a whole number from 0 to `max`; otherwise a RangeError naming `name`. */
export function checked(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer from 0 to ${max}, got ${value}`);
  }
  return value;
}
