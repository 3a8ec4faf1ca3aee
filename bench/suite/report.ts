/**
 * Writes bench/RESULTS.md from one run's measurements and what the run knows
 * about itself. Every figure on the page is computed from that data; the
 * prose holds none of its own. The run's data are saved beside the page as
 * bench/results.json, from which bench/suite/render.ts draws the page again.
 */
import { writeFileSync } from "node:fs";
import type { Peer } from "./clients.js";
import type { Measurement } from "./run.js";
import { median } from "./stats.js";

/** What a run knows about itself, saved with its measurements. */
export interface RunInfo {
  /** ISO date of the run. */
  date: string;
  seconds: number;
  quick: boolean;
  /** os.availableParallelism() on the machine that ran it. */
  cores: number;
  /** The first CPU's model name. */
  cpu: string;
  node: string;
  grpcJs: string;
  /** The peers, in the table's order; raw grpc-js first. */
  peers: Peer[];
  /** How many streams the idle-stream scenario holds open at once. */
  idleStreams: number;
  /** Messages per call in the client-stream scenarios, smallest first. */
  clientStreamCounts: number[];
  /** The cap on sending time per client-stream call. */
  clientStreamCapMs: number;
  /** leaksafe's clients' `grpc.per_rpc_retry_buffer_size`, which the control rows give raw grpc-js too. */
  retryBufferBytes: number;
  /** A CPU profile of one raw grpc-js client stream, taken in this run. */
  profile?: CliffProfile | undefined;
  /** bench/codegen.ts's output, when it ran. */
  codegen: string[];
  /** bench/shutdown.ts's output (a Markdown table after a title line), when it ran. */
  shutdown?: string[] | undefined;
  /** bench/short-calls.ts's output (a Markdown table after a title line), when it ran. */
  shortCalls?: string[] | undefined;
  /** bench/fleet.ts's output, a Markdown section of its own, when it ran. */
  fleet?: string[] | undefined;
  /** bench/hostile.ts's output (a Markdown table after a title line), when it ran. */
  hostile?: string[] | undefined;
}

/** What a CPU profile of one raw grpc-js client stream found. */
export interface CliffProfile {
  /** The messages the call was to send, and how many it sent within the cap. */
  count: number;
  sent: number;
  /** CPU samples taken while the bench process was busy, and how many of them were inside `clearSentMessages`. */
  busySamples: number;
  inClearSentMessages: number;
}

/** The scenario name of a client stream of `count` messages per call. */
export function clientStreamScenario(count: number): string {
  return `client stream, ${count.toLocaleString("en")} per call`;
}

/** The scenario name of the control rows: raw grpc-js and leaksafe, both with leaksafe's retry buffer, on raw grpc-js's server. */
export function controlScenario(count: number, retryBufferBytes: number): string {
  return `${clientStreamScenario(count)}, both with a ${bytes(retryBufferBytes)} retry buffer, raw grpc-js server`;
}

const fmt = (v: number): string =>
  v >= 100 ? Math.round(v).toLocaleString("en") : v >= 1 ? v.toFixed(2) : v.toFixed(3);
const times = (ratio: number): string => `${ratio.toFixed(2)}×`;
const count = (n: number): string => n.toLocaleString("en");
const percent = (part: number, whole: number): string => `${Math.round((100 * part) / whole)} %`;

function bytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${count(n)} bytes`;
}

/** The median of `peer` in `scenario`, or undefined when the run has none. */
function medianOf(measurements: Measurement[], scenario: string, peer: Peer): number | undefined {
  const values = measurements.find((m) => m.scenario === scenario)?.values.get(peer) ?? [];
  return values.length === 0 ? undefined : median(values);
}

export function writeResults(path: string, measurements: Measurement[], run: RunInfo): void {
  const lines = [
    "# Benchmark results",
    "",
    `Written by \`npm run bench${run.quick ? " -- --quick" : ""}\` on ${run.date}, in ${run.seconds.toFixed(0)} s. The machine has ${run.cores} cores (${run.cpu}); Node ${run.node}, grpc-js ${run.grpcJs}. The run's data are in [results.json](results.json); \`npx tsx bench/suite/render.ts\` draws this page and the chart again from them.`,
    "",
    "- **How it runs.** Every peer runs its own server in its own process, on loopback, and its client in the bench process. The peers take turns and rotate their order each round.",
    "- **Rounds.** Each scenario starts with a warm-up round that is not recorded. The *rounds* column counts the recorded ones.",
    "- **Figures.** Medians, with min–max in brackets; ratios are to raw grpc-js's median from the same run.",
    "- **What is measured.** leaksafe runs from its build in `dist/`, as users run it; the runner refuses to start otherwise. (Run from the TypeScript sources, tsx wraps every named closure in a `__name` call that gives it a property store, which costs heap per idle stream and time per call set-up.)",
    `- **Open idle streams.** Every peer reads each stream with \`for await\` and cancels it through one shared AbortSignal, as a watch would; raw grpc-js and ts-proto's stubs cancel with \`call.cancel()\` from the signal's listener. Heap per stream is the difference in heap after GC with the ${count(run.idleStreams)} streams open, in the client process.`,
    `- **leaksafe's settings.** leaksafe runs with its defaults: a ${bytes(run.retryBufferBytes)} retry buffer, keepalive, and the built-in stream limits (the benchmark only turns the idle and total limits off for its throughput streams). Every stream therefore carries its deadlines, and so its timers.`,
    "",
    "![Each peer against raw grpc-js](results.svg)",
    "",
    `| scenario | unit | rounds | ${run.peers.join(" | ")} |`,
    `|---|---|---|${run.peers.map(() => "---").join("|")}|`,
  ];
  for (const m of measurements) {
    const base = median(m.values.get("grpc-js") ?? []);
    const rounds = Math.max(...[...m.values.values()].map((v) => v.length));
    const cells = run.peers.map((peer) => {
      const v = m.values.get(peer) ?? [];
      if (v.length === 0) return "–";
      const med = median(v);
      const ratio = base === 0 ? "" : ` **${times(med / base)}**`;
      const range = v.length > 1 ? ` (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})` : "";
      return `${fmt(med)}${range}${peer === "grpc-js" ? "" : ratio}`;
    });
    lines.push(
      `| ${m.scenario} | ${m.unit}${m.higherIsBetter ? "" : " (lower is better)"} | ${rounds} | ${cells.join(" | ")} |`,
    );
  }
  lines.push("");
  if (run.codegen.length > 0) {
    lines.push("## Code generation", "", "```", ...run.codegen, "```", "");
  }
  if (run.shutdown !== undefined && run.shutdown.length > 0) {
    const [title = "", ...table] = run.shutdown;
    lines.push("## Shutdown under load", "", `\`bench/shutdown.ts\`: ${title}.`, "", ...table, "");
  }
  if (run.shortCalls !== undefined && run.shortCalls.length > 0) {
    const [title = "", ...table] = run.shortCalls;
    lines.push("## Short calls", "", `\`bench/short-calls.ts\`: ${title}.`, "", ...table, "");
  }
  if (run.fleet !== undefined && run.fleet.length > 0) {
    lines.push(...run.fleet, "");
  }
  if (run.hostile !== undefined && run.hostile.length > 0) {
    const [title = "", ...table] = run.hostile;
    lines.push(
      "## Hostile peers: resources held after each attack",
      "",
      `\`bench/hostile.ts\`: ${title}.`,
      "",
      ...table,
      "",
    );
  }
  lines.push(...cliff(measurements, run), ...notAhead(measurements, run));
  if (run.peers.includes("connect")) {
    lines.push(
      "## connect-node",
      "",
      "connect-node implements HTTP/2 gRPC on Node's `http2` module directly, without grpc-js's layers (resolver, load balancer, retrying call, filter stack, interceptors), so per-message work is smaller where it is ahead. To match it, leaksafe would have to leave grpc-js, which the contract (a grpc-js `ServiceDefinition`, grpc-js interceptors and credentials) rules out. On grpc-js, leaksafe's own cost per message is one timestamp and one counter.",
      "",
    );
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
}

/** "from A msg/s at N messages per call to B at M (R×)", for one peer's rows. */
function fromTo(measurements: Measurement[], scenario: (n: number) => string, peer: Peer, counts: number[]) {
  const first = counts[0] as number;
  const last = counts.at(-1) as number;
  const a = medianOf(measurements, scenario(first), peer);
  const b = medianOf(measurements, scenario(last), peer);
  if (a === undefined || b === undefined) return undefined;
  return `from ${fmt(a)} msg/s at ${count(first)} messages per call to ${fmt(b)} at ${count(last)} (${times(b / a)})`;
}

