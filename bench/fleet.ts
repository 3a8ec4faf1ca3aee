/**
 * The fleet at full size: three replica processes behind one round_robin
 * client, 200 resumable watches and a steady flow of unary calls whose
 * handler takes 30 ms, through a rolling SIGTERM restart and a SIGKILL
 * (test/fleet/fleet.ts). Run once with a stream age, and once with a
 * connection age alone, to show which of them rebalances the watches.
 * Prints a Markdown section for bench/RESULTS.md.
 *
 * Run: TSX_TSCONFIG_PATH=bench/tsconfig.json npx tsx bench/fleet.ts [watches]
 */
import { type FleetOptions, type FleetReport, runFleet } from "../test/fleet/fleet.js";

const watches = Number(process.argv[2] ?? 200);
const base: Omit<FleetOptions, "ageMs" | "ageGraceMs" | "streamAgeMs"> = {
  replicas: 3,
  watches,
  tickMs: 10,
  postMs: 30,
  postEveryMs: 20,
  settleMs: 3000,
  balanceLimitMs: 60_000,
  observeMs: 20_000,
  log: (line) => process.stderr.write(`${line}\n`),
};
const runs: Array<[string, FleetOptions]> = [
  ["stream age 3 s; connection age 5 s, grace 4 s", { ...base, streamAgeMs: 3000, ageMs: 5000, ageGraceMs: 4000 }],
  ["connection age 3 s, grace 500 ms, no stream age", { ...base, streamAgeMs: 0, ageMs: 3000, ageGraceMs: 500 }],
];

const share = watches / 3;
const isEven = (split: number[]): boolean => split.every((n) => Math.abs(n - share) <= share * 0.2);
const even = (split: number[]): string => `${split.join(", ")} (${isEven(split) ? "within" : "outside"} ±20 %)`;

console.log(`## Fleet\n`);
console.log(
  `\`bench/fleet.ts\`, run alone on ${new Date().toISOString().slice(0, 10)}: 3 replica processes on loopback, ${watches} resumable watches over one clock-driven feed (a revision every 10 ms), one round_robin client with \`unaryRetry\`, and a unary call every 20 ms whose handler takes 30 ms. A rolling SIGTERM restart (health NOT_SERVING first, grace 2 s), then a SIGKILL of one replica and its restart.\n`,
);
for (const [name, options] of runs) {
  const report: FleetReport = await runFleet(options);
  console.log(`### ${name}\n`);
  console.log(
    `- events: ${report.events.toLocaleString("en")}; lost ${report.lost}, repeated ${report.repeated}; watches that failed instead of resuming: ${report.watchesFailed.length}`,
  );
  console.log(
    `- split when the watches started (after one warm-up call on their client): ${report.startSplit.join(", ")}`,
  );
  console.log(
    `- split two ages after the rolling restart: ${even(report.balancedAfterRestart)}; first within ±20 % after ${report.rebalancedAfterRestart.afterMs ?? "—"} ms`,
  );
  console.log(
    `- split two ages after the SIGKILL: ${even(report.balancedAfterKill)}; first within ±20 % after ${report.rebalancedAfterKill.afterMs ?? "—"} ms`,
  );
  for (const phase of ["after restart", "after sigkill"] as const) {
    // A watch between two attempts is on no replica for its backoff: each
    // sample is judged against an even share of the watches placed then.
    const samples = report.splits.filter((x) => x.phase === phase && !x.split.includes(-1));
    const within = samples.filter(({ split }) => {
      const placed = split.reduce((a, b) => a + b, 0) / split.length;
      return split.every((n) => Math.abs(n - placed) <= placed * 0.2);
    }).length;
    console.log(
      `- samples ${phase}, every 250 ms, each replica within ±20 % of an even share of the watches placed: ${within} of ${samples.length}`,
    );
  }
  console.log(
    `- shutdowns: ${report.shutdowns.map(({ replica, report: r }) => `replica ${replica} finished ${r?.finished ?? "?"}, forced ${r?.forced.length ?? "?"}`).join("; ")}\n`,
  );
  console.log("| phase | unary calls | failed | p50 ms | p99 ms |");
  console.log("|---|---|---|---|---|");
  for (const [phase, u] of Object.entries(report.unary)) {
    console.log(`| ${phase} | ${u.calls} | ${u.failed} | ${u.p50} | ${u.p99} |`);
  }
  const timeline = report.splits
    .filter((_, i) => i % 8 === 0)
    .map((s) => `${(s.atMs / 1000).toFixed(1)} s ${s.phase}: ${s.split.join("/")}`);
  console.log(`\nThe split over time (every 2 s): ${timeline.join("; ")}\n`);
}
