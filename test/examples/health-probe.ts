/**
 * An example: a health probe for the command line, as a Kubernetes `exec`
 * probe or a deploy script runs it. It asks a server's grpc.health.v1
 * service whether a service is SERVING, and exits 0 if it is, 1 if not.
 * The connection attempt is bounded by `timeoutMs`, and the check by as
 * much again, so a server that never answers fails the probe in time
 * instead of hanging it.
 *
 *     npx tsx test/examples/health-probe.ts 127.0.0.1:50051 [service] [timeoutMs]
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createClient, RpcError, Status } from "leaksafe";
import { HealthCheckResponse_ServingStatus, HealthService } from "leaksafe/health";

/** Whether `service` ("" for the whole server) is SERVING at `target`, with a line that says why. */
export async function probe(target: string, service = "", timeoutMs = 1000): Promise<{ ok: boolean; line: string }> {
  const client = createClient(HealthService, target, { connectTimeoutMs: timeoutMs });
  const name = service === "" ? "the server" : service;
  try {
    // The connection gets `timeoutMs`, and the check as much again: a server
    // that never answers is named as such, not as a deadline that ran out.
    const { status } = await client.check({ service }, { timeoutMs: 2 * timeoutMs });
    const ok = status === HealthCheckResponse_ServingStatus.SERVING;
    return { ok, line: `${name} at ${target}: ${HealthCheckResponse_ServingStatus[status]}` };
  } catch (error) {
    const why = error instanceof RpcError ? `${Status[error.code]}, ${error.details}` : String(error);
    return { ok: false, line: `${name} at ${target}: ${why}` };
  } finally {
    client.close();
  }
}

// Run as a script (not imported by the test).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [target, service, timeoutMs] = process.argv.slice(2);
  if (target === undefined) {
    console.error("usage: health-probe.ts HOST:PORT [service] [timeoutMs]");
    process.exit(2);
  }
  const { ok, line } = await probe(target, service, timeoutMs === undefined ? undefined : Number(timeoutMs));
  console.log(line);
  process.exitCode = ok ? 0 : 1;
}
