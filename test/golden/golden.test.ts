/**
 * The golden suite: tricky protos generated with buf and with protoc. Both
 * must give the same files, match the checked-in expectations, and pass the
 * strict type-check together with ts-proto's output.
 * Run with UPDATE_GOLDEN=1 to rewrite the expectations after a deliberate change.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import {
  bufGenerate,
  protocGenerate,
  ROOT,
  readTree,
  removeDir,
  TS_PROTO_OPTS,
  tempDir,
  typeCheck,
} from "../support/generate.js";

const PROTO = join(ROOT, "test/golden/proto");
const EXPECTED = join(ROOT, "test/golden/expected");
const OPTS = ["importSuffix=.js", "elide_plugin_version=true"];

let bufOut: string;
let protocOut: string;

before(() => {
  bufOut = tempDir("golden-buf");
  protocOut = tempDir("golden-protoc");
  const b = bufGenerate(PROTO, bufOut, OPTS);
  assert.equal(b.status, 0, `buf generate failed: ${b.stderr}`);
  const p = protocGenerate(PROTO, protocOut, OPTS);
  assert.equal(p.status, 0, `protoc failed: ${p.stderr}`);
});

after(() => {
  removeDir(bufOut);
  removeDir(protocOut);
});

test("buf and protoc generate identical files", () => {
  const fromBuf = readTree(bufOut, "_leaksafe.ts");
  const fromProtoc = readTree(protocOut, "_leaksafe.ts");
  assert.deepEqual([...fromProtoc.keys()], [...fromBuf.keys()]);
  for (const [path, content] of fromBuf) {
    assert.equal(fromProtoc.get(path), content, `${path} differs between buf and protoc`);
  }
});

test("buf's strategy: all gives the same files as strategy: directory", () => {
  const out = tempDir("golden-strategy-all");
  try {
    const r = bufGenerate(PROTO, out, OPTS, TS_PROTO_OPTS, "all");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readTree(out, "_leaksafe.ts"), readTree(bufOut, "_leaksafe.ts"));
  } finally {
    removeDir(out);
  }
});

test("the output matches the checked-in expectations", () => {
  const actual = readTree(bufOut, "_leaksafe.ts");
  if (process.env.UPDATE_GOLDEN === "1") {
    rmSync(EXPECTED, { recursive: true, force: true });
    for (const [path, content] of actual) {
      mkdirSync(dirname(join(EXPECTED, path)), { recursive: true });
      writeFileSync(join(EXPECTED, path), content);
    }
  }
  const expected = readTree(EXPECTED, "_leaksafe.ts");
  assert.deepEqual([...actual.keys()], [...expected.keys()], "the set of generated files changed");
  for (const [path, content] of actual) {
    assert.equal(content, expected.get(path), `${path} differs from test/golden/expected`);
  }
});

test("only files that declare services get output", () => {
  const files = [...readTree(bufOut, "_leaksafe.ts").keys()];
  assert.ok(!files.includes("empty/v1/no_services_leaksafe.ts"));
  assert.ok(files.includes("emptyservice/v1/empty_service_leaksafe.ts"));
  assert.ok(files.includes("nopackage_leaksafe.ts"));
});

test("the generated code type-checks with ts-proto's under strict settings", () => {
  const r = typeCheck(bufOut);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("method names are spelled as ts-proto's grpc-js output spells them", () => {
  const out = tempDir("golden-tsproto-grpc");
  try {
    const opts = TS_PROTO_OPTS.map((o) => (o === "outputServices=false" ? "outputServices=grpc-js" : o));
    const r = bufGenerate(PROTO, out, OPTS, opts);
    assert.equal(r.status, 0, r.stderr);
    const theirs = pathsToNames(readTree(out, ".ts"), /^\s+(\w+): \{\s*\n\s+path: "([^"]+)"/gm);
    const ours = pathsToNames(readTree(bufOut, "_leaksafe.ts"), /^\s+([\w$]+): \{\s*\n\s+path: "([^"]+)"/gm);
    assert.ok(ours.size > 100, "expected the golden protos to declare many methods");
    for (const [path, name] of ours) {
      // leaksafe appends `$` to names that would shadow a client member.
      assert.equal(name.replace(/\$$/, ""), theirs.get(path), `method ${path}`);
    }
  } finally {
    removeDir(out);
  }
});

test("a message named like a client member or an export does not shadow it", () => {
  const clash = readTree(bufOut, "_leaksafe.ts").get("clash/v1/clash_leaksafe.ts") ?? "";
  assert.match(clash, /^import \{\n {2}AsyncIterable as AsyncIterable\$,\n {2}ChatClient as ChatClient\$,\n/m);
  assert.match(clash, /^ {2}close\$: \{/m);
  assert.match(clash, /^ {2}then\$\(/m);
  assert.match(clash, /^ {2}getChannel\$: \{/m);
  assert.match(
    clash,
    /^ {2}getChannel\$\(request: Metadata, options\?: \$leaksafe\.CallOptions\): Promise<ChatClient\$>;/m,
  );
  assert.match(clash, /^export interface ChatClient extends \$leaksafe\.ClientBase/m);
});

test("import lists are laid out as the formatter lays them out, one name a line when too long", () => {
  const biome = join(ROOT, "node_modules/.bin/biome");
  let wrapped = 0;
  for (const [path, content] of readTree(bufOut, "_leaksafe.ts")) {
    const imports = `${(content.match(/^import [^;]*;$/gm) ?? []).join("\n")}\n`;
    // Biome with this repository's biome.json, so its lineWidth.
    const r = spawnSync(biome, ["format", "--stdin-file-path=imports.ts"], {
      cwd: ROOT,
      input: imports,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(imports, r.stdout, `${path}: the imports are not laid out as biome lays them out`);
    wrapped += (imports.match(/^import \{\n/gm) ?? []).length;
  }
  assert.ok(wrapped > 0, "expected a golden file with an import list too long for one line");
});

test("each descriptor's opening line and $fileDescriptors are laid out as the formatter lays them out", () => {
  const biome = join(ROOT, "node_modules/.bin/biome");
  let wrapped = 0;
  for (const [path, content] of readTree(bufOut, "_leaksafe.ts")) {
    const openings = content.match(/^export const \w+ = \$leaksafe\.defineService<[^>]*>\([^)]*\)\(\{$/gm) ?? [];
    assert.ok(openings.length > 0, `${path}: no descriptor found`);
    const descriptors = content.slice(content.indexOf("/**\n * For server reflection"));
    // Each opening with a stand-in body, then the function that ends the file.
    const code = `${openings.map((opening) => `${opening}\n  x: 1,\n});\n\n`).join("")}${descriptors}`;
    const r = spawnSync(biome, ["format", "--stdin-file-path=descriptors.ts"], {
      cwd: ROOT,
      input: code,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(code, r.stdout, `${path}: not laid out as biome lays it out`);
    wrapped += openings.filter((opening) => opening.includes("\n")).length;
  }
  assert.ok(wrapped > 0, "expected a golden file with a descriptor opening too long for one line");
});

test("comments become JSDoc that cannot be closed early", () => {
  const file = readTree(bufOut, "_leaksafe.ts").get("comments/v1/comments_leaksafe.ts") ?? "";
  assert.match(file, /\* A line comment that tries to end the JSDoc early: \*\\\/ alert\("oops"\); \/\*/);
  assert.match(file, /This method is going away\.\n\s+\* @deprecated/);
  assert.doesNotMatch(file, /alert\("oops"\); \/\*\n\s+\*\//, "the comment must not end on the user's */");
});

function pathsToNames(files: Map<string, string>, pattern: RegExp): Map<string, string> {
  const names = new Map<string, string>();
  for (const content of files.values()) {
    for (const m of content.replaceAll("'", '"').matchAll(pattern)) {
      names.set(m[2] as string, m[1] as string);
    }
  }
  return names;
}
