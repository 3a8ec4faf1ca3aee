/**
 * `npm run bench`: every peer side by side, in one run. Each peer's server
 * runs in its own process; the clients take turns, rotating the order each
 * round. Writes bench/RESULTS.md (medians, min–max, ratios to raw grpc-js),
 * bench/results.svg, and the run's data as bench/results.json. `--quick`
 * finishes in under 2 minutes.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { renderChart } from "./chart.js";
import { createPeerClient, PEERS, type Peer, type PeerClient } from "./clients.js";
import { GEN, generatePeers, ROOT } from "./generate.js";
import { type CliffProfile, clientStreamScenario, controlScenario, writeResults } from "./report.js";
import { saveRun } from "./saved-run.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

// Users run the build, not the TypeScript sources: tsx compiles those with a
// `__name` wrapper on every named closure, which costs heap and time per call.
const runtimeAt = import.meta.resolve("leaksafe");
if (!runtimeAt.includes("/dist/")) {
  throw new Error(
    `the benchmark measures the build in dist/, but "leaksafe" resolved to ${runtimeAt}; run npm run bench`,
  );
}

const quick = process.argv.includes("--quick");
const RUNS = quick ? 2 : 5;
const CLIENT_STREAM_COUNTS = [10_000, 100_000, 1_000_000];
/** Each client-stream call sends for at most this long, so a slow peer's rate is measured rather than waited out. */
const CLIENT_STREAM_CAP_MS = quick ? 1000 : 10_000;
/** leaksafe's clients' retry buffer (runtime/client.ts), which the control rows give raw grpc-js too. */
const RETRY_BUFFER_BYTES = 1024;
const IDLE_STREAMS = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Measurement {
  scenario: string;
  unit: string;
  /** Higher is better unless false. */
  higherIsBetter: boolean;
  values: Map<Peer, number[]>;
}

const measurements: Measurement[] = [];
/** Off during warm-up rounds, which are not recorded. */
let recording = false;
function record(scenario: string, unit: string, peer: Peer, value: number, higherIsBetter = true): void {
  if (!recording) return;
  let m = measurements.find((x) => x.scenario === scenario);
  if (m === undefined) {
    m = { scenario, unit, higherIsBetter, values: new Map() };
    measurements.push(m);
  }
  const list = m.values.get(peer) ?? [];
  list.push(value);
  m.values.set(peer, list);
}

const started = Date.now();
generatePeers();
const servers = new Map<Peer, ChildProcess>();
const clients = new Map<Peer, PeerClient>();
const ports = new Map<Peer, number>();
for (const peer of PEERS) {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "server.ts"), peer], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve) =>
    child.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString()))),
  );
  servers.set(peer, child);
  ports.set(peer, port);
  clients.set(peer, await createPeerClient(peer, port));
}

