/**
 * Three replica processes behind one round_robin client: a rolling SIGTERM
 * restart, a SIGKILL, connection ages and stream ages, at a size CI can run
 * (bench/fleet.ts runs it larger). Nothing is lost or repeated, no unary
 * call fails in the clean restart, every shutdown forces nothing, and after
 * each disruption the watches spread evenly again.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runFleet } from "./fleet.js";

test("a fleet survives a rolling restart, a SIGKILL and connection ages with nothing lost, and stream age rebalances its watches", {
  timeout: 300_000,
}, async (t) => {
  const watches = 30;
  const report = await runFleet({
    replicas: 3,
    watches,
    tickMs: 10,
    // Connections end every 2.5 s, with a grace longer than a stream's age:
    // their streams end one by one at their own age, not all at once, and
    // each resumes through a fresh round_robin pick.
    ageMs: 2500,
    ageGraceMs: 2000,
    streamAgeMs: 1500,
    postMs: 5,
    postEveryMs: 10,
    settleMs: 1500,
    balanceLimitMs: 30_000,
    log: (line) => t.diagnostic(line),
  });
  t.diagnostic(JSON.stringify({ ...report, splits: report.splits.length }));
  t.diagnostic(report.splits.map((s) => `${s.atMs}:${s.split}`).join(" "));

  assert.deepEqual(report.watchesFailed, [], "no watch ended instead of resuming");
  assert.ok(report.events > 0);
  assert.equal(report.lost, 0, "events lost");
  assert.equal(report.repeated, 0, "events repeated");
  for (const phase of ["steady", "rolling restart", "after restart"] as const) {
    const { calls, failed, errors } = report.unary[phase];
    assert.ok(calls > 0, `unary calls during ${phase}`);
    assert.equal(failed, 0, `unary calls failed during ${phase}: ${errors.join("; ")}`);
  }
  assert.equal(report.shutdowns.length, 3);
  for (const { replica, report: shutdown, health } of report.shutdowns) {
    assert.ok(shutdown !== null, `replica ${replica} printed its shutdown report`);
    assert.deepEqual(shutdown.forced, [], `replica ${replica}'s shutdown forced nothing`);
    assert.deepEqual(
      health,
      ["SERVING", "NOT_SERVING"],
      `replica ${replica}'s health Watch saw NOT_SERVING, then ended`,
    );
  }
  const share = watches / 3;
  assert.ok(
    report.startSplit.every((n) => Math.abs(n - share) <= share * 0.2),
    `after one warm-up call on their client, the watches started evenly: ${report.startSplit}`,
  );
  // Even shares of 30 over 3 replicas, within ±20 %: 8 to 12 each. The
  // bench reports the split at two ages; here, on a shared and loaded
  // machine, it must come within 20 ages (30 s), ten times that.
  for (const [when, { afterMs, split }] of [
    ["the rolling restart", report.rebalancedAfterRestart],
    ["the SIGKILL", report.rebalancedAfterKill],
  ] as const) {
    t.diagnostic(`after ${when}: even (${split}) after ${afterMs} ms`);
    assert.ok(afterMs !== undefined, `30 s after ${when}, the split ${split} was still not within ±20 % of 10 each`);
  }
});
