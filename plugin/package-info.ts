/**
 * Where the plugin's package lives, its version, and its stock templates.
 * The plugin runs from `plugin/` under tsx and from `plugin/dist/plugin/`
 * when built, so both walk up to the package.json named
 * "protoc-gen-leaksafe". The packed package carries its templates in its own
 * folder; in the repository they sit at the top, beside `plugin/`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface PackageInfo {
  version: string;
  templatesDir: string;
}

const PACKAGE_NAME = "protoc-gen-leaksafe";

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
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === "string") {
        const packed = join(dir, "templates");
        const templatesDir = existsSync(packed) ? packed : join(dir, "..", "templates");
        cached = { version: pkg.version, templatesDir };
        return cached;
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package.json above the plugin`);
    }
    dir = parent;
  }
}
