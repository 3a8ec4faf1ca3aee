import { Server as HttpServer } from "node:http";
import type { LeaksafeServer, ShutdownReport } from "./server.js";

/**
 * What `shutdownOnSignals` can stop:
 * - a leaksafe server, through `shutdown({ graceMs })`;
 * - a `node:http` (or https) server: it stops accepting, closes idle
 *   connections, waits up to the grace period for open requests, then
 *   closes every connection;
 * - anything with `stop(graceMs)`, such as `{ stop: () => client.close() }`.
 */
export type Stoppable = LeaksafeServer | HttpServer | { stop(graceMs: number): unknown };

/** One step of a shutdown, run in the order given. */
export interface ShutdownStep {
  /** A name for the log, e.g. "grpc" or "gateway". */
  name: string;
  target: Stoppable;
  /** How long this step may take, in ms. Default 5000. A step that takes longer is left behind. */
  graceMs?: number | undefined;
}

export interface ShutdownOnSignalsOptions {
  /** Default `["SIGTERM", "SIGINT"]`. */
  signals?: NodeJS.Signals[] | undefined;
  /** Where progress goes, one line at a time. Default: standard error. */
  log?: ((line: string) => void) | undefined;
  /** Called with the exit code when everything stopped. Default `process.exit`. */
  exit?: ((code: number) => void) | undefined;
}

/** How one step went. */
export interface StepResult {
  name: string;
  durationMs: number;
  /** A leaksafe server's report, for a server step. */
  report?: ShutdownReport;
  /** Set when the step threw or ran past its grace period. */
  error?: string;
}

export interface ShutdownHandle {
  /** Runs the steps now, as a signal would, without exiting. Calling it again returns the same promise. */
  run(): Promise<StepResult[]>;
  /** Removes the signal handlers. */
  dispose(): void;
}

/**
 * On SIGTERM or SIGINT, stops `steps` in order, each within its grace
 * period, logs what each did (a leaksafe server's report included), then
 * exits: 0 if every step finished in time, 1 otherwise. A second signal
 * during shutdown exits at once with 1.
 *
 * ```ts
 * shutdownOnSignals([
 *   { name: "gateway", target: httpServer, graceMs: 5000 },
 *   { name: "grpc", target: grpcServer, graceMs: 10000 },
 * ]);
 * ```
 */
export function shutdownOnSignals(steps: ShutdownStep[], options: ShutdownOnSignalsOptions = {}): ShutdownHandle {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let running: Promise<StepResult[]> | undefined;

  const run = (): Promise<StepResult[]> => {
    running ??= runSteps(steps, log);
    return running;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (running !== undefined) {
      log(`leaksafe: ${signal} again during shutdown: exiting now`);
      exit(1);
      return;
    }
    log(
      `leaksafe: ${signal}: shutting down ${steps.map((s) => `${s.name} (grace ${s.graceMs ?? 5000} ms)`).join(", then ")}`,
    );
    run().then((results) => exit(results.some((r) => r.error !== undefined) ? 1 : 0));
  };
  for (const signal of signals) {
    process.on(signal, onSignal);
  }
  return {
    run,
    dispose() {
      for (const signal of signals) {
        process.off(signal, onSignal);
      }
    },
  };
}

async function runSteps(steps: ShutdownStep[], log: (line: string) => void): Promise<StepResult[]> {
  const started = Date.now();
  const results: StepResult[] = [];
  for (const step of steps) {
    const result = await runStep(step);
    results.push(result);
    log(
      `leaksafe: stopped ${step.name} in ${result.durationMs} ms: ${JSON.stringify(result.report ?? result.error ?? "ok")}`,
    );
  }
  log(`leaksafe: shutdown complete in ${Date.now() - started} ms`);
  return results;
}

async function runStep({ name, target, graceMs = 5000 }: ShutdownStep): Promise<StepResult> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), graceMs + 100);
  });
  try {
    const outcome = await Promise.race([stop(target, graceMs), late]);
    const durationMs = Date.now() - started;
    if (outcome === "late") {
      return { name, durationMs, error: `did not stop within ${graceMs} ms` };
    }
    return outcome === undefined ? { name, durationMs } : { name, durationMs, report: outcome };
  } catch (error) {
    return { name, durationMs: Date.now() - started, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function stop(target: Stoppable, graceMs: number): Promise<ShutdownReport | undefined> {
  if (target instanceof HttpServer) {
    await closeHttp(target, graceMs);
    return undefined;
  }
  if ("shutdown" in target && typeof target.shutdown === "function") {
    return target.shutdown({ graceMs });
  }
  await (target as { stop(graceMs: number): unknown }).stop(graceMs);
  return undefined;
}

/** Stops accepting, lets open requests finish within `graceMs`, then closes every connection. */
function closeHttp(server: HttpServer, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    // close() waits for keep-alive connections too; one whose request ends
    // during the grace period is closed within 20 ms instead of idling on.
    const sweep = setInterval(() => server.closeIdleConnections(), 20);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}
