/**
 * The package's shape for `leaksafe/debug`: the export resolves to the
 * build with its types, the debug modules import nothing but Node's own
 * modules and each other, and the core `leaksafe` never imports them.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SPECIFIER =
  /(?:^|[;\s])(?:import|export)\s(?:[^"';]*?\sfrom\s*)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Every module reachable from `entry` by its imports, and every bare (non-relative) specifier met. */
function graph(entry: string): { files: Set<string>; bare: Set<string> } {
  const files = new Set<string>();
  const bare = new Set<string>();
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    for (const match of readFileSync(file, "utf8").matchAll(SPECIFIER)) {
      const spec = match[1] ?? match[2] ?? "";
      if (spec.startsWith(".")) queue.push(resolve(dirname(file), spec));
      else bare.add(spec);
    }
  }
  return { files, bare };
}

const debugEntry = fileURLToPath(import.meta.resolve("leaksafe/debug"));
const dist = dirname(debugEntry);

test("leaksafe/debug resolves to dist/debug.js, with its types beside it", () => {
  assert.equal(basename(debugEntry), "debug.js");
  assert.equal(basename(dist), "dist");
  assert.ok(existsSync(resolve(dist, "debug.d.ts")), "dist/debug.d.ts");
  const manifest = JSON.parse(readFileSync(resolve(dist, "../package.json"), "utf8")) as {
    exports: Record<string, unknown>;
  };
  assert.deepEqual(manifest.exports["./debug"], { types: "./dist/debug.d.ts", default: "./dist/debug.js" });
});

test("the debug modules import only Node's own modules, and leaksafe's core imports none of them", () => {
  const debug = graph(debugEntry);
  assert.deepEqual(
    [...debug.bare].filter((spec) => !spec.startsWith("node:")),
    [],
    "nothing but node: builtins",
  );
  assert.deepEqual([...debug.files].map((f) => basename(f)).sort(), ["debug-html.js", "debug-view.js", "debug.js"]);
  const core = graph(resolve(dist, "index.js"));
  assert.ok(core.files.size > 10, "the walk follows the core's imports");
  assert.ok(core.bare.has("@grpc/grpc-js"), "the walk sees the core's bare imports");
  assert.deepEqual(
    [...core.files].filter((f) => basename(f).startsWith("debug")),
    [],
    "leaksafe does not import leaksafe/debug",
  );
});
