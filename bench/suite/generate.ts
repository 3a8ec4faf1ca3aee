/**
 * Generates the bench service for the peers that need their own code: ts-proto's
 * grpc-js stubs, ts-proto's nice-grpc definitions, and protoc-gen-es for
 * connect-es. leaksafe's own stubs are generated-example/bench.
 */
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
export const GEN = join(ROOT, ".tmp/bench-gen");

function bufGenerate(plugin: string[], out: string, opt: string[]): void {
  const template = { version: "v2", plugins: [{ local: plugin, out, opt }] };
  const r = spawnSync(
    join(ROOT, "node_modules/.bin/buf"),
    ["generate", join(ROOT, "proto"), "--path", join(ROOT, "proto/bench"), "--template", JSON.stringify(template)],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(r.stderr);
}

export function generatePeers(): void {
  const tsProto = ["node", join(ROOT, "node_modules/ts-proto/protoc-gen-ts_proto")];
  const common = ["importSuffix=.js", "esModuleInterop=true"];
  bufGenerate(tsProto, join(GEN, "tsproto"), ["outputServices=grpc-js", ...common]);
  bufGenerate(tsProto, join(GEN, "nice"), [
    "outputServices=nice-grpc",
    "outputServices=generic-definitions",
    "useExactTypes=false",
    ...common,
  ]);
  bufGenerate(["node", join(ROOT, "node_modules/@bufbuild/protoc-gen-es/bin/protoc-gen-es")], join(GEN, "es"), [
    "target=ts",
    "import_extension=js",
  ]);
}