function cliff(measurements: Measurement[], run: RunInfo): string[] {
  const counts = run.clientStreamCounts;
  const raw = fromTo(measurements, clientStreamScenario, "grpc-js", counts);
  const ours = fromTo(measurements, clientStreamScenario, "leaksafe", counts);
  const control = fromTo(measurements, (n) => controlScenario(n, run.retryBufferBytes), "grpc-js", counts);
  const profile = run.profile;
  return [
    "## The client-stream cliff",
    "",
    `How each peer's rate changes with the number of messages it sends in one call. The rates are capped at ${run.clientStreamCapMs / 1000} s of sending per call, so a slow peer's rate is measured rather than waited out.`,
    "",
    ...(raw === undefined ? [] : [`- Raw grpc-js goes ${raw}.`]),
    ...(ours === undefined ? [] : [`- leaksafe goes ${ours}.`]),
    "",
    "The cause, from grpc-js's sources (`retrying-call.ts`):",
    "",
    "1. Until a call *commits*, grpc-js keeps every message it has sent in a retry buffer, so that it can replay the call transparently on another connection. The buffer holds up to `grpc.per_rpc_retry_buffer_size` bytes, 1 MiB by default.",
    "2. While a message sits in that buffer, grpc-js calls its write callback at once. `write()` therefore keeps returning true, and `drain` gives no backpressure: the sender races ahead of the network.",
    "3. Once the buffer overflows, the call commits, and from then on every sent message is removed from the buffer with `clearSentMessages`, which slices the whole remaining array. That makes the cost per message proportional to the buffer, O(n²) over a call.",
    ...(profile === undefined || profile.busySamples === 0
      ? []
      : [
          "",
          `In this run, a CPU profile of one raw grpc-js call of ${count(profile.count)} messages (${count(profile.sent)} sent within the cap) found ${percent(profile.inClearSentMessages, profile.busySamples)} of the bench process's busy samples inside \`clearSentMessages\` (${count(profile.inClearSentMessages)} of ${count(profile.busySamples)}).`,
        ]),
    "",
    `leaksafe's clients set \`grpc.per_rpc_retry_buffer_size\` to ${bytes(run.retryBufferBytes)}. The call commits after its first messages, the buffer stays tiny, and \`write()\` and \`drain\` reflect the real HTTP/2 flow control. The cost is transparent retry of a call that had already sent more than ${bytes(run.retryBufferBytes)} when its connection failed before the server answered. A long-lived stream cannot safely be replayed anyway. Users who want grpc-js's behaviour set the option back through \`channelOptions\`.`,
    "",
    `The control rows ("both with a ${bytes(run.retryBufferBytes)} retry buffer") run raw grpc-js with the same option, alternating with leaksafe, against the same raw grpc-js server.${control === undefined ? "" : ` There raw grpc-js goes ${control}.`}`,
    "",
  ];
}

function notAhead(measurements: Measurement[], run: RunInfo): string[] {
  const counts = run.clientStreamCounts;
  const first = counts[0] as number;
  const raw = medianOf(measurements, clientStreamScenario(first), "grpc-js");
  const ours = medianOf(measurements, clientStreamScenario(first), "leaksafe");
  const controlRaw = medianOf(measurements, controlScenario(first, run.retryBufferBytes), "grpc-js");
  const controlOurs = medianOf(measurements, controlScenario(first, run.retryBufferBytes), "leaksafe");
  const bullets: string[] = [];
  if (raw !== undefined && ours !== undefined && ours < raw) {
    let text = `- **Client stream, ${count(first)} messages per call.** Here leaksafe runs at ${times(ours / raw)} raw grpc-js.`;
    if (controlRaw !== undefined && controlOurs !== undefined) {
      // A call's duration in ms, from its rate: against leaksafe's server, and against raw grpc-js's (the control).
      const callMs = (1000 * first) / ours;
      const controlCallMs = (1000 * first) / controlOurs;
      text += ` The control rows, with the same ${bytes(run.retryBufferBytes)} retry buffer against the same raw grpc-js server, put leaksafe's client at ${times(controlOurs / controlRaw)} raw grpc-js.`;
      text +=
        callMs > controlCallMs
          ? ` A call of leaksafe's client takes ${callMs.toFixed(1)} ms against leaksafe's server and ${controlCallMs.toFixed(1)} ms against raw grpc-js's, so leaksafe's server adds ${(callMs - controlCallMs).toFixed(1)} ms per call. That includes the two PING round trips with which the server confirms a client stream's end before it reports it (runtime/end-barrier.ts, docs/end-of-stream.md): a cancelling Node http2 client sends END_STREAM just before RST_STREAM, and a cancelled upload must never look finished.`
          : " Against leaksafe's server, leaksafe's client was no slower per call than against raw grpc-js's in this run.";
    }
    const later = counts
      .slice(1)
      .map((n) => {
        const r = medianOf(measurements, clientStreamScenario(n), "grpc-js");
        const l = medianOf(measurements, clientStreamScenario(n), "leaksafe");
        return r === undefined || l === undefined ? undefined : `${times(l / r)} at ${count(n)}`;
      })
      .filter((s) => s !== undefined);
    if (later.length > 0)
      text += ` With more messages per call, leaksafe's ratio to raw grpc-js is ${later.join(" and ")}.`;
    bullets.push(text);
  }
  if (run.peers.includes("ts-proto")) {
    bullets.push(
      "- **Where ts-proto's stubs lead.** They are raw grpc-js calls behind a typed wrapper, and their serializers copy each message where raw grpc-js's here do not. They do at least as much work per message as raw grpc-js, so any lead they show over raw grpc-js is run-to-run noise. A gap of that size between leaksafe and them is within the noise, not a measured difference.",
    );
  }
  return ["## Where leaksafe is not ahead", "", ...bullets, ""];
}
