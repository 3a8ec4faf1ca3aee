/**
 * What installing leaksafe adds to a service, measured as a user meets it:
 * the two packages packed with `npm pack`, then `npm install` in clean
 * folders. Sizes are the apparent bytes of every file under node_modules;
 * packages are the folders there with a package.json.
 *
 *   npx tsx bench/install-size.ts
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { packBoth } from "../test/package/packed.js";
import { ROOT } from "../test/support/generate.js";

const WORK = join(ROOT, ".tmp/bench-install");

function install(name: string, packages: string[]): { bytes: number; packages: number } {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true }));
  const r = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...packages], {
    cwd: dir,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`npm install ${packages.join(" ")} failed:\n${r.stderr}`);
  return measure(join(dir, "node_modules"));
}

function measure(dir: string): { bytes: number; packages: number } {
  let bytes = 0;
  let packages = 0;
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        bytes += statSync(path).size;
        if (entry.name === "package.json" && isPackageRoot(folder)) packages++;
      }
    }
  };
  walk(dir);
  return { bytes, packages };
}

/** node_modules/name or node_modules/@scope/name, at any depth. */
function isPackageRoot(folder: string): boolean {
  const parent = basename(dirname(folder));
  return parent === "node_modules" || (parent.startsWith("@") && basename(dirname(dirname(folder))) === "node_modules");
}

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const { runtime, plugin } = packBoth(WORK);
const rows: Array<[string, { bytes: number; packages: number }]> = [
  ["@grpc/grpc-js alone", install("grpc", ["@grpc/grpc-js"])],
  ["leaksafe + @grpc/grpc-js", install("runtime", [runtime.tarball, "@grpc/grpc-js"])],
  [
    "the README's runtime line (leaksafe, @grpc/grpc-js, @bufbuild/protobuf)",
    install("runtime-line", [runtime.tarball, "@grpc/grpc-js", "@bufbuild/protobuf"]),
  ],
  ["protoc-gen-leaksafe alone (dev)", install("plugin", [plugin.tarball])],
  ["ts-proto alone (dev)", install("ts-proto", ["ts-proto"])],
];
const base = rows[0]?.[1].bytes ?? 1;
const mb = (n: number): string => (n / 1e6).toFixed(2);
console.log("| install | packages | MB | × @grpc/grpc-js alone |");
console.log("|---|---|---|---|");
for (const [name, size] of rows) {
  console.log(`| ${name} | ${size.packages} | ${mb(size.bytes)} | ${(size.bytes / base).toFixed(3)} |`);
}
rmSync(WORK, { recursive: true, force: true });