/** Runs `measure` for every peer, RUNS times, rotating which peer goes first. */
async function eachPeer(runs: number, measure: (peer: Peer, client: PeerClient) => Promise<void>): Promise<void> {
  if (process.env.BENCH_DEBUG) process.stderr.write(`bench: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  recording = false;
  for (const peer of PEERS) await measure(peer, clients.get(peer) as PeerClient); // warm-up
  recording = true;
  for (let run = 0; run < runs; run++) {
    const order = [...PEERS.slice(run % PEERS.length), ...PEERS.slice(0, run % PEERS.length)];
    for (const peer of order) {
      const t = Date.now();
      await measure(peer, clients.get(peer) as PeerClient);
      if (process.env.BENCH_DEBUG) process.stderr.write(`  ${peer} ${Date.now() - t} ms\n`);
    }
  }
}

const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;

for (const [size, count] of quick
  ? [
      [16, 30_000],
      [1024, 20_000],
      [65536, 300],
    ]
  : [
      [16, 200_000],
      [1024, 100_000],
      [65536, 3000],
    ]) {
  const name = `server stream, ${size === 65536 ? "64 KiB" : size === 1024 ? "1 KiB" : "16 B"}`;
  await eachPeer(RUNS, async (peer, client) => {
    const t = process.hrtime.bigint();
    const n = await client.serverStream(count as number, size as number);
    record(name, "msg/s", peer, n / seconds(t));
  });
}

for (const count of CLIENT_STREAM_COUNTS) {
  const name = clientStreamScenario(count);
  await eachPeer(quick ? 1 : 3, async (peer, client) => {
    const t = process.hrtime.bigint();
    const sent = await client.clientStream(count, Date.now() + CLIENT_STREAM_CAP_MS);
    record(name, "msg/s", peer, sent / seconds(t));
  });
}

/**
 * Profiles one raw grpc-js client stream of `count` messages (in this
 * process, where grpc-js's client runs) and counts the busy CPU samples
 * inside `clearSentMessages`, the cause of the cliff.
 */
async function profileCliff(client: PeerClient, count: number): Promise<CliffProfile> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  // A sample every 10 ms keeps the profiler's own cost small against the call's.
  await session.post("Profiler.setSamplingInterval", { interval: 10_000 });
  await session.post("Profiler.start");
  const sent = await client.clientStream(count, Date.now() + CLIENT_STREAM_CAP_MS);
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const name = new Map(profile.nodes.map((node) => [node.id, node.callFrame.functionName]));
  const inside = new Map<number, boolean>();
  const isInside = (id: number): boolean => {
    let known = inside.get(id);
    if (known === undefined) {
      const up = parent.get(id);
      known = name.get(id) === "clearSentMessages" || (up !== undefined && isInside(up));
      inside.set(id, known);
    }
    return known;
  };
  const busy = (profile.samples ?? []).filter((id) => name.get(id) !== "(idle)");
  return { count, sent, busySamples: busy.length, inClearSentMessages: busy.filter(isInside).length };
}
const cliffProfile = await profileCliff(clients.get("grpc-js") as PeerClient, CLIENT_STREAM_COUNTS.at(-1) as number);

// The control for the cliff: raw grpc-js with the 1 KiB retry buffer that
// leaksafe sets, against leaksafe, alternating, on the raw grpc-js server.
{
  const rawPort = ports.get("grpc-js") as number;
  const control = await createPeerClient("grpc-js", rawPort, { "grpc.per_rpc_retry_buffer_size": RETRY_BUFFER_BYTES });
  const viaLeaksafe = await createPeerClient("leaksafe", rawPort);
  const pair: Array<[Peer, PeerClient]> = [
    ["grpc-js", control],
    ["leaksafe", viaLeaksafe],
  ];
  for (const count of CLIENT_STREAM_COUNTS) {
    const name = controlScenario(count, RETRY_BUFFER_BYTES);
    for (let run = 0; run <= (quick ? 1 : 3); run++) {
      recording = run > 0;
      for (const [peer, client] of run % 2 === 0 ? pair : [...pair].reverse()) {
        const t = process.hrtime.bigint();
        const sent = await client.clientStream(count, Date.now() + CLIENT_STREAM_CAP_MS);
        record(name, "msg/s", peer, sent / seconds(t));
      }
    }
  }
  control.close();
  viaLeaksafe.close();
}

{
  const rounds = quick ? 1000 : 10_000;
  await eachPeer(RUNS, async (peer, client) => {
    const latencies: number[] = [];
    const t = process.hrtime.bigint();
    await client.pingPong(rounds, latencies);
    const rate = rounds / seconds(t);
    latencies.sort((a, b) => a - b);
    record("bidi ping-pong", "round trips/s", peer, rate);
    record("ping-pong latency p50", "µs", peer, (latencies[Math.floor(latencies.length * 0.5)] ?? 0) * 1000, false);
    record("ping-pong latency p99", "µs", peer, (latencies[Math.floor(latencies.length * 0.99)] ?? 0) * 1000, false);
  });
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
{
  const n = IDLE_STREAMS;
  await eachPeer(quick ? 1 : 3, async (peer, client) => {
    await sleep(100);
    gc();
    gc();
    const heap = process.memoryUsage().heapUsed;
    const t0 = timers();
    const close = await client.openIdle(n);
    await sleep(500);
    gc();
    gc();
    record(
      `${n.toLocaleString("en")} open idle streams: heap per stream`,
      "KiB",
      peer,
      (process.memoryUsage().heapUsed - heap) / n / 1024,
      false,
    );
    record(
      `${n.toLocaleString("en")} open idle streams: timers per stream`,
      "timers",
      peer,
      (timers() - t0) / n,
      false,
    );
    await close();
  });
}

{
  const n = quick ? 500 : 10_000;
  await eachPeer(quick ? 1 : 3, async (peer, client) => {
    gc();
    const heap = process.memoryUsage().heapUsed;
    const t = process.hrtime.bigint();
    for (let done = 0; done < n; done += 100) {
      const close = await client.openIdle(100);
      await sleep(1); // let the calls start before they are cancelled
      await close();
    }
    record(`stream churn: open and cancel ${n.toLocaleString("en")}`, "calls/s", peer, n / seconds(t));
    await sleep(200);
    gc();
    record(
      "stream churn: heap growth after GC",
      "MiB",
      peer,
      (process.memoryUsage().heapUsed - heap) / 1024 / 1024,
      false,
    );
  });
}

let codegen: string[] = [];
if (!quick) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/codegen.ts"), "--runs", "3"], {
    encoding: "utf8",
  });
  codegen = r.stdout.trim().split("\n");
}

let shutdown: string[] = [];
if (!quick) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/shutdown.ts"), "3"], {
    encoding: "utf8",
  });
  shutdown = r.stdout.trim().split("\n");
}

let shortCalls: string[] = [];
if (!quick) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/short-calls.ts"), String(RUNS)], {
    encoding: "utf8",
  });
  shortCalls = r.stdout.trim().split("\n");
}

let hostile: string[] = [];
if (!quick) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/hostile.ts")], { encoding: "utf8" });
  hostile = r.stdout.trim().split("\n");
}

let fleet: string[] = [];
if (!quick) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/fleet.ts")], { encoding: "utf8" });
  fleet = r.stdout.trim().split("\n");
}

for (const client of clients.values()) client.close();
for (const server of servers.values()) server.kill();

const info = {
  date: new Date().toISOString().slice(0, 10),
  seconds: (Date.now() - started) / 1000,
  quick,
  cores: availableParallelism(),
  cpu: cpus()[0]?.model.trim() ?? "unknown CPU",
  node: process.versions.node,
  grpcJs: (
    JSON.parse(readFileSync(join(ROOT, "node_modules/@grpc/grpc-js/package.json"), "utf8")) as { version: string }
  ).version,
  peers: [...PEERS],
  idleStreams: IDLE_STREAMS,
  clientStreamCounts: CLIENT_STREAM_COUNTS,
  clientStreamCapMs: CLIENT_STREAM_CAP_MS,
  retryBufferBytes: RETRY_BUFFER_BYTES,
  profile: cliffProfile,
  codegen,
  shutdown,
  shortCalls,
  hostile,
  fleet,
};
saveRun(join(ROOT, "bench/results.json"), measurements, info);
const svg = await renderChart(measurements);
writeFileSync(join(ROOT, "bench/results.svg"), svg);
writeResults(join(ROOT, "bench/RESULTS.md"), measurements, info);
console.log(
  `wrote bench/RESULTS.md, bench/results.svg and bench/results.json in ${((Date.now() - started) / 1000).toFixed(0)} s (${GEN})`,
);
process.exit(0);
