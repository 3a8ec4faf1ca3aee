/**
 * Code generation speed on one synthetic corpus of 200 files and 2,000
 * methods, like for like: the messages and grpc-js services that a
 * leaksafe user generates (ts-proto with outputServices=false, plus
 * leaksafe) against ts-proto generating both itself
 * (outputServices=grpc-js). Every plugin gets the CodeGeneratorRequest on
 * stdin, as buf and protoc give it, in alternating runs; the report is each
 * run's median wall time, process start included, and the ratio of the two
 * totals.
 *
 *   npm run build && npx tsx bench/codegen.ts [--runs N] [--files N]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { median } from "./suite/stats.js";

const ROOT = resolve(import.meta.dirname, "..");
const WORK = join(ROOT, ".tmp/bench-codegen");
const numberArg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const FILES = numberArg("--files", 200);
const METHODS_PER_FILE = 10;
const RUNS = numberArg("--runs", 7);

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

/** ts-proto's options as buf.gen.yaml gives them, with its services on or off. */
const tsProtoOptions = (services: "false" | "grpc-js"): string =>
  `outputServices=${services},importSuffix=.js,esModuleInterop=true`;

mkdirSync(WORK, { recursive: true });
const corpus = join(WORK, "corpus");
const names = writeCorpus(corpus);
const plugins = {
  leaksafe: ["node", join(ROOT, "plugin/dist/plugin/bin.js")],
  tsProto: ["node", join(ROOT, "node_modules/ts-proto/protoc-gen-ts_proto")],
};
const runs = [
  {
    name: "ts-proto, messages (outputServices=false)",
    plugin: plugins.tsProto,
    input: request(corpus, names, tsProtoOptions("false")),
  },
  { name: "leaksafe, grpc-js services", plugin: plugins.leaksafe, input: request(corpus, names, "importSuffix=.js") },
  {
    name: "ts-proto, messages and grpc-js services (outputServices=grpc-js)",
    plugin: plugins.tsProto,
    input: request(corpus, names, tsProtoOptions("grpc-js")),
  },
].map((r) => ({ ...r, times: [] as number[] }));
for (let i = 0; i < RUNS; i++) {
  for (const r of runs) r.times.push(timeRun(r.plugin, r.input));
}
const [messages, leaksafe, tsProtoBoth] = runs.map((r) => median(r.times)) as [number, number, number];
const fmt = (v: number[]): string =>
  `${median(v).toFixed(0)} ms (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`;
const width = Math.max(...runs.map((r) => r.name.length));
console.log(
  `corpus: ${FILES} files, ${FILES * METHODS_PER_FILE} methods; ${RUNS} alternating run${RUNS === 1 ? "" : "s"} each; medians, min–max`,
);
for (const r of runs) console.log(`${r.name.padEnd(width)}  ${fmt(r.times)}`);
console.log(
  `messages + services, with leaksafe (ts-proto messages + leaksafe, two plugin processes): ${(messages + leaksafe).toFixed(0)} ms`,
);
console.log(`messages + services, ts-proto alone (one plugin process): ${tsProtoBoth.toFixed(0)} ms`);
console.log(`ratio with leaksafe / ts-proto alone: ${((messages + leaksafe) / tsProtoBoth).toFixed(3)}`);
console.log(
  `services alone: leaksafe ${leaksafe.toFixed(0)} ms; ts-proto's grpc-js services add ${(tsProtoBoth - messages).toFixed(0)} ms to its messages (difference of medians)`,
);
