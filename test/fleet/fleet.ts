/**
 * A fleet of replica processes (replica.ts) behind one round_robin client,
 * driven through a rolling SIGTERM restart and a SIGKILL, with connection
 * and stream ages, resumable watches and a steady flow of unary calls.
 * The fleet test runs it small; bench/fleet.ts runs it at full size.
 * "Two ages" below is twice the stream age, or without one, twice the
 * connection age plus its grace.
 *
 * It counts what an operator cares about: watch events lost and repeated
 * (every watch checks that revisions come one by one), unary failures and
 * latency by phase, how the watches split over the replicas over time, and
 * what each shutdown had to force.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once, setMaxListeners } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Metadata } from "@grpc/grpc-js";
import { type ClientOptions, createClient, type ShutdownReport } from "leaksafe";
import { HealthCheckResponse_ServingStatus, HealthService } from "leaksafe/health";
import { KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { sleep } from "../e2e/harness.js";
import { resumeAfter } from "../resume/feed.js";

export interface FleetOptions {
  replicas: number;
  watches: number;
  /** One feed revision every tickMs. */
  tickMs: number;
  /** The servers' maxConnectionAgeMs (0: none) and its grace. */
  ageMs: number;
  ageGraceMs: number;
  /** The servers' maxStreamAgeMs (0: none). */
  streamAgeMs: number;
  /** How long each unary call's handler takes, and the pause between two calls of the unary loop. */
  postMs: number;
  postEveryMs: number;
  /** Steady time before the restarts, and after each. */
  settleMs: number;
  /** How long to wait, after each disruption, for the split to even out. */
  balanceLimitMs: number;
  /** How long to go on sampling the split after the two ages that follow each disruption. Default 0. */
  observeMs?: number;
  /** Progress lines, e.g. to a test's diagnostics. */
  log?: (line: string) => void;
}

export type Phase = "steady" | "rolling restart" | "after restart" | "sigkill" | "after sigkill";

export interface FleetReport {
  events: number;
  lost: number;
  repeated: number;
  /** Watches that ended with an error instead of resuming. */
  watchesFailed: string[];
  unary: Record<Phase, { calls: number; failed: number; p50: number; p99: number; errors: string[] }>;
  /** The split once the watches have started, after the warm-up call. */
  startSplit: number[];
  /** Open watches per replica, sampled over the run. */
  splits: Array<{ atMs: number; phase: Phase; split: number[] }>;
  /** The split two ages after the rolling restart, and after the SIGKILL. */
  balancedAfterRestart: number[];
  balancedAfterKill: number[];
  /**
   * How long after the rolling restart, and after the SIGKILL, the split
   * first came within ±20 % of an even share (undefined: not within
   * `balanceLimitMs`), with that split.
   */
  rebalancedAfterRestart: { afterMs: number | undefined; split: number[] };
  rebalancedAfterKill: { afterMs: number | undefined; split: number[] };
  /** Each SIGTERM'd replica's shutdown report. */
  /**
   * Each SIGTERM'd replica's shutdown report, and the statuses a health
   * Watch on it saw (by name), from SERVING to its end.
   */
  shutdowns: Array<{ replica: number; report: ShutdownReport | null; health: string[] }>;
  durationMs: number;
}

/**
 * grpc-js waits 1 s, then up to 120 s, before it dials a lost replica
 * again; a replica back on the same address would sit unused meanwhile.
 */
const BACKOFF = { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 1000 };

/** A stats call waits for its replica's connection, which may be in backoff after a restart. */
const STATS_CALL = { metadata: new Metadata({ waitForReady: true }), timeoutMs: 5000 };

const REPLICA = join(import.meta.dirname, "replica.ts");

class Replica {
  child!: ChildProcess;
  port = 0;
  report: ShutdownReport | null = null;

  constructor(private readonly args: string[]) {}

