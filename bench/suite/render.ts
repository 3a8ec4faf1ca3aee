/**
 * Draws bench/RESULTS.md and bench/results.svg again from the data that the
 * last `npm run bench` saved in bench/results.json, without running anything.
 *
 *   npx tsx bench/suite/render.ts
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { renderChart } from "./chart.js";
import { writeResults } from "./report.js";
import { loadRun } from "./saved-run.js";

const BENCH = resolve(import.meta.dirname, "..");
const { info, measurements } = loadRun(join(BENCH, "results.json"));
writeFileSync(join(BENCH, "results.svg"), await renderChart(measurements));
writeResults(join(BENCH, "RESULTS.md"), measurements, info);
console.log("wrote bench/RESULTS.md and bench/results.svg from bench/results.json");
