/**
 * Runs real code generation for tests: `buf generate` and `protoc`, each
 * with ts-proto and this repository's built plugin (`npm run build` first).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
const PLUGIN_BIN = join(ROOT, "plugin/dist/plugin/bin.js");
const TS_PROTO_BIN = join(ROOT, "node_modules/ts-proto/protoc-gen-ts_proto");
const BUF = join(ROOT, "node_modules/.bin/buf");
/** Where Debian's libprotobuf-dev puts the well-known types. */
const PROTOC_INCLUDE = "/usr/include";

export const TS_PROTO_OPTS = ["outputServices=false", "importSuffix=.js", "esModuleInterop=true"];

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A fresh folder under .tmp/ in the repository, so node_modules resolves from it. */
export function tempDir(prefix: string): string {
  const base = join(ROOT, ".tmp");
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, `${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

function run(command: string, args: string[], cwd = ROOT): RunResult {
  const r = spawnSync(command, args, { cwd, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `buf generate` of a module folder into `out`, with ts-proto and leaksafe. */
export function bufGenerate(
  moduleDir: string,
  out: string,
  leaksafeOpts: string[],
  tsProtoOpts: string[] = TS_PROTO_OPTS,
  strategy: "directory" | "all" = "directory",
): RunResult {
  const template = {
    version: "v2",
    plugins: [
      { local: ["node", TS_PROTO_BIN], out, opt: tsProtoOpts, strategy },
      { local: ["node", PLUGIN_BIN], out, opt: leaksafeOpts, strategy },
    ],
  };
  return run(BUF, ["generate", moduleDir, "--template", JSON.stringify(template)]);
}

/** `protoc` of every .proto below `protoDir` into `out`, with ts-proto and leaksafe. */
export function protocGenerate(protoDir: string, out: string, leaksafeOpts: string[]): RunResult {
  const files = listFiles(protoDir, ".proto");
  return run("protoc", [
    `-I${protoDir}`,
    `-I${PROTOC_INCLUDE}`,
    `--plugin=protoc-gen-ts_proto=${TS_PROTO_BIN}`,
    `--ts_proto_out=${out}`,
    `--ts_proto_opt=${TS_PROTO_OPTS.join(",")}`,
    `--plugin=protoc-gen-leaksafe=${PLUGIN_BIN}`,
    `--leaksafe_out=${out}`,
    ...(leaksafeOpts.length > 0 ? [`--leaksafe_opt=${leaksafeOpts.join(",")}`] : []),
    ...files,
  ]);
}

/** Type-checks every .ts file below `dir` with the project's strict settings. */
export function typeCheck(dir: string): RunResult {
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ extends: join(ROOT, "tsconfig.json"), include: ["**/*.ts"] }, null, 2),
  );
  return run(join(ROOT, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")]);
}

/** Paths of files below `dir` ending in `suffix`, relative to `dir`, sorted. */
export function listFiles(dir: string, suffix: string): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(suffix)) found.push(relative(dir, path));
    }
  };
  walk(dir);
  return found.sort();
}

/** The contents of every file below `dir` ending in `suffix`, by relative path. */
export function readTree(dir: string, suffix: string): Map<string, string> {
  return new Map(listFiles(dir, suffix).map((f) => [f, readFileSync(join(dir, f), "utf8")]));
}