  async start(): Promise<void> {
    this.child = spawn(process.execPath, ["--import", "tsx", REPLICA, String(this.port), ...this.args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    const listening = new Promise<number>((resolve, reject) => {
      lines.on("line", (line) => {
        const [word, rest = ""] = line.split(/ (.*)/s);
        if (word === "listening") resolve(Number(rest));
        if (word === "report") this.report = JSON.parse(rest) as ShutdownReport;
      });
      this.child.once("exit", (code) => reject(new Error(`replica exited with ${code} before listening`)));
    });
    this.port = await listening;
  }

  async stop(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const exited = once(this.child, "exit");
    this.child.kill(signal);
    await exited;
  }
}

/**
 * A health Watch on one replica, as a load balancer's checker would hold
 * it; resolves once SERVING came, with a promise of every status it saw
 * until the Watch ended.
 */
async function watchHealth(port: number): Promise<{ ended: Promise<string[]> }> {
  const client = createClient(HealthService, `127.0.0.1:${port}`);
  const seen: string[] = [];
  let serving!: () => void;
  const first = new Promise<void>((resolve) => {
    serving = resolve;
  });
  const ended = (async () => {
    try {
      for await (const { status } of client.watch({ service: "" })) {
        seen.push(HealthCheckResponse_ServingStatus[status] ?? String(status));
        if (seen.length === 1) serving();
      }
    } catch (error) {
      seen.push(`error: ${String(error)}`);
    } finally {
      serving();
      client.close();
    }
    return seen;
  })();
  await first;
  return { ended };
}

/** Runs the fleet through its phases and reports what it counted. */
export async function runFleet(options: FleetOptions): Promise<FleetReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const epoch = Date.now();
  const args = [epoch, options.tickMs, options.ageMs, options.ageGraceMs, options.streamAgeMs, options.postMs].map(
    String,
  );
  const replicas = Array.from({ length: options.replicas }, () => new Replica(args));
  await Promise.all(replicas.map((r) => r.start()));
  const target = `ipv4:${replicas.map((r) => `127.0.0.1:${r.port}`).join(",")}`;
  const fleetOptions: ClientOptions = {
    loadBalancing: "round_robin",
    unaryRetry: true,
    channelOptions: BACKOFF,
  };
  const kv = createClient(KVService, target, fleetOptions);
  const chat = createClient(ChatService, target, fleetOptions);
  const stats = replicas.map((r) => createClient(ChatService, `127.0.0.1:${r.port}`, { channelOptions: BACKOFF }));

  // Streams move when their stream ends by age, or when their connection does.
  const rebalanceMs = options.streamAgeMs > 0 ? options.streamAgeMs : options.ageMs + options.ageGraceMs;
  let phase: Phase = "steady";
  const report: FleetReport = {
    events: 0,
    lost: 0,
    repeated: 0,
    watchesFailed: [],
    unary: Object.fromEntries(
      (["steady", "rolling restart", "after restart", "sigkill", "after sigkill"] as Phase[]).map((p) => [
        p,
        { calls: 0, failed: 0, p50: 0, p99: 0, errors: [] },
      ]),
    ) as unknown as FleetReport["unary"],
    startSplit: [],
    splits: [],
    balancedAfterRestart: [],
    balancedAfterKill: [],
    rebalancedAfterRestart: { afterMs: undefined, split: [] },
    rebalancedAfterKill: { afterMs: undefined, split: [] },
    shutdowns: [],
    durationMs: 0,
  };
  const latencies = new Map<Phase, number[]>();

  // As the README advises, one call on the watches' own client first, so
  // that its channel has connected to every replica before they start (a
  // call that fails will do: this Put is not served).
  await kv.put({ key: "warm-up", value: new Uint8Array() }).catch(() => undefined);

  const stop = new AbortController();
  setMaxListeners(options.watches + 10, stop.signal);
  const watching = Array.from({ length: options.watches }, async () => {
    let expected = 0;
    try {
      for await (const { changes } of kv.watch(
        { prefix: "", startRevision: 0 },
        { signal: stop.signal, resume: { resumeRequest: resumeAfter, maxAttempts: 0 } },
      )) {
        for (const { revision } of changes) {
          if (expected === 0 || revision === expected) report.events++;
          else if (revision > expected) report.lost += revision - expected;
          else report.repeated++;
          expected = Math.max(expected, revision) + 1;
        }
      }
    } catch (error) {
      if (!stop.signal.aborted) report.watchesFailed.push(String(error));
    }
  });

  const unaryLoop = (async () => {
    while (!stop.signal.aborted) {
      const at = phase;
      const t0 = performance.now();
      try {
        await chat.post({ author: "load", text: "" });
        const list = latencies.get(at) ?? [];
        list.push(performance.now() - t0);
        latencies.set(at, list);
      } catch (error) {
        report.unary[at].failed++;
        if (report.unary[at].errors.length < 5) report.unary[at].errors.push(String(error));
      }
      report.unary[at].calls++;
      await sleep(options.postEveryMs);
    }
  })();

  const split = async (): Promise<number[]> =>
    Promise.all(
      stats.map((client, i) =>
        replicas[i]?.child.exitCode === null
          ? client.post({ author: "stats", text: "" }, STATS_CALL).then(
              (r) => r.revision,
              () => -1, // no answer
            )
          : 0,
      ),
    );
  /**
   * A split with every watch placed: a watch whose stream just ended by age
   * is on no replica for its backoff (about 100 ms), so a sample then would
   * count the moment, not the balance. Up to 40 tries, 50 ms apart.
   */
  const settledSplit = async (): Promise<number[]> => {
    let last: number[] = [];
    for (let i = 0; i < 40; i++) {
      last = await split();
      if (last.reduce((a, b) => a + b, 0) === options.watches) break;
      await sleep(50);
    }
    return last;
  };
  const even = (split: number[]): boolean => {
    const share = options.watches / options.replicas;
    return split.every((n) => Math.abs(n - share) <= share * 0.2);
  };
  /** Waits, from `since`, for an even split, up to `balanceLimitMs`. */
  const untilEven = async (since: number): Promise<{ afterMs: number | undefined; split: number[] }> => {
    for (;;) {
      const split = await settledSplit();
      if (even(split)) return { afterMs: Date.now() - since, split };
      if (Date.now() - since > options.balanceLimitMs) return { afterMs: undefined, split };
      await sleep(250);
    }
  };
  const sampler = (async () => {
    while (!stop.signal.aborted) {
      report.splits.push({ atMs: Date.now() - started, phase, split: await split() });
      await sleep(250);
    }
  })();

  report.startSplit = await settledSplit();
  await sleep(options.settleMs);
  phase = "rolling restart";
  for (const [i, replica] of replicas.entries()) {
    log(`SIGTERM replica ${i}`);
    const health = await watchHealth(replica.port);
    await replica.stop("SIGTERM");
    report.shutdowns.push({ replica: i, report: replica.report, health: await health.ended });
    await replica.start();
    await sleep(options.settleMs / 2);
  }
  phase = "after restart";
  let disrupted = Date.now();
  report.rebalancedAfterRestart = await untilEven(disrupted);
  await sleep(Math.max(0, disrupted + 2 * rebalanceMs - Date.now()));
  report.balancedAfterRestart = await settledSplit();
  await sleep(options.observeMs ?? 0);
  log(`split two ages after the rolling restart: ${report.balancedAfterRestart}`);

  phase = "sigkill";
  log("SIGKILL replica 0");
  await replicas[0]?.stop("SIGKILL");
  await sleep(options.settleMs / 2);
  await replicas[0]?.start();
  phase = "after sigkill";
  disrupted = Date.now();
  report.rebalancedAfterKill = await untilEven(disrupted);
  await sleep(Math.max(0, disrupted + 2 * rebalanceMs - Date.now()));
  report.balancedAfterKill = await settledSplit();
  await sleep(options.observeMs ?? 0);
  log(`split two ages after the SIGKILL: ${report.balancedAfterKill}`);

  stop.abort();
  await Promise.all([...watching, unaryLoop, sampler]);
  kv.close();
  chat.close();
  for (const client of stats) client.close();
  await Promise.all(replicas.map((r) => r.stop("SIGTERM")));

  for (const [p, list] of latencies) {
    list.sort((a, b) => a - b);
    report.unary[p].p50 = Math.round(quantile(list, 0.5) * 10) / 10;
    report.unary[p].p99 = Math.round(quantile(list, 0.99) * 10) / 10;
  }
  report.durationMs = Date.now() - started;
  return report;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}
