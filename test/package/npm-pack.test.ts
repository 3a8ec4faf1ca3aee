/**
 * The package as a user gets it: `npm pack`, installed into a fresh repo.
 * Its bin generates with buf, `import … from "leaksafe"` resolves with
 * types under the strict settings, and the compiled result runs.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ROOT, removeDir, tempDir } from "../support/generate.js";

const work = tempDir("npm-pack");
after(() => removeDir(work));

function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", env });
  assert.equal(r.status, 0, `${command} ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test("the packed package installs, generates, type-checks and runs", { timeout: 240_000 }, () => {
  sh("npm", ["pack", "--pack-destination", work, "--silent"], ROOT);
  const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, "npm pack made no tarball");

  const app = join(work, "app");
  mkdirSync(join(app, "src"), { recursive: true });
  cpSync(join(ROOT, "proto/example"), join(app, "proto/example"), { recursive: true });
  const ours = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Record<string, Record<string, string>>;
  const versions = (name: string): string => ours.devDependencies?.[name] ?? ours.dependencies?.[name] ?? "*";
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({
      name: "consumer",
      private: true,
      type: "module",
      dependencies: {
        leaksafe: `file:${join(work, tarball)}`,
        "@grpc/grpc-js": versions("@grpc/grpc-js"),
        "@bufbuild/protobuf": versions("@bufbuild/protobuf"),
      },
      devDependencies: {
        "ts-proto": versions("ts-proto"),
        "@bufbuild/buf": versions("@bufbuild/buf"),
        typescript: versions("typescript"),
        "@types/node": versions("@types/node"),
      },
    }),
  );
  sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent"], app);

  const bin = join(app, "node_modules/.bin");
  assert.match(sh(join(bin, "protoc-gen-leaksafe"), ["--version"], app), /^protoc-gen-leaksafe v\d+\.\d+\.\d+/);

  // leaksafe's options.proto comes from the installed package, as the README shows.
  writeFileSync(
    join(app, "buf.yaml"),
    "version: v2\nmodules:\n  - path: proto\n  - path: node_modules/leaksafe/proto\n",
  );
  writeFileSync(
    join(app, "buf.gen.yaml"),
    [
      "version: v2",
      "inputs:",
      "  - directory: proto",
      "plugins:",
      "  - local: protoc-gen-ts_proto",
      "    out: src/gen",
      "    opt: [outputServices=false, importSuffix=.js, esModuleInterop=true]",
      "  - local: protoc-gen-leaksafe",
      "    out: src/gen",
      "    opt: [importSuffix=.js]",
      "",
    ].join("\n"),
  );
  const path = `${bin}:${process.env.PATH ?? ""}`;
  sh(join(bin, "buf"), ["generate"], app, { ...process.env, PATH: path });

  writeFileSync(
    join(app, "src/main.ts"),
    [
      'import { createClient, createServer, RpcError } from "leaksafe";',
      'import { ChatService, type ChatClient } from "./gen/example/v1/chat_leaksafe.js";',
      "const server = createServer().add(ChatService, {",
      "  async post(request) { return { revision: request.text.length }; },",
      "  async *watch() { yield { revision: 1, at: undefined }; },",
      "  async upload() { return { name: '', bytes: 0, chunks: 0 }; },",
      "  async *converse(requests) { for await (const m of requests) yield m; },",
      "});",
      'const port = await server.listen("127.0.0.1:0");',
      'const client: ChatClient = createClient(ChatService, "127.0.0.1:" + port);',
      'const { revision } = await client.post({ author: "a", text: "four" });',
      "const error = await client.post({ author: 'a', text: '' }, { signal: AbortSignal.abort() }).catch((e: unknown) => e);",
      'console.log(JSON.stringify({ revision, cancelled: error instanceof RpcError && error.reason === "cancelled" }));',
      "client.close();",
      "await server.shutdown({ graceMs: 500 });",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "es2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        skipLibCheck: false,
        types: ["node"],
        rootDir: "src",
        outDir: "dist",
      },
      include: ["src"],
    }),
  );
  sh(join(bin, "tsc"), ["-p", "."], app);
  const output = sh("node", ["dist/main.js"], app).trim();
  assert.deepEqual(JSON.parse(output), { revision: 4, cancelled: true });
});
