/**
 * `@opentelemetry/api` is an optional peer: importing `leaksafe` (or its
 * other entry points) and serving calls never loads it; only `leaksafe/otel`
 * does. Each case runs in a child process whose module resolution refuses
 * every `@opentelemetry/` package.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ROOT } from "../support/generate.js";

/** A resolve hook that refuses the OpenTelemetry packages, registered before the script runs. */
const REFUSE = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith("@opentelemetry/")) throw new Error("refused to load " + specifier);
  return next(specifier, context);
}`;
const REGISTER = `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(${JSON.stringify(REFUSE)}));`;

/** Runs `script` (an ES module) in a child process with the OpenTelemetry packages refused. */
function run(script: string): { status: number | null; out: string } {
  const result = spawnSync(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(REGISTER)}`, "--input-type=module", "-e", script],
    { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
  );
  return { status: result.status, out: `${result.stdout}${result.stderr}`.trim() };
}

/** Lists the CommonJS modules loaded from an @opentelemetry package (what a require() would load past the hook). */
const LOADED = `(await import("node:module")).createRequire(process.cwd() + "/").cache`;

test("leaksafe, leaksafe/testing and leaksafe/health serve and call without loading @opentelemetry/api", () => {
  const { status, out } = run(`
    import { createClient, createServer } from "leaksafe";
    import { createLeakChecker } from "leaksafe/testing";
    import { HealthService } from "leaksafe/health";
    const hooks = { onCallStart() {}, onCallEnd() {}, messageSizes: true };
    const server = createServer({ health: true, hooks: [hooks] });
    const port = await server.listen("127.0.0.1:0");
    const client = createClient(HealthService, "127.0.0.1:" + port, { hooks });
    const answer = await client.check({ service: "" });
    client.close();
    await server.shutdown({ graceMs: 1000 });
    const loaded = Object.keys(${LOADED}).filter((path) => path.includes("@opentelemetry"));
    console.log(JSON.stringify({ status: answer.status, loaded, checker: typeof createLeakChecker }));
  `);
  assert.equal(status, 0, out);
  assert.deepEqual(JSON.parse(out), { status: 1, loaded: [], checker: "function" });
});

test("leaksafe/otel is what loads it: refused, its import fails naming the package", () => {
  const { status, out } = run(`
    const error = await import("leaksafe/otel").then(() => undefined, (e) => e);
    console.log(String(error?.message));
  `);
  assert.equal(status, 0, out);
  assert.match(out, /refused to load @opentelemetry\/api/);
});
