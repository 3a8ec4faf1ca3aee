/**
 * The `grpc-timeout` request header, read as the gRPC over HTTP/2 spec
 * writes it: 1 to 8 ASCII digits, then exactly one unit, and nothing else.
 */

/** Milliseconds in one of each unit. */
const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

const TIMEOUT = /^(\d{1,8})([HMSmun])$/;

/** The timeout in milliseconds (possibly fractional), or undefined when `value` breaks the spec. */
export function parseGrpcTimeout(value: string): number | undefined {
  const match = TIMEOUT.exec(value);
  if (match === null) {
    return undefined;
  }
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}
