/**
 * The two packages installed as the README says, from their packed
 * tarballs, each time in a clean folder: with npm, pnpm and yarn. Each app
 * generates with buf as the README configures it, type-checks under strict
 * settings and runs a call.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { after, before, test } from "node:test";
import { listFiles, ROOT, removeDir } from "../support/generate.js";
import { type Packed, packBoth, readmeBlock, relativeLinks, sh } from "./packed.js";

// Outside the repository, so that no manager finds its package.json or node_modules.
const work = mkdtempSync(join(tmpdir(), "leaksafe-install-"));
after(() => removeDir(work));
let runtime: Packed;
let plugin: Packed;
/**
 * The package managers, as a user installs them. Not this repository's dev
 * dependencies: pnpm 12 ships one binary package per platform, which no
 * lock file made on one platform can list for npm ci on another.
 */
const MANAGERS = { pnpm: "12.23.0", yarn: "1.22.22" };
const tools = join(work, "tools");
before(() => {
  ({ runtime, plugin } = packBoth(work));
  mkdirSync(tools);
  writeFileSync(join(tools, "package.json"), JSON.stringify({ name: "tools", private: true }));
  const specs = Object.entries(MANAGERS).map(([name, version]) => `${name}@${version}`);
  sh(`npm install --no-audit --no-fund --prefer-offline ${specs.join(" ")}`, tools);
});

/** The build tools a user's own project has anyway; the README's lines bring the rest. */
const TOOLCHAIN: Record<string, string> = {
  npm: "npm install --save-dev typescript @types/node",
  pnpm: "pnpm add --save-dev typescript @types/node",
  yarn: "yarn add --dev typescript @types/node",
};

