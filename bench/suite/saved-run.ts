/** A run's measurements and what it knows about itself, as bench/results.json keeps them. */
import { readFileSync, writeFileSync } from "node:fs";
import type { Peer } from "./clients.js";
import type { RunInfo } from "./report.js";
import type { Measurement } from "./run.js";

interface SavedRun {
  info: RunInfo;
  measurements: Array<Omit<Measurement, "values"> & { values: Partial<Record<Peer, number[]>> }>;
}

export function saveRun(path: string, measurements: Measurement[], info: RunInfo): void {
  const saved: SavedRun = {
    info,
    measurements: measurements.map((m) => ({ ...m, values: Object.fromEntries(m.values) })),
  };
  writeFileSync(path, `${JSON.stringify(saved, null, 1)}\n`);
}

export function loadRun(path: string): { info: RunInfo; measurements: Measurement[] } {
  const saved = JSON.parse(readFileSync(path, "utf8")) as SavedRun;
  return {
    info: saved.info,
    measurements: saved.measurements.map((m) => ({
      ...m,
      values: new Map(Object.entries(m.values) as Array<[Peer, number[]]>),
    })),
  };
}
