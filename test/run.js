// Runs every *.test.ts below test/ with node:test, through tsx, then writes
// the fault matrix's results table from the rows its tests recorded to
// .tmp/fault-results.md, which git ignores: a run never rewrites a tracked file.
// Usage: node test/run.js [filter ...]   (a path is kept if it contains any filter)
//        UPDATE_RESULTS=1 node test/run.js faults   also rewrites the tracked
//        test/faults/RESULTS.md, only when every fault test ran and passed
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROWS = ".tmp/fault-rows";
const RESULTS = ".tmp/fault-results.md";
const TRACKED_RESULTS = "test/faults/RESULTS.md";
const filters = process.argv.length > 2 ? process.argv.slice(2) : [""];
const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith(".test.ts") && filters.some((f) => path.includes(f))) files.push(path);
  }
};
walk("test");
files.sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.map((f) => `"${f}"`).join(" or ")}`);
  process.exit(1);
}
rmSync(ROWS, { recursive: true, force: true });
// A test file that fails with a server still open would otherwise never
// exit: --test-force-exit ends each file once its tests are done (leaks are
// asserted by the tests' own leak checks), and no test may hang past 5 min.
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    // The same report on every Node: from 23 on, the default is "spec" even into a pipe.
    ...(process.stdout.isTTY ? [] : ["--test-reporter=tap"]),
    "--test-concurrency=2",
    "--test-force-exit",
    "--test-timeout=300000",
    ...files,
  ],
  { stdio: "inherit" },
);
const table = faultResults();
if (table !== undefined) {
  mkdirSync(".tmp", { recursive: true });
  writeFileSync(RESULTS, table.text);
  console.log(`wrote ${RESULTS} (${table.rows} rows)`);
  if (process.env.UPDATE_RESULTS === "1") updateTrackedResults(table.text, result.status === 0);
}
process.exit(result.status ?? 1);

/** Copies the table to the tracked file, but only from a run of every fault test that passed. */
function updateTrackedResults(text, passed) {
  const missing = readdirSync("test/faults")
    .filter((name) => name.endsWith(".test.ts"))
    .map((name) => join("test/faults", name))
    .filter((path) => !files.includes(path));
  if (!passed || missing.length > 0) {
    const why = passed ? `these fault tests did not run: ${missing.join(", ")}` : "the run failed";
    console.error(`UPDATE_RESULTS=1: ${TRACKED_RESULTS} left as it was, because ${why}`);
    return;
  }
  writeFileSync(TRACKED_RESULTS, text);
  console.log(`wrote ${TRACKED_RESULTS}`);
}

/** The results table from the rows the fault tests recorded, or undefined when none ran. */
function faultResults() {
  if (!existsSync(ROWS)) return undefined;
  const rows = readdirSync(ROWS)
    .flatMap((f) => readFileSync(join(ROWS, f), "utf8").trim().split("\n"))
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line))
    .sort((a, b) => (a.scenario < b.scenario ? -1 : 1));
  const cell = (s) => String(s).replaceAll("|", "\\|");
  const lines = [
    "# Fault matrix results",
    "",
    "Written by `UPDATE_RESULTS=1 node test/run.js faults` from the rows the fault tests record; every row is a test that passed.",
    "Times are from the fault to the moment the later of the two sides noticed it.",
    "",
    "| scenario | outcome | time to detect | bound | leaked |",
    "|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${cell(r.scenario)} | ${cell(r.outcome)} | ${r.detectMs === "n/a" ? "n/a" : `${r.detectMs} ms`} | ${r.boundMs === "n/a" ? "n/a" : `${r.boundMs} ms`} | ${cell(r.leaked)} |`,
    ),
    "",
  ];
  return { text: lines.join("\n"), rows: rows.length };
}
