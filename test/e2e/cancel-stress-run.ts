/**
 * Runs the cancel stress test once: a leaksafe server in this process, and
 * each client kind in turn from a process of its own, with the same seed
 * (each kind runs the same plan under its own ids). Returns the server's observations
 * matched to each call's plan.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { type ClientKind, NODE_CLIENTS } from "./cancel-stress-clients.js";
import { type PlannedCall, planCalls } from "./cancel-stress-plan.js";
import { runPythonClient } from "./cancel-stress-python.js";
import { type StressServer, startStressServer } from "./cancel-stress-server.js";
import { eventually } from "./harness.js";

export type AnyKind = ClientKind | "python";

export interface KindRun {
  kind: AnyKind;
  calls: PlannedCall[];
  /** The client's status per call id. */
  outcomes: Record<string, string>;
  /** Calls the client still held when it was done. */
  clientActive: number;
  ms: number;
}

export interface StressRun {
  stress: StressServer;
  runs: KindRun[];
}

export interface StressOptions {
  seed: number;
  callsPerKind: number;
  concurrency: number;
  kinds: readonly AnyKind[];
}

export const ALL_KINDS: readonly AnyKind[] = [...NODE_CLIENTS, "python"];

/** Starts the server and runs every kind; the caller shuts the server down. */
export async function runStress(options: StressOptions): Promise<StressRun> {
  const stress = await startStressServer();
  const runs: KindRun[] = [];
  for (const kind of options.kinds) {
    const started = Date.now();
    const calls = planCalls(options.seed, options.callsPerKind, kind);
    const args = [String(stress.port), String(options.seed), String(options.callsPerKind), String(options.concurrency)];
    const result =
      kind === "python"
        ? await runPythonClient(calls, stress.port, options.concurrency)
        : await runNodeClient(kind, args);
    runs.push({ kind, calls, ...result, ms: Date.now() - started });
    await eventually(() => stress.server.activeStreams().length === 0, `the server's ${kind} calls to end`);
  }
  return { stress, runs };
}

async function runNodeClient(
  kind: ClientKind,
  args: string[],
): Promise<{ outcomes: Record<string, string>; clientActive: number }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "cancel-stress-client.ts"), kind, ...args],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0) throw new Error(`the ${kind} client exited with ${code}`);
  const parsed = JSON.parse(out) as { outcomes: Record<string, string>; active: number };
  return { outcomes: parsed.outcomes, clientActive: parsed.active };
}