test("the runtime has no dependencies and ships its build, types, options.proto and the health protocol", () => {
  const m = runtime.manifest;
  assert.equal(m.name, "leaksafe");
  assert.equal(m.dependencies, undefined, "the runtime must have no dependencies");
  assert.deepEqual(Object.keys(m.peerDependencies as object), [
    "@grpc/grpc-js",
    "@bufbuild/protobuf",
    "@opentelemetry/api",
  ]);
  assert.deepEqual(
    m.peerDependenciesMeta,
    { "@bufbuild/protobuf": { optional: true }, "@opentelemetry/api": { optional: true } },
    "only the health service needs @bufbuild/protobuf, which ts-proto's output needs anyway, and only leaksafe/otel @opentelemetry/api",
  );
  for (const file of [
    "dist/index.js",
    "dist/index.d.ts",
    "dist/testing/index.js",
    "dist/health-stubs.js",
    "dist/otel.js",
    "dist/reflection-stubs.js",
    "dist/debug.js",
    "dist/error-details.js",
    "proto/leaksafe/v1/options.proto",
    "proto/grpc/health/v1/health.proto",
    "proto/grpc/reflection/v1/reflection.proto",
    "proto/grpc/reflection/v1alpha/reflection.proto",
  ]) {
    assert.ok(runtime.files.includes(file), `leaksafe lacks ${file}`);
  }
  assert.deepEqual(
    runtime.files.filter((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts")),
    [],
    "no TypeScript sources",
  );
});

test("installed without @bufbuild/protobuf, the runtime serves and calls; only health: true and reflection: true ask for it, by name", () => {
  const app = join(work, "no-protobuf");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  sh(`npm install --no-audit --no-fund --prefer-offline ${runtime.tarball} @grpc/grpc-js`, app);
  writeFileSync(
    join(app, "main.js"),
    [
      'import { createServer } from "leaksafe";',
      "const server = createServer();",
      'await server.listen("127.0.0.1:0");',
      "await server.shutdown({ graceMs: 1000 });",
      "const healthy = createServer({ health: true });",
      'const error = await healthy.listen("127.0.0.1:0").then(() => undefined, (e) => e);',
      "console.log(error?.message ?? 'listened');",
      "await healthy.shutdown({ graceMs: 1000 });",
      "const reflecting = createServer({ reflection: true });",
      'const refused = await reflecting.listen("127.0.0.1:0").then(() => undefined, (e) => e);',
      "console.log(refused?.message ?? 'listened');",
      "await reflecting.shutdown({ graceMs: 1000 });",
    ].join("\n"),
  );
  const [health, reflection] = sh("node main.js", app).split("\n");
  assert.match(
    health ?? "",
    /^createServer\(\{ health: true \}\) needs the package @bufbuild\/protobuf, for the health service's messages; install it beside leaksafe \(.*@bufbuild\/protobuf/,
  );
  assert.match(
    reflection ?? "",
    /^createServer\(\{ reflection: true \}\) needs the package @bufbuild\/protobuf, for the reflection service's messages; install it beside leaksafe \(.*@bufbuild\/protobuf/,
  );
});

test("the plugin ships its bin and templates, with the runtime's version and no compiler", () => {
  const m = plugin.manifest;
  assert.equal(m.name, "protoc-gen-leaksafe");
  assert.equal(m.version, runtime.manifest.version, "the two packages are released together");
  assert.deepEqual(m.bin, { "protoc-gen-leaksafe": "dist/plugin/bin.js" });
  assert.ok(plugin.files.includes("dist/plugin/bin.js"));
  assert.ok(plugin.files.includes("templates/file.hbs"));
  const deps = Object.keys(m.dependencies as object);
  for (const heavy of ["typescript", "@bufbuild/protoplugin", "leaksafe"]) {
    assert.ok(!deps.includes(heavy), `the plugin depends on ${heavy}`);
  }
});

test("both packages say where they come from, and every file their READMEs link to is in the package", () => {
  for (const pkg of [runtime, plugin]) {
    const m = pkg.manifest as {
      name: string;
      repository?: { url?: string };
      homepage?: string;
      bugs?: { url?: string };
    };
    assert.match(m.repository?.url ?? "", /^git\+https:\/\//, `${m.name}: repository`);
    assert.match(m.homepage ?? "", /^https:\/\//, `${m.name}: homepage`);
    assert.match(m.bugs?.url ?? "", /^https:\/\//, `${m.name}: bugs`);
    const docs = pkg.files.filter((f) => f.endsWith(".md"));
    assert.ok(docs.includes("README.md"), `${m.name} has no README.md`);
    for (const doc of docs) {
      const text = sh(`tar -xzOf '${pkg.tarball}' 'package/${doc}'`, work);
      for (const link of relativeLinks(text)) {
        const target = normalize(join(dirname(doc), link)).replace(/\/$/, "");
        const found = pkg.files.some((f) => f === target || f.startsWith(`${target}/`));
        assert.ok(found, `${m.name}: ${doc} links to ${link}, which the package does not hold`);
      }
    }
  }
});

for (const manager of ["npm", "pnpm", "yarn"]) {
  test(`the README's ${manager} lines install, generate only the app's own files, type-check and run`, {
    timeout: 300_000,
  }, () => {
    const app = join(work, manager);
    mkdirSync(join(app, "src"), { recursive: true });
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    cpSync(join(ROOT, "proto/example"), join(app, "proto/example"), { recursive: true });
    writeFileSync(join(app, "buf.yaml"), `${readmeBlock("yaml", "# buf.yaml").join("\n")}\n`);
    writeFileSync(join(app, "buf.gen.yaml"), `${readmeBlock("yaml", "# buf.gen.yaml").join("\n")}\n`);
    // Yarn 1 caches a local tarball by name and version, so it gets a cache of its own.
    const env = {
      ...process.env,
      PATH: `${join(tools, "node_modules/.bin")}:${process.env.PATH ?? ""}`,
      YARN_CACHE_FOLDER: join(work, "yarn-cache"),
    };

    const [runtimeLine, devLine, generateLine, ...rest] = readmeBlock("sh", `# ${manager}`);
    assert.deepEqual(rest, [], `the ${manager} block has more than three lines`);
    assert.ok(runtimeLine && devLine && generateLine);
    // The README names the packages; the test installs the tarballs in their place.
    const fromTarballs = (line: string): string =>
      line
        .replace(/(?<=\s)protoc-gen-leaksafe(?=\s|$)/, `'${plugin.tarball}'`)
        .replace(/(?<=\s)leaksafe(?=\s|$)/, `'${runtime.tarball}'`);
    sh(fromTarballs(runtimeLine), app, env);
    sh(fromTarballs(devLine), app, env);
    sh(TOOLCHAIN[manager] ?? "", app, env);

    const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as Record<string, object>;
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}).sort(), [
      "@bufbuild/protobuf",
      "@grpc/grpc-js",
      "leaksafe",
    ]);
    assert.ok("protoc-gen-leaksafe" in (manifest.devDependencies ?? {}), "the plugin is a dev dependency");
    if (manager === "npm") {
      // What production installs: no compiler, template engine or plugin.
      const prod = sh("npm ls --omit=dev --all --parseable", app);
      for (const heavy of ["typescript", "handlebars", "@babel", "protoc-gen-leaksafe", "@bufbuild/buf"]) {
        assert.ok(!prod.includes(`node_modules/${heavy}`), `${heavy} is in the production tree`);
      }
    }

    if (manager === "npm") {
      // The README's protoc line: the options come from the installed package, as an import only.
      const gen = join(app, "src/gen");
      sh(readmeBlock("sh", "# protoc").join("\n"), app, env);
      assert.deepEqual(listFiles(gen, ".ts"), [
        "example/v1/chat.ts",
        "example/v1/chat_leaksafe.ts",
        "google/protobuf/timestamp.ts",
      ]);
      const fromProtoc = readFileSync(join(gen, "example/v1/chat_leaksafe.ts"), "utf8");
      assert.match(fromProtoc, /timeoutMs: 600000, sendTimeoutMs: 10000/, "the options reached the plugin");
      removeDir(gen);
      sh(generateLine, app, env);
      // Each compiler brings its own google/protobuf/*.proto (buf a newer descriptor.proto than
      // Debian's protoc 3.21), and the descriptors embedded for reflection carry them as they are.
      assert.equal(
        withoutWellKnownDescriptors(readFileSync(join(gen, "example/v1/chat_leaksafe.ts"), "utf8")),
        withoutWellKnownDescriptors(fromProtoc),
        "buf and protoc agree",
      );
    } else {
      sh(generateLine, app, env);
    }
    assert.deepEqual(listFiles(join(app, "src/gen"), ".ts"), [
      "example/kv/v1/kv.ts",
      "example/kv/v1/kv_leaksafe.ts",
      "example/v1/chat.ts",
      "example/v1/chat_leaksafe.ts",
      "google/protobuf/timestamp.ts",
    ]);
    writeFileSync(join(app, "src/main.ts"), MAIN);
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify(TSCONFIG));
    sh("node node_modules/typescript/bin/tsc -p .", app);
    const output = sh("node dist/main.js", app).trim();
    assert.deepEqual(JSON.parse(output), { revision: 4, cancelled: true });
  });
}

const MAIN = `
import { createClient, createServer, RpcError } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService, type ChatClient } from "./gen/example/v1/chat_leaksafe.js";

const leaks = createLeakChecker();
const server = createServer().add(ChatService, {
  async post(request) { return { revision: request.text.length }; },
  async *watch() { yield { revision: 1, at: undefined }; },
  async upload() { return { name: "", bytes: 0, chunks: 0 }; },
  async *converse(requests) { for await (const m of requests) yield m; },
});
const port = await server.listen("127.0.0.1:0");
leaks.track({ registries: [server] });
const client: ChatClient = createClient(ChatService, "127.0.0.1:" + port);
const { revision } = await client.post({ author: "a", text: "four" });
const error = await client.post({ author: "a", text: "" }, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
client.close();
await server.shutdown({ graceMs: 500 });
await leaks.assertNoLeaks();
console.log(JSON.stringify({ revision, cancelled: error instanceof RpcError && error.reason === "cancelled" }));
`;

const TSCONFIG = {
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
};

/** Generated code with the embedded descriptors of google/protobuf/ files left out. */
function withoutWellKnownDescriptors(code: string): string {
  return code.replace(/name: "google\/protobuf\/[^"]+",\n\s*base64: \[[^\]]*\]/g, "name: …, base64: […]");
}
