/** The OpenTelemetry example, run as a script, as the README says. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { createLeakChecker } from "leaksafe/testing";
import { runExample } from "./otel.js";

test("the example prints A66's metrics, leaksafe's and a client-server span pair for each call", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "otel.ts")], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split("\n");
  const metric = (name: string): string => lines.find((l) => l.startsWith(`metric ${name} `)) ?? `no ${name}`;
  assert.match(
    metric("grpc.server.call.started"),
    /^metric grpc\.server\.call\.started \(\{call\}\) example\.v1\.Chat\/Post: 1; example\.v1\.Chat\/Watch: 1$/,
  );
  assert.match(metric("grpc.client.attempt.started"), /example\.v1\.Chat\/Post dns:\/\/\/127\.0\.0\.1:\d+: 1/);
  assert.match(metric("grpc.client.call.duration"), /^metric grpc\.client\.call\.duration \(s\) .*OK: count 1/);
  assert.match(
    metric("grpc.server.call.sent_total_compressed_message_size"),
    /\(By\) example\.v1\.Chat\/Post OK: count 1/,
  );
  assert.match(metric("leaksafe.server.call.ended"), /example\.v1\.Chat\/Watch OK ok: 1/);
  assert.match(metric("leaksafe.client.call.active"), /example\.v1\.Chat\/Post dns:\/\/\/127\.0\.0\.1:\d+: 0/);
  assert.deepEqual(lines.filter((l) => l.startsWith("span ")).sort(), [
    "span CLIENT example.v1.Chat/Post",
    "span CLIENT example.v1.Chat/Watch",
    "span SERVER example.v1.Chat/Post (child of the example.v1.Chat/Post client span)",
    "span SERVER example.v1.Chat/Watch (child of the example.v1.Chat/Watch client span)",
  ]);
});

test("run in this process, the example leaves nothing behind", async () => {
  const leaks = createLeakChecker();
  const lines = await runExample();
  assert.ok(lines.length > 10, lines.join("\n"));
  await leaks.assertNoLeaks();
});
