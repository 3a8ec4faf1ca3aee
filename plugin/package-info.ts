/**
 * Where the installed package lives, and its version. The plugin runs from
 * `plugin/` under tsx and from `dist/plugin/` when built, so both walk up to
 * the package.json named "leaksafe".
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface PackageInfo {
  root: string;
  version: string;
}

let cached: PackageInfo | undefined;

export function packageInfo(): PackageInfo {
  if (cached !== undefined) {
    return cached;
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "leaksafe" && typeof pkg.version === "string") {
        cached = { root: dir, version: pkg.version };
        return cached;
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error("cannot find the leaksafe package.json above the plugin");
    }
    dir = parent;
  }
}
