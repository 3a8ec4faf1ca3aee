/** The results chart, drawn with Vega-Lite: each peer's median as a ratio to raw grpc-js, per scenario. */
import * as vega from "vega";
import { compile } from "vega-lite";
import type { Measurement } from "./run.js";
import { median } from "./stats.js";

export async function renderChart(measurements: Measurement[]): Promise<string> {
  const values = measurements.flatMap((m) => {
    const base = median(m.values.get("grpc-js") ?? []);
    return [...m.values].map(([peer, v]) => ({
      scenario: m.scenario,
      peer,
      // For lower-is-better figures the ratio is inverted, so that right is always better.
      ratio: base === 0 ? 0 : m.higherIsBetter ? median(v) / base : base / Math.max(median(v), 1e-9),
    }));
  });
  const spec = compile({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Each peer against raw grpc-js (1.0), per scenario; right is better",
    data: { values },
    mark: "bar",
    width: 420,
    encoding: {
      y: { field: "peer", type: "nominal", title: null },
      x: { field: "ratio", type: "quantitative", title: "ratio to raw grpc-js" },
      color: { field: "peer", type: "nominal" },
      row: { field: "scenario", type: "nominal", title: null, header: { labelAngle: 0, labelAlign: "left" } },
    },
  }).spec;
  return new vega.View(vega.parse(spec), { renderer: "none" }).toSVG();
}
