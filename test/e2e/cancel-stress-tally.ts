/**
 * Matches each planned call to what the server's handler saw, and counts:
 * 1. cancels issued before the half-close that the handler saw as a normal end;
 * 2. half-closes not followed by a cancel that the handler saw as a cancel;
 * 3. cancels after the half-close, each way (reported only).
 * Calls the handler never saw (cancelled before their HEADERS left, or
 * before grpc-js ran the handler) are counted apart, and so are half-closes
 * seen as a cancel on a connection that ended with an error of its own (a
 * client's protocol error): those calls were lost by both sides.
 */
import { cancelsBeforeHalfClose, POINTS, type Point } from "./cancel-stress-plan.js";
import type { KindRun } from "./cancel-stress-run.js";
import type { StressServer } from "./cancel-stress-server.js";

export interface Row {
  kind: string;
  point: Point;
  calls: number;
  end: number;
  cancel: number;
  unseen: number;
  /** Client-side statuses, by name. */
  client: Record<string, number>;
}

export interface Tally {
  rows: Row[];
  /** Count 1, with the ids of the calls. */
  cancelsSeenAsEnds: string[];
  /** Count 2, with the ids of the calls. */
  endsSeenAsCancels: string[];
  /** Half-closes seen as a cancel because their connection ended with an error (reported only), by error. */
  lostWithConnection: Map<string, string[]>;
  /** Count 3, each way. */
  afterHalfClose: { end: number; cancel: number };
}

export function tally(
  runs: KindRun[],
  { seen, peers, brokenConnections }: Pick<StressServer, "seen" | "peers" | "brokenConnections">,
): Tally {
  const rows: Row[] = [];
  const result: Tally = {
    rows,
    cancelsSeenAsEnds: [],
    endsSeenAsCancels: [],
    lostWithConnection: new Map(),
    afterHalfClose: { end: 0, cancel: 0 },
  };
  for (const run of runs) {
    for (const point of POINTS) {
      const row: Row = { kind: run.kind, point, calls: 0, end: 0, cancel: 0, unseen: 0, client: {} };
      for (const call of run.calls.filter((c) => c.point === point)) {
        row.calls++;
        const status = run.outcomes[call.id] ?? "(none)";
        row.client[status] = (row.client[status] ?? 0) + 1;
        const how = seen.get(call.id);
        if (how === undefined) row.unseen++;
        else row[how]++;
        if (how === "end" && cancelsBeforeHalfClose(point)) result.cancelsSeenAsEnds.push(call.id);
        if (how === "cancel" && point === "none") {
          const broken = brokenConnections.get(peers.get(call.id) ?? "");
          if (broken === undefined) {
            result.endsSeenAsCancels.push(call.id);
          } else {
            result.lostWithConnection.set(broken, [...(result.lostWithConnection.get(broken) ?? []), call.id]);
          }
        }
        if (how !== undefined && point === "after-half-close") result.afterHalfClose[how]++;
      }
      rows.push(row);
    }
  }
  return result;
}

/** A Markdown table, one row per client kind and cancel point, then the three counts. */
export function markdown(result: Tally, runs: KindRun[]): string {
  const lines = [
    "| client | cancel point | calls | handler saw end | handler saw cancel | never reached handler | client statuses |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const row of result.rows) {
    const statuses = Object.entries(row.client)
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${n}`)
      .join(", ");
    lines.push(
      `| ${row.kind} | ${row.point} | ${row.calls} | ${row.end} | ${row.cancel} | ${row.unseen} | ${statuses} |`,
    );
  }
  lines.push("");
  lines.push("| count | calls |", "|---|---|");
  lines.push(`| 1. cancels before the half-close seen as a normal end | **${result.cancelsSeenAsEnds.length}** |`);
  lines.push(`| 2. half-closes without a cancel seen as a cancel | **${result.endsSeenAsCancels.length}** |`);
  const lost = [...result.lostWithConnection].map(([error, ids]) => `${ids.length} (${error})`).join(", ");
  lines.push(
    `| 2′. half-closes on a connection that ended with an error, seen as a cancel (report only) | ${lost || 0} |`,
  );
  lines.push(
    `| 3. cancels after the half-close (report only) | ${result.afterHalfClose.end} seen as end, ${result.afterHalfClose.cancel} as cancel |`,
  );
  lines.push("");
  lines.push(`Run times: ${runs.map((r) => `${r.kind} ${(r.ms / 1000).toFixed(1)} s`).join(", ")}.`);
  return lines.join("\n");
}

/** One line per call counted in 1 or 2, with its plan, so a failure says where it happened. */
export function violations(result: Tally, runs: KindRun[]): string[] {
  const plans = new Map(runs.flatMap((r) => r.calls.map((c) => [c.id, c] as const)));
  const describe = (count: string) => (id: string) => {
    const c = plans.get(id);
    return `${count}: ${id} ${c?.method} ${c?.point} (${c?.context}, ${c?.sentBeforeCancel} of ${c?.messages} messages)`;
  };
  return [
    ...result.cancelsSeenAsEnds.map(describe("cancel seen as end")),
    ...result.endsSeenAsCancels.map(describe("end seen as cancel")),
  ];
}
