/**
 * What the observability hooks cost on the hottest path: a server stream of
 * 16-byte messages into a client, same server in another process, 5
 * alternating runs each. "unset" is a client without hooks; its ratio to raw
 * grpc-js shows what the unset hooks cost, which should be nothing
 * measurable; the others show what setting them costs.
 *
 *   npx tsx bench/hooks.ts [--runs N]
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { type CallHooks, createClient } from "leaksafe";
import { BenchService } from "../generated-example/bench/v1/bench_leaksafe.js";
import { median } from "./suite/stats.js";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const COUNT = 200_000;

const server = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "bench-server.ts")], {
  stdio: ["ignore", "pipe", "inherit"],
});
const port = await new Promise<number>((resolve) =>
  server.stdout.once("data", (d: Buffer) => resolve(Number(d.toString()))),
);
const address = `127.0.0.1:${port}`;

let ended = 0;
let seen = 0;
const variants: Array<[string, CallHooks | undefined]> = [
  ["unset", undefined],
  ["onCallStart + onCallEnd", { onCallStart: () => undefined, onCallEnd: () => void ended++ }],
  ["onMessage (counting)", { onMessage: () => void seen++ }],
];
const clients = variants.map(([name, hooks]) => ({
  name,
  client: createClient(BenchService, address, hooks === undefined ? {} : { hooks }),
}));
const raw = new Client(address, credentials.createInsecure());

async function rawRun(): Promise<number> {
  const call = raw.makeServerStreamRequest(
    BenchService.flood.path,
    BenchService.flood.requestSerialize,
    BenchService.flood.responseDeserialize,
    { count: COUNT, size: 16 },
    new Metadata(),
    {},
  );
  let n = 0;
  for await (const _ of call) n++;
  return n;
}

async function run(client: (typeof clients)[number]["client"]): Promise<number> {
  let n = 0;
  for await (const _ of client.flood({ count: COUNT, size: 16 })) n++;
  return n;
}

async function rate(fn: () => Promise<number>): Promise<number> {
  const start = process.hrtime.bigint();
  const n = await fn();
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

const rates = new Map<string, number[]>([
  ["raw grpc-js", []],
  ...clients.map(({ name }) => [name, []] as [string, number[]]),
]);
await rawRun();
for (const { client } of clients) await run(client);
for (let i = 0; i < RUNS; i++) {
  rates.get("raw grpc-js")?.push(await rate(rawRun));
  for (const { name, client } of clients) rates.get(name)?.push(await rate(() => run(client)));
}
const unset = median(rates.get("unset") ?? []);
console.log("| client | msg/s (median, min–max) | ratio to hooks unset |\n|---|---|---|");
for (const [name, values] of rates) {
  const m = median(values);
  const range = `${Math.round(Math.min(...values)).toLocaleString("en")}–${Math.round(Math.max(...values)).toLocaleString("en")}`;
  console.log(`| ${name} | ${Math.round(m).toLocaleString("en")} (${range}) | ${(m / unset).toFixed(3)} |`);
}
if (seen === 0 || ended === 0) throw new Error("the hooks did not run");
for (const { client } of clients) client.close();
raw.close();
server.kill();
