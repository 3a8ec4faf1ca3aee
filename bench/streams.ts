/**
 * Streaming throughput of the generated stubs against raw grpc-js, on the
 * same server in another process, in alternating runs:
 * - server streaming at 16 B and 1 KiB: messages per second, leaksafe's
 *   `for await` over `client.flood()` against grpc-js's `for await` over the call;
 * - bidi ping-pong: round trips per second.
 * Reports medians, min–max, and the ratio leaksafe / raw grpc-js of the medians.
 *
 *   npx tsx bench/streams.ts [--runs N]
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { createClient } from "leaksafe";
import type { Payload } from "../generated-example/bench/v1/bench.js";
import { BenchService } from "../generated-example/bench/v1/bench_leaksafe.js";
import { median } from "./suite/stats.js";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

const server = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "bench-server.ts")], {
  stdio: ["ignore", "pipe", "inherit"],
});
const port = await new Promise<number>((resolve) =>
  server.stdout.once("data", (d: Buffer) => resolve(Number(d.toString()))),
);
const address = `127.0.0.1:${port}`;
const raw = new Client(address, credentials.createInsecure());
const leaksafe = createClient(BenchService, address);

async function rawFlood(count: number, size: number): Promise<number> {
  const call = raw.makeServerStreamRequest(
    BenchService.flood.path,
    BenchService.flood.requestSerialize,
    BenchService.flood.responseDeserialize,
    { count, size },
    new Metadata(),
    {},
  );
  let n = 0;
  for await (const _ of call) n++;
  return n;
}

async function leaksafeFlood(count: number, size: number): Promise<number> {
  let n = 0;
  for await (const _ of leaksafe.flood({ count, size }, { timeoutMs: 0, idleTimeoutMs: 10_000 })) n++;
  return n;
}

async function rawPingPong(rounds: number): Promise<number> {
  const call = raw.makeBidiStreamRequest(
    BenchService.pingPong.path,
    BenchService.pingPong.requestSerialize,
    BenchService.pingPong.responseDeserialize,
    new Metadata(),
    {},
  );
  const payload: Payload = { data: new Uint8Array(16) };
  let n = 0;
  call.write(payload);
  for await (const _ of call) {
    if (++n === rounds) {
      call.end();
    } else {
      call.write(payload);
    }
  }
  return n;
}

async function leaksafePingPong(rounds: number): Promise<number> {
  const payload: Payload = { data: new Uint8Array(16) };
  // The next request is sent when the previous answer has arrived.
  let answered: (() => void) | undefined;
  async function* pings(): AsyncGenerator<Payload> {
    for (let i = 0; i < rounds; i++) {
      yield payload;
      await new Promise<void>((resolve) => {
        answered = resolve;
      });
    }
  }
  let n = 0;
  for await (const _ of leaksafe.pingPong(pings(), { timeoutMs: 0, idleTimeoutMs: 10_000 })) {
    n++;
    answered?.();
  }
  return n;
}

async function rate(run: () => Promise<number>): Promise<number> {
  const start = process.hrtime.bigint();
  const n = await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return n / seconds;
}

interface Scenario {
  name: string;
  unit: string;
  raw: () => Promise<number>;
  leaksafe: () => Promise<number>;
}

const scenarios: Scenario[] = [
  {
    name: "server stream, 16 B",
    unit: "msg/s",
    raw: () => rawFlood(200_000, 16),
    leaksafe: () => leaksafeFlood(200_000, 16),
  },
  {
    name: "server stream, 1 KiB",
    unit: "msg/s",
    raw: () => rawFlood(100_000, 1024),
    leaksafe: () => leaksafeFlood(100_000, 1024),
  },
  {
    name: "bidi ping-pong, 16 B",
    unit: "round trips/s",
    raw: () => rawPingPong(10_000),
    leaksafe: () => leaksafePingPong(10_000),
  },
];

const fmt = (v: number[]): string =>
  `${Math.round(median(v)).toLocaleString("en")} (${Math.round(Math.min(...v)).toLocaleString("en")}–${Math.round(Math.max(...v)).toLocaleString("en")})`;

console.log(`| scenario | raw grpc-js | leaksafe | ratio |\n|---|---|---|---|`);
for (const s of scenarios) {
  await s.raw(); // warm up both paths
  await s.leaksafe();
  const rawRates: number[] = [];
  const oursRates: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rawRates.push(await rate(s.raw));
    oursRates.push(await rate(s.leaksafe));
  }
  console.log(
    `| ${s.name} (${s.unit}) | ${fmt(rawRates)} | ${fmt(oursRates)} | ${(median(oursRates) / median(rawRates)).toFixed(3)} |`,
  );
}
leaksafe.close();
raw.close();
server.kill();
