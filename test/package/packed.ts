/**
 * The two packages as users get them: `npm pack` of each workspace (which
 * runs its `prepack` build), and what each tarball holds.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../support/generate.js";

export interface Packed {
  /** The tarball's absolute path. */
  tarball: string;
  /** Every path in the tarball, without the leading `package/`. */
  files: string[];
  manifest: Record<string, unknown>;
}

/** Runs a command, fails the test with its output if it exits non-zero, and returns its stdout. */
export function sh(command: string, cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync("bash", ["-c", command], { cwd, encoding: "utf8", env });
  assert.equal(r.status, 0, `${command} (in ${cwd}) failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The repository's files that packing reads; never its builds or node_modules. */
const SOURCES = ["package.json", "tsconfig.json", "runtime", "plugin", "templates"];

/**
 * Packs the runtime and the plugin into `dest`. Each package's prepack
 * builds it from an empty dist/, so packing runs in a copy of the sources:
 * in the repository it would pull the plugin's build from under the tests
 * that run beside this one.
 */
export function packBoth(dest: string): { runtime: Packed; plugin: Packed } {
  const source = join(dest, "source");
  for (const entry of SOURCES) {
    cpSync(join(ROOT, entry), join(source, entry), {
      recursive: true,
      filter: (path) => !/[/\\](dist|node_modules)$/.test(path),
    });
  }
  symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"));
  const names = sh(`npm pack -w runtime -w plugin --pack-destination '${dest}' --silent`, source).trim().split("\n");
  const packed = (name: string): Packed => {
    const file = names.find((n) => n.startsWith(`${name}-`) && n.endsWith(".tgz"));
    assert.ok(file, `npm pack made no tarball for ${name}: ${names.join(", ")}`);
    const tarball = join(dest, file);
    const files = sh(`tar -tzf '${tarball}'`, dest)
      .trim()
      .split("\n")
      .map((f) => f.replace(/^package\//, ""));
    const manifest = JSON.parse(sh(`tar -xzOf '${tarball}' package/package.json`, dest)) as Record<string, unknown>;
    return { tarball, files, manifest };
  };
  return { runtime: packed("leaksafe"), plugin: packed("protoc-gen-leaksafe") };
}

/** The relative link targets of a Markdown text, anchors and URLs left out. */
export function relativeLinks(markdown: string): string[] {
  const targets = [...markdown.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? "");
  return targets.filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith("#")).map((t) => t.replace(/#.*$/, ""));
}

/** The lines of the README's fenced block in `lang` whose first line is `first`, that line left out. */
export function readmeBlock(lang: string, first: string): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`\`\`\`${lang}\n${first}\n`);
  assert.ok(start >= 0, `README.md has no ${lang} block that starts with ${first}`);
  const body = readme.slice(start + lang.length + first.length + 5);
  return body.slice(0, body.indexOf("```")).trimEnd().split("\n");
}
