/**
 * The names and shapes gRPC proposal A66 gives its metrics: attribute
 * values (method, status, target) and the recommended histogram buckets.
 */
import { Status } from "./rpc-error.js";

/** A66's latency buckets, in seconds. */
export const LATENCY_BUCKETS: readonly number[] = [
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.013,
  0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10,
  20, 50, 100,
];

/** A66's size buckets, in bytes. */
export const SIZE_BUCKETS: readonly number[] = [
  0, 1024, 2048, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824, 4294967296,
];

/** A method as the metrics and spans name it. */
export interface MethodNames {
  /** `grpc.method`, and the span's name: the path without its leading slash, "example.v1.Chat/Say". */
  readonly full: string;
  /** `rpc.service`: "example.v1.Chat". */
  readonly service: string;
  /** `rpc.method`: "Say". */
  readonly method: string;
}

/** What A66 records for a method the server does not know, so that a peer cannot make up attribute values. */
export const OTHER_METHOD = "other";

const names = new Map<string, MethodNames>();

/** The names of a method by its gRPC path, "/example.v1.Chat/Say". Cached: only give it paths of known methods. */
export function methodNames(path: string): MethodNames {
  let found = names.get(path);
  if (found === undefined) {
    const full = path.startsWith("/") ? path.slice(1) : path;
    const slash = full.lastIndexOf("/");
    found = { full, service: slash < 0 ? "" : full.slice(0, slash), method: full.slice(slash + 1) };
    names.set(path, found);
  }
  return found;
}

/** `grpc.status`: the status code's name, "OK", "DEADLINE_EXCEEDED". */
export function statusName(code: Status): string {
  return Status[code] ?? String(code);
}

/** The URI schemes grpc-js resolves; any other target is a host and port for DNS. */
const SCHEME = /^(?:dns|unix|unix-abstract|ipv4|ipv6|xds|vsock):/;

/** `grpc.target`: the target with its scheme, as A66 asks: "127.0.0.1:50051" becomes "dns:///127.0.0.1:50051". */
export function canonicalTarget(target: string): string {
  return SCHEME.test(target) ? target : `dns:///${target}`;
}
