/**
 * Bad input gets a precise message, a non-zero exit and no files: through
 * the real bin under buf, and through the pure `run` in-process.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { bufGenerate, listFiles, removeDir, tempDir } from "../support/generate.js";

let work: string;
let module: string;

before(() => {
  work = tempDir("bad-input");
  module = join(work, "proto");
  mkdirSync(join(module, "demo/v1"), { recursive: true });
  writeFileSync(join(module, "buf.yaml"), "version: v2\n");
  writeFileSync(
    join(module, "demo/v1/echo.proto"),
    'syntax = "proto3";\npackage demo.v1;\nmessage Msg { string text = 1; }\nservice Echo { rpc Say(Msg) returns (Msg); }\n',
  );
});

after(() => removeDir(work));

/** Runs buf with ts-proto and leaksafe, and asserts failure with `message` and an empty output folder. */
function assertFails(leaksafeOpts: string[], message: RegExp, moduleDir = module): void {
  const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
  const r = bufGenerate(moduleDir, out, leaksafeOpts);
  assert.notEqual(r.status, 0, "generation should fail");
  assert.match(r.stderr, message);
  assert.deepEqual(existsSync(out) ? listFiles(out, "") : [], [], "no file may be written");
}

describe("plugin options", () => {
  test("an unknown option names the key and lists the known ones", () => {
    assertFails(["importSufix=.js"], /invalid option "importSufix": unknown option; known options are runtime_import,/);
  });

  test("a bad boolean value", () => {
    assertFails(
      ["elide_plugin_version=maybe"],
      /invalid option "elide_plugin_version": expected true or false, got "maybe"/,
    );
  });

  test("a runtime_import that is not a module specifier", () => {
    assertFails(["runtime_import=my lib"], /invalid option "runtime_import": "my lib" is not a valid module specifier/);
  });

  test("an option given twice", () => {
    assertFails(["fileSuffix=.pb", "fileSuffix=.x"], /invalid option "fileSuffix": given more than once/);
  });

  test("a bad snakeToCamel value", () => {
    assertFails(
      ["snakeToCamel=upper"],
      /invalid option "snakeToCamel": expected true, false, keys, json or keys_json, got "upper"/,
    );
  });

  test("a templates folder that does not exist", () => {
    assertFails(["templates=/no/such/folder"], /invalid option "templates": "\/no\/such\/folder" is not a folder/);
  });
});

test("a proto that fails to compile surfaces buf's error and writes nothing", () => {
  const broken = join(work, "broken");
  mkdirSync(join(broken, "demo/v1"), { recursive: true });
  writeFileSync(join(broken, "buf.yaml"), "version: v2\n");
  writeFileSync(
    join(broken, "demo/v1/broken.proto"),
    'syntax = "proto3";\npackage demo.v1;\nservice Broken { rpc Say(Missing) returns (Missing); }\n',
  );
  assertFails([], /broken\.proto:3:26:cannot find `Missing`/, broken);
});

test("a broken template names the template and writes nothing", () => {
  const templates = join(work, "templates");
  mkdirSync(templates, { recursive: true });
  writeFileSync(join(templates, "service.hbs"), "{{#each methods}}\n{{name}}\n");
  assertFails(
    [`templates=${templates}`],
    /templates\/service\.hbs:3:1: syntax error: Expecting 'OPEN_INVERSE_CHAIN', 'INVERSE', 'OPEN_ENDBLOCK', got 'EOF'/,
  );
});

test("a template that names a missing partial fails with its name", () => {
  const templates = join(work, "templates-missing");
  mkdirSync(templates, { recursive: true });
  writeFileSync(join(templates, "header.hbs"), "{{> no-such-partial}}\n");
  assertFails(
    [`templates=${templates}`],
    /templates-missing\/header\.hbs:1:5: partial "no-such-partial" does not exist/,
  );
});

test("a good run writes the file, so the failures above are not an empty module's", () => {
  const out = join(work, "good");
  const r = bufGenerate(module, out, ["importSuffix=.js"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(listFiles(out, "_leaksafe.ts"), ["demo/v1/echo_leaksafe.ts"]);
});
