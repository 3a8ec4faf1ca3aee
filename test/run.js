// Runs every *.test.ts below test/ with node:test, through tsx, then writes
// the fault matrix's results table from the rows its tests recorded.
// Usage: node test/run.js [filter]   (a filter keeps paths that contain it)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROWS = ".tmp/fault-rows";
const filter = process.argv[2] ?? "";
const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith(".test.ts") && path.includes(filter)) files.push(path);
  }
};
walk("test");
files.sort();
if (files.length === 0) {
  console.error(`no test files match "${filter}"`);
  process.exit(1);
}
rmSync(ROWS, { recursive: true, force: true });
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
});
writeFaultResults();
process.exit(result.status ?? 1);

function writeFaultResults() {
  if (!existsSync(ROWS)) return;
  const rows = readdirSync(ROWS)
    .flatMap((f) => readFileSync(join(ROWS, f), "utf8").trim().split("\n"))
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line))
    .sort((a, b) => (a.scenario < b.scenario ? -1 : 1));
  const cell = (s) => String(s).replaceAll("|", "\\|");
  const lines = [
    "# Fault matrix results",
    "",
    "Written by `node test/run.js faults` from the rows the fault tests record; every row is a test that passed.",
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
  writeFileSync("test/faults/RESULTS.md", lines.join("\n"));
  console.log(`wrote test/faults/RESULTS.md (${rows.length} rows)`);
}
