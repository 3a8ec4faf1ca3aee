/**
 * Generates the interop service for every implementation under test, at
 * test time, into .tmp/: ts-proto + leaksafe stubs, and Python modules from
 * protoc (the server and client scripts add grpcio's generic handlers).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { bufGenerate, ROOT, tempDir } from "../support/generate.js";

export const INTEROP_PROTO = join(ROOT, "test/interop/proto");
/** Debian's python3-grpcio imports under this interpreter, not under another python3 on PATH. */
export const PYTHON = "/usr/bin/python3";

export interface Generated {
  dir: string;
  /** The leaksafe stubs module, to import(). */
  stubs: string;
  /** protoc-gen-es's module for connect-es, to import(). */
  es: string;
  /** The folder to put on Python's path. */
  python: string;
}

export function generateInterop(): Generated {
  const dir = tempDir("interop");
  const ts = join(dir, "ts");
  const r = bufGenerate(INTEROP_PROTO, ts, ["importSuffix=.js"]);
  assert.equal(r.status, 0, r.stderr);
  const py = join(dir, "py");
  const p = spawnSync(
    "sh",
    ["-c", `mkdir -p ${py} && protoc -I${INTEROP_PROTO} --python_out=${py} interop/v1/test_service.proto`],
    {
      encoding: "utf8",
    },
  );
  assert.equal(p.status, 0, p.stderr);
  const es = join(dir, "es");
  const template = {
    version: "v2",
    plugins: [
      {
        local: ["node", join(ROOT, "node_modules/@bufbuild/protoc-gen-es/bin/protoc-gen-es")],
        out: es,
        opt: ["target=ts", "import_extension=js"],
      },
    ],
  };
  const e = spawnSync(
    join(ROOT, "node_modules/.bin/buf"),
    ["generate", INTEROP_PROTO, "--template", JSON.stringify(template)],
    {
      encoding: "utf8",
    },
  );
  assert.equal(e.status, 0, e.stderr);
  return {
    dir,
    stubs: join(ts, "interop/v1/test_service_leaksafe.ts"),
    es: join(es, "interop/v1/test_service_pb.ts"),
    python: py,
  };
}
