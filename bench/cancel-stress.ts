/**
 * The cancel stress test of issue 16 at full size: the code of
 * test/e2e/cancel-stress.test.ts with 20,000 calls per client kind (raw
 * grpc-js, leaksafe, connect-node, and Python grpcio where installed),
 * while a CPU-bound child process (`yes`, its output discarded) runs
 * beside it. Prints a title line and a Markdown table: how the server's
 * handlers saw each call's end, by client and cancel point, then the three
 * counts. Exits with 1 if count 1 or 2 is not 0.
 *
 * Run: npm run build && flock /work/bench.lock env TSX_TSCONFIG_PATH=bench/tsconfig.json npx tsx bench/cancel-stress.ts [calls per kind] [seed]
 */
import { execFileSync, spawn } from "node:child_process";
import { pythonInstalled } from "../test/e2e/cancel-stress-python.js";
import { ALL_KINDS, runStress } from "../test/e2e/cancel-stress-run.js";
import { markdown, tally, violations } from "../test/e2e/cancel-stress-tally.js";
import { eventually } from "../test/e2e/harness.js";

const callsPerKind = Number(process.argv[2] ?? 20_000);
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));
const CONCURRENCY = 16;

// `yes` itself, not a shell around it, so that kill() reaches the process that burns the CPU.
const hog = spawn("yes", [], { stdio: ["ignore", "ignore", "ignore"] });
const stopHog = () => hog.kill("SIGKILL");
process.once("exit", stopHog);

const kinds = pythonInstalled() ? ALL_KINDS : ALL_KINDS.filter((k) => k !== "python");
const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
const started = Date.now();
const { stress, runs } = await runStress({ seed, callsPerKind, concurrency: CONCURRENCY, kinds });
stopHog();
const result = tally(runs, stress);
await eventually(() => stress.server.activeStreams().length === 0, "the server registry to empty");
const report = await stress.server.shutdown({ graceMs: 1000 });
console.log(
  `cancel stress: ${callsPerKind} calls per client, ${CONCURRENCY} at a time, seed ${seed}, one \`yes\` beside it; ` +
    `${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${((Date.now() - started) / 1000).toFixed(0)} s; ` +
    `server registry empty, ${report.forced.length} calls forced at shutdown`,
);
console.log(markdown(result, runs));
for (const line of violations(result, runs)) console.log(line);
for (const run of runs)
  if (run.clientActive !== 0) console.log(`the ${run.kind} client still held ${run.clientActive} calls`);
process.exitCode = result.cancelsSeenAsEnds.length + result.endsSeenAsCancels.length === 0 ? 0 : 1;
