/**
 * Rendering cost of a template override folder: the plugin's run() on the
 * 200-file, 2,000-method corpus of bench/codegen.ts, in process, without and
 * with test/templates/team, in alternating runs. Reports medians and the
 * ratio with / without.
 *
 *   npx tsx bench/templates.ts [--runs N]
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { run } from "../plugin/plugin.js";
import { loadPluginFiles } from "../plugin/plugin-files.js";
import { median } from "./suite/stats.js";

const ROOT = resolve(import.meta.dirname, "..");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 9;
const corpus = join(ROOT, ".tmp/bench-codegen/corpus");

// The corpus is written by bench/codegen.ts; write it if it is not there.
const image = join(ROOT, ".tmp/bench-templates.binpb");
let built = spawnSync(join(ROOT, "node_modules/.bin/buf"), ["build", corpus, "-o", image], { encoding: "utf8" });
if (built.status !== 0) {
  spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/codegen.ts"), "--runs", "1"], { stdio: "ignore" });
  built = spawnSync(join(ROOT, "node_modules/.bin/buf"), ["build", corpus, "-o", image], { encoding: "utf8" });
}
if (built.status !== 0) throw new Error(built.stderr);
const set = fromBinary(FileDescriptorSetSchema, readFileSync(image));
const names = set.file.map((f) => f.name).filter((n) => !n.startsWith("google/"));
const request = (parameter: string) =>
  create(CodeGeneratorRequestSchema, { fileToGenerate: names, parameter, protoFile: set.file });

const plain = request("importSuffix=.js");
const team = request(`importSuffix=.js,templates=${join(ROOT, "test/templates/team")}`);

function time(req: ReturnType<typeof request>): number {
  const start = process.hrtime.bigint();
  const files = run(req, loadPluginFiles()).file.length;
  if (files !== names.length) throw new Error(`expected ${names.length} files, got ${files}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

time(plain);
time(team);
const without: number[] = [];
const withOverride: number[] = [];
for (let i = 0; i < RUNS; i++) {
  without.push(time(plain));
  withOverride.push(time(team));
}
const fmt = (v: number[]) => `${median(v).toFixed(0)} ms (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`;
console.log(`corpus: ${names.length} files; ${RUNS} alternating runs each, in process`);
console.log(`built-in templates  median ${fmt(without)}`);
console.log(`with test/templates/team  median ${fmt(withOverride)}`);
console.log(`ratio with / without (medians): ${(median(withOverride) / median(without)).toFixed(3)}`);
