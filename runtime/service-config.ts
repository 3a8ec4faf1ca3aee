/**
 * A client's load balancing and unary retries, as first-class options. Both
 * become one gRPC service config (`grpc.service_config`), the JSON that
 * grpc-js, grpc-go and the C core read; a `channelOptions` entry of that
 * name replaces it whole.
 */
import type { ChannelOptions } from "@grpc/grpc-js";
import { checkRetryCodes } from "./resume-policy.js";
import { Status } from "./rpc-error.js";
import type { ServiceDescriptor } from "./service.js";

/**
 * How a client spreads its calls over the addresses its target resolves to.
 * - `"pick_first"` (grpc-js's default): one connection, to the first address
 *   that answers; every call goes there.
 * - `"round_robin"`: a connection to every address, and each call to the
 *   next ready one. For a fleet of replicas: several addresses
 *   (`"ipv4:10.0.0.1:50051,10.0.0.2:50051"`) or a DNS name that resolves to
 *   each of them (`"dns:///my-svc.my-ns.svc.cluster.local:50051"`, a
 *   Kubernetes headless Service).
 */
export type LoadBalancing = "pick_first" | "round_robin";

/**
 * gRPC's retry policy for the unary methods of a client: an attempt that
 * ends with one of `codes` before the server sent any response headers is
 * made again, up to `maxAttempts` attempts in all, after a wait drawn at
 * random up to `initialBackoffMs`, growing by `backoffMultiplier` per attempt
 * up to `maxBackoffMs`. grpc-js keeps a request for retry only while it fits
 * `grpc.per_rpc_retry_buffer_size`, which leaksafe sets to 1 KiB (see
 * `createClient`): a larger request is sent once.
 */
export interface UnaryRetry {
  /** Attempts in all, the first included: 2 to 5. Default 3. */
  maxAttempts?: number | undefined;
  /** The longest first wait, in ms. Default 100. */
  initialBackoffMs?: number | undefined;
  /** The longest wait, in ms. Default 1000. */
  maxBackoffMs?: number | undefined;
  /** How much the longest wait grows per attempt. Default 2. */
  backoffMultiplier?: number | undefined;
  /** The codes that are retried. Default `[Status.UNAVAILABLE]`. */
  codes?: readonly Status[] | undefined;
}

/** The built-in unary retry settings, for what `unaryRetry: {}` or `true` leaves unset. */
export const UNARY_RETRY_DEFAULTS = Object.freeze({
  maxAttempts: 3,
  initialBackoffMs: 100,
  maxBackoffMs: 1000,
  backoffMultiplier: 2,
  codes: Object.freeze([Status.UNAVAILABLE]) as readonly Status[],
});

/**
 * The channel option for `loadBalancing` and `unaryRetry`, or nothing when
 * neither is set. Throws a TypeError that names a bad setting.
 */
export function serviceConfigOption(
  service: ServiceDescriptor,
  loadBalancing: LoadBalancing | undefined,
  unaryRetry: UnaryRetry | boolean | undefined,
): ChannelOptions {
  if (loadBalancing !== undefined && loadBalancing !== "pick_first" && loadBalancing !== "round_robin") {
    throw new TypeError(`loadBalancing must be "pick_first" or "round_robin", got ${JSON.stringify(loadBalancing)}`);
  }
  const retry = unaryRetry === true ? {} : unaryRetry === false ? undefined : unaryRetry;
  if (loadBalancing === undefined && retry === undefined) {
    return {};
  }
  const config: Record<string, unknown> = {};
  if (loadBalancing !== undefined) {
    config.loadBalancingConfig = [{ [loadBalancing]: {} }];
  }
  if (retry !== undefined) {
    const names = Object.values(service)
      .filter((method) => method.kind === "unary")
      .map((method) => {
        const [, serviceName = "", methodName = ""] = method.path.split("/");
        return { service: serviceName, method: methodName };
      });
    if (names.length > 0) {
      config.methodConfig = [{ name: names, retryPolicy: retryPolicy(retry) }];
    }
  }
  return { "grpc.service_config": JSON.stringify(config) };
}

function retryPolicy(retry: UnaryRetry): Record<string, unknown> {
  const maxAttempts = retry.maxAttempts ?? UNARY_RETRY_DEFAULTS.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 2 || maxAttempts > 5) {
    throw new TypeError(`unaryRetry.maxAttempts must be a whole number from 2 to 5, got ${maxAttempts}`);
  }
  const initial = positive("initialBackoffMs", retry.initialBackoffMs ?? UNARY_RETRY_DEFAULTS.initialBackoffMs);
  const max = positive("maxBackoffMs", retry.maxBackoffMs ?? UNARY_RETRY_DEFAULTS.maxBackoffMs);
  if (max < initial) {
    throw new TypeError(`unaryRetry.maxBackoffMs (${max}) must not be less than initialBackoffMs (${initial})`);
  }
  const multiplier = retry.backoffMultiplier ?? UNARY_RETRY_DEFAULTS.backoffMultiplier;
  if (!Number.isFinite(multiplier) || multiplier <= 0) {
    throw new TypeError(`unaryRetry.backoffMultiplier must be a number above 0, got ${multiplier}`);
  }
  const codes = retry.codes ?? UNARY_RETRY_DEFAULTS.codes;
  if (codes.length === 0) {
    throw new TypeError("unaryRetry.codes must name at least one status code");
  }
  checkRetryCodes("unaryRetry.codes", codes);
  return {
    maxAttempts,
    initialBackoff: seconds(initial),
    maxBackoff: seconds(max),
    backoffMultiplier: multiplier,
    retryableStatusCodes: codes.map((code) => Status[code]),
  };
}

function positive(name: string, ms: number): number {
  if (!Number.isInteger(ms) || ms <= 0 || ms > 86_400_000) {
    throw new TypeError(`unaryRetry.${name} must be a whole number of milliseconds from 1 to 86400000, got ${ms}`);
  }
  return ms;
}

/** A service config duration: seconds, with up to 9 decimals, and an "s". */
function seconds(ms: number): string {
  return `${ms / 1000}s`;
}
