/**
 * Code generation speed: leaksafe against ts-proto on one synthetic corpus
 * of 200 files and 2,000 methods. Both plugins get the same
 * CodeGeneratorRequest on stdin, as buf and protoc give it, in alternating
 * runs; the report is the median wall time of each and their ratio.
 *
 *   npm run build && npx tsx bench/codegen.ts [--runs N]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { median } from "./suite/stats.js";

const ROOT = resolve(import.meta.dirname, "..");
const WORK = join(ROOT, ".tmp/bench-codegen");
const FILES = 200;
const METHODS_PER_FILE = 10;
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7;

/** Writes the corpus: each file has one service of 10 methods, and imports its predecessor. */
function writeCorpus(dir: string): string[] {
  rmSync(dir, { recursive: true, force: true });
  const names: string[] = [];
  for (let f = 0; f < FILES; f++) {
    const pkg = `bench.p${Math.floor(f / 20)}.v1`;
    const name = `p${Math.floor(f / 20)}/v1/file${f}.proto`;
    const lines = ['syntax = "proto3";', `package ${pkg};`, 'import "google/protobuf/timestamp.proto";'];
    if (f > 0) lines.push(`import "p${Math.floor((f - 1) / 20)}/v1/file${f - 1}.proto";`);
    for (let m = 0; m < METHODS_PER_FILE; m++) {
      lines.push(
        `message Req${f}_${m} { string id = 1; int64 n = 2; repeated string tags = 3; google.protobuf.Timestamp at = 4;`,
        `  message Inner { bytes data = 1; map<string, int32> counts = 2; } Inner inner = 5; }`,
        `message Res${f}_${m} { string id = 1; double score = 2; optional string note = 3; }`,
      );
    }
    lines.push(`// Service number ${f}.`, `service Service${f} {`);
    for (let m = 0; m < METHODS_PER_FILE; m++) {
      // Method 0 takes the previous file's request, from another file and, every 20 files, another package.
      const reqType = m === 0 && f > 0 ? `bench.p${Math.floor((f - 1) / 20)}.v1.Req${f - 1}_0` : `Req${f}_${m}`;
      const req = `${m % 4 >= 2 ? "stream " : ""}${reqType}`;
      const res = `${m % 2 === 1 ? "stream " : ""}Res${f}_${m}`;
      lines.push(`  // Method ${m} of service ${f}.`, `  rpc Method${m}(${req}) returns (${res});`);
    }
    lines.push("}");
    mkdirSync(join(dir, `p${Math.floor(f / 20)}/v1`), { recursive: true });
    writeFileSync(join(dir, name), `${lines.join("\n")}\n`);
    names.push(name);
  }
  writeFileSync(join(dir, "buf.yaml"), "version: v2\n");
  return names;
}

function request(corpus: string, names: string[], parameter: string): Uint8Array {
  const image = join(WORK, "image.binpb");
  const r = spawnSync(join(ROOT, "node_modules/.bin/buf"), ["build", corpus, "-o", image], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(image));
  return toBinary(
    CodeGeneratorRequestSchema,
    create(CodeGeneratorRequestSchema, { fileToGenerate: names, parameter, protoFile: set.file }),
  );
}

function timeRun(command: string[], input: Uint8Array): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(command[0] as string, command.slice(1), { input, maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${command.join(" ")} failed: ${r.stderr.toString()}`);
  return ms;
}

mkdirSync(WORK, { recursive: true });
const names = writeCorpus(join(WORK, "corpus"));
const ours = request(join(WORK, "corpus"), names, "importSuffix=.js");
const theirs = request(join(WORK, "corpus"), names, "outputServices=false,importSuffix=.js,esModuleInterop=true");
const leaksafe: number[] = [];
const tsProto: number[] = [];
for (let i = 0; i < RUNS; i++) {
  leaksafe.push(timeRun(["node", join(ROOT, "dist/plugin/bin.js")], ours));
  tsProto.push(timeRun(["node", join(ROOT, "node_modules/ts-proto/protoc-gen-ts_proto")], theirs));
}
const fmt = (v: number[]): string =>
  `${median(v).toFixed(0)} ms (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`;
console.log(`corpus: ${FILES} files, ${FILES * METHODS_PER_FILE} methods; ${RUNS} alternating runs each`);
console.log(`leaksafe  median ${fmt(leaksafe)}`);
console.log(`ts-proto  median ${fmt(tsProto)}`);
console.log(`ratio leaksafe / ts-proto (medians): ${(median(leaksafe) / median(tsProto)).toFixed(3)}`);
