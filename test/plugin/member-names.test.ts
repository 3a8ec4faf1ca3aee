/**
 * An rpc named like a member of what it becomes a property of keeps clear of
 * it: the generated client (leaksafe's `ClientBase`, which mirrors grpc-js's
 * `Client`), and any object, on the client and on a server's implementation
 * alike. The members are read from the real objects, so a member that
 * leaksafe or grpc-js adds fails here until the plugin avoids it too.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Client } from "@grpc/grpc-js";
import { createClient, createServer, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { run } from "../../plugin/plugin.js";
import { loadPluginFiles } from "../../plugin/plugin-files.js";
import { methodName } from "../../plugin/ts-proto-names.js";
import { bufGenerate, ROOT, removeDir, tempDir, typeCheck } from "../support/generate.js";

let work: string;

before(() => {
  work = tempDir("member-names");
});

after(() => removeDir(work));

/** Every member an rpc could shadow, with where it comes from. */
function members(): Map<string, string> {
  const found = new Map<string, string>();
  const add = (names: Iterable<string>, from: string): void => {
    for (const name of names) {
      if (!found.has(name)) found.set(name, from);
    }
  };
  // What a generated client has besides its rpcs, read off a real one.
  const client = createClient({}, "127.0.0.1:1");
  add(Object.keys(client as object), "leaksafe's ClientBase");
  (client as { close(): void }).close();
  add(Object.getOwnPropertyNames(Client.prototype), "grpc-js's Client");
  add(Object.getOwnPropertyNames(Object.prototype), "Object.prototype");
  add(["then"], "a thenable: `await client` would call it");
  return found;
}

/** A buf module holding one .proto, in its own folder under `work`. */
function protoModule(name: string, path: string, source: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, path, ".."), { recursive: true });
  writeFileSync(join(dir, "buf.yaml"), "version: v2\n");
  writeFileSync(join(dir, path), source);
  return dir;
}

test("no rpc takes the name of a member of the client, of a grpc-js Client or of an object", () => {
  const all = members();
  // ts-proto drops underscores from rpc names, so `__proto__` and its kind
  // cannot be spelled; every other member gets an rpc spelled like it.
  const spellable = [...all.keys()].filter((m) => methodName(m.charAt(0).toUpperCase() + m.slice(1)) === m);
  assert.ok(spellable.length >= 15, `only ${spellable.length} members to try`);
  const rpcs = spellable.map((m) => `  rpc ${m.charAt(0).toUpperCase() + m.slice(1)}(M) returns (M);\n`).join("");
  const module = protoModule(
    "all-members",
    "members/v1/all.proto",
    `syntax = "proto3";\npackage members.v1;\nmessage M {}\nservice Members {\n${rpcs}}\n`,
  );
  const image = join(work, "all-members.binpb");
  const r = spawnSync(join(ROOT, "node_modules/.bin/buf"), ["build", module, "-o", image], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const request = create(CodeGeneratorRequestSchema, {
    fileToGenerate: ["members/v1/all.proto"],
    parameter: "importSuffix=.js,dump_context=true",
    protoFile: fromBinary(FileDescriptorSetSchema, readFileSync(image)).file,
  });
  const context = run(request, loadPluginFiles()).file.find((f) => f.name === "members/v1/all_leaksafe.context.json");
  const view = JSON.parse(context?.content ?? "null") as { services: Array<{ methods: Array<{ name: string }> }> };
  const names = view.services[0]?.methods.map((m) => m.name) ?? [];
  assert.equal(names.length, spellable.length);
  for (const [i, member] of spellable.entries()) {
    assert.equal(names[i], `${member}$`, `an rpc named ${member} shadows a member of ${all.get(member)}`);
  }
});

test("an rpc named GetChannel type-checks, is served and called as getChannel$, and getChannel() is still the channel", async () => {
  const module = protoModule(
    "get-channel",
    "directory/v1/directory.proto",
    [
      'syntax = "proto3";',
      "package directory.v1;",
      "",
      "message Lookup {",
      "  string name = 1;",
      "}",
      "message Entry {",
      "  string name = 1;",
      "  string address = 2;",
      "}",
      "",
      "// GetChannel would replace the client's getChannel(); ToString would be",
      "// served by the toString that every implementation object inherits.",
      "service Directory {",
      "  rpc GetChannel(Lookup) returns (Entry);",
      "  rpc ToString(Lookup) returns (stream Entry);",
      "}",
      "",
    ].join("\n"),
  );
  const out = join(work, "get-channel-out");
  const generated = bufGenerate(module, out, ["importSuffix=.js"]);
  assert.equal(generated.status, 0, generated.stderr);
  const checked = typeCheck(out);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);

  const gen = await import(join(out, "directory/v1/directory_leaksafe.ts"));
  assert.deepEqual(Object.keys(gen.DirectoryService), ["getChannel$", "toString$"]);
  assert.equal(gen.DirectoryService.getChannel$.originalName, "GetChannel");

  const leaks = createLeakChecker();
  // A class instance, as many servers are written: it inherits toString,
  // which must not answer the ToString rpc that it leaves unimplemented.
  class Directory {
    async getChannel$(request: { name: string }) {
      return { name: request.name, address: "10.0.0.7:443" };
    }
  }
  const server = createServer().add(gen.DirectoryService, new Directory());
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(gen.DirectoryService, `127.0.0.1:${port}`) as any;
  try {
    const channel = client.getChannel();
    assert.equal(typeof channel.getConnectivityState, "function", "getChannel() returns a grpc-js Channel");
    assert.match(channel.getTarget(), new RegExp(`127\\.0\\.0\\.1:${port}$`));
    assert.deepEqual(await client.getChannel$({ name: "billing" }), { name: "billing", address: "10.0.0.7:443" });
    await assert.rejects(
      async () => {
        for await (const _ of client.toString$({ name: "" })) {
        }
      },
      (e: unknown) => e instanceof RpcError && e.code === Status.UNIMPLEMENTED,
    );
  } finally {
    client.close();
    await server.shutdown({ graceMs: 500 });
  }
  await leaks.assertNoLeaks();
});
