/**
 * Rows for the fault matrix's results table. Each test file records its
 * rows; `node test/run.js` gathers them into .tmp/fault-results.md, and
 * with UPDATE_RESULTS=1 into the tracked test/faults/RESULTS.md.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Status } from "leaksafe";
import { ROOT } from "../support/generate.js";

export const ROWS_DIR = join(ROOT, ".tmp/fault-rows");

export interface FaultRow {
  scenario: string;
  /** What each side saw, e.g. "client UNAVAILABLE/peer-gone, server CANCELLED/peer-gone". */
  outcome: string;
  /** Time from the fault to detection, in ms, or "n/a". */
  detectMs: number | "n/a";
  /** The bound the test holds detection to. */
  boundMs: number | "n/a";
  /** What the leak checker found: "none" when it passed. */
  leaked: string;
}

export function recordRow(row: FaultRow): void {
  mkdirSync(ROWS_DIR, { recursive: true });
  appendFileSync(join(ROWS_DIR, `${process.pid}.jsonl`), `${JSON.stringify(row)}\n`);
}

/** "CODE/reason" of an RpcError-like value, for the outcome column. */
export function describeError(error: unknown): string {
  const e = error as { code?: number; reason?: string } | undefined;
  if (e === undefined || typeof e.code !== "number") return String(error);
  return `${Status[e.code] ?? e.code}/${e.reason ?? "?"}`;
}
