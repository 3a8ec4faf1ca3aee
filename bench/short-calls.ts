/**
 * Short calls, the bulk of real traffic: a unary call, one at a time and 64
 * at once; an upload of one message; a server stream of one message; a bidi
 * exchange of one round trip. Each runs between raw grpc-js's client and
 * server, leaksafe's client and server, and the two mixed pairs, all in one
 * run, rounds alternating; the servers run in their own processes
 * (bench/suite/server.ts). Besides calls/s, the CPU time each side spent
 * per call, which a busy machine disturbs less than the wall clock. Also each
 * server's heap per open idle stream.
 * Prints a title line and a Markdown table of medians, with ratios to the
 * raw pair.
 *
 * Run: TSX_TSCONFIG_PATH=bench/tsconfig.json npx tsx bench/short-calls.ts [rounds]
 */
import { type ChildProcess, fork } from "node:child_process";
import { once, setMaxListeners } from "node:events";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { type ClientBase, createClient } from "leaksafe";
import { type BenchClient, BenchService } from "../generated-example/bench/v1/bench_leaksafe.js";
import { median } from "./suite/stats.js";

const ROUNDS = Number(process.argv[2] ?? 5);
const CALLS = 2000;
const CONCURRENT = 64;
const IDLE_STREAMS = 1000;
const payload = { data: new Uint8Array(16) };

type Side = "raw" | "leaksafe";
/** One client, whichever library, doing the five short calls; each resolves when the call is over. */
interface ShortCalls {
  unary(): Promise<unknown>;
  upload(): Promise<unknown>;
  serverStream(): Promise<unknown>;
  bidi(): Promise<unknown>;
  idle(signal: AbortSignal): Promise<unknown>;
  close(): void;
}

function leaksafeCalls(port: number): ShortCalls {
  const client: BenchClient & ClientBase = createClient(BenchService, `127.0.0.1:${port}`);
  const drain = async (stream: AsyncIterable<unknown>) => {
    for await (const _ of stream) {
    }
  };
  return {
    unary: () => client.echo(payload),
    upload: () =>
      client.sink(
        (async function* () {
          yield payload;
        })(),
      ),
    serverStream: () => drain(client.flood({ count: 1, size: 16 })),
    bidi: () =>
      drain(
        client.pingPong(
          (async function* () {
            yield payload;
          })(),
        ),
      ),
    idle: (signal) => drain(client.idle({ count: 0, size: 0 }, { signal })).catch(() => undefined),
    close: () => client.close(),
  };
}

function rawCalls(port: number): ShortCalls {
  const Client = grpc.makeGenericClientConstructor(BenchService as unknown as grpc.ServiceDefinition, "Bench");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (...args: unknown[]) => grpc.ClientReadableStream<unknown> & grpc.ClientWritableStream<unknown>
  >;
  // Done at the status, as a leaksafe call is: 'end' can come before it.
  const ended = (stream: NodeJS.EventEmitter) =>
    new Promise<void>((resolve, reject) => {
      stream.on("data", () => undefined);
      stream.once("status", () => resolve());
      stream.once("error", reject);
    });
  const unaryCall = (method: string, request?: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const callback = (error: unknown, response: unknown) => (error ? reject(error) : resolve(response));
      if (request === undefined) {
        const call = (client[method] as (cb: typeof callback) => grpc.ClientWritableStream<unknown>)(callback);
        call.write(payload);
        call.end();
      } else {
        (client[method] as (req: unknown, cb: typeof callback) => void)(request, callback);
      }
    });
  return {
    unary: () => unaryCall("echo", payload),
    upload: () => unaryCall("sink"),
    serverStream: () => ended((client.flood as (r: unknown) => NodeJS.EventEmitter)({ count: 1, size: 16 })),
    bidi: () => {
      const call = (client.pingPong as () => grpc.ClientDuplexStream<unknown, unknown>)();
      const done = ended(call);
      call.write(payload);
      call.end();
      return done;
    },
    idle: (signal) => {
      const call = (client.idle as (r: unknown) => grpc.ClientReadableStream<unknown>)({ count: 0, size: 0 });
      signal.addEventListener("abort", () => call.cancel(), { once: true });
      return ended(call).catch(() => undefined);
    },
    close: () => (client as unknown as grpc.Client).close(),
  };
}

/** `calls` calls of `one`, `concurrency` at a time; resolves to calls/s and each call's latency in ms. */
async function run(one: () => Promise<unknown>, calls: number, concurrency: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < calls) {
        const t = performance.now();
        await one();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const rate = calls / ((performance.now() - started) / 1000);
  latencies.sort((a, b) => a - b);
  return {
    rate,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  };
}

async function startServer(side: Side): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(import.meta.dirname, "suite/server.ts"), [side === "raw" ? "grpc-js" : "leaksafe"], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  const [data] = (await once(child.stdout as NodeJS.EventEmitter, "data")) as [Buffer];
  return { child, port: Number(data.toString()) };
}

/** The server process's CPU time so far, user and system, in µs. */
async function serverCpu(child: ChildProcess): Promise<number> {
  child.send("cpu");
  const [used] = (await once(child, "message")) as [number];
  return used;
}

async function serverHeap(child: ChildProcess): Promise<number> {
  child.send("heap");
  const [heap] = (await once(child, "message")) as [number];
  return heap;
}

const servers = { raw: await startServer("raw"), leaksafe: await startServer("leaksafe") };
const PAIRS = [
  ["raw", "raw"],
  ["leaksafe", "leaksafe"],
  ["leaksafe", "raw"],
  ["raw", "leaksafe"],
] as const;
const clients = new Map(
  PAIRS.map(([client, server]) => {
    const port = servers[server].port;
    return [`${client}→${server}`, client === "raw" ? rawCalls(port) : leaksafeCalls(port)] as const;
  }),
);

const SCENARIOS = [
  { name: "unary, one at a time", call: (c: ShortCalls) => c.unary(), concurrency: 1, latency: false },
  {
    name: `unary, ${CONCURRENT} concurrent`,
    call: (c: ShortCalls) => c.unary(),
    concurrency: CONCURRENT,
    latency: false,
  },
  { name: "client stream of 1 message", call: (c: ShortCalls) => c.upload(), concurrency: 1, latency: true },
  { name: "server stream of 1 message", call: (c: ShortCalls) => c.serverStream(), concurrency: 1, latency: false },
  { name: "bidi, 1 round trip", call: (c: ShortCalls) => c.bidi(), concurrency: 1, latency: true },
];
type Row = { rate: number[]; p50: number[]; p99: number[]; clientCpu: number[]; serverCpu: number[] };
const results = new Map<string, Map<string, Row>>();
for (const scenario of SCENARIOS) {
  const byPair = new Map<string, Row>();
  results.set(scenario.name, byPair);
  const pairs = [...clients.keys()];
  for (let round = -1; round < ROUNDS; round++) {
    const order = [
      ...pairs.slice(Math.max(0, round) % pairs.length),
      ...pairs.slice(0, Math.max(0, round) % pairs.length),
    ];
    for (const pair of order) {
      const server = servers[pair.endsWith("raw") ? "raw" : "leaksafe"].child;
      const calls = scenario.concurrency === 1 ? CALLS : CALLS * 5;
      const serverBefore = await serverCpu(server);
      const clientBefore = process.cpuUsage();
      const result = await run(() => scenario.call(clients.get(pair) as ShortCalls), calls, scenario.concurrency);
      const clientUsed = process.cpuUsage(clientBefore);
      const serverUsed = (await serverCpu(server)) - serverBefore;
      if (round < 0) continue; // warm-up
      const row = byPair.get(pair) ?? { rate: [], p50: [], p99: [], clientCpu: [], serverCpu: [] };
      row.rate.push(result.rate);
      row.p50.push(result.p50);
      row.p99.push(result.p99);
      row.clientCpu.push((clientUsed.user + clientUsed.system) / calls);
      row.serverCpu.push(serverUsed / calls);
      byPair.set(pair, row);
    }
  }
}

/** Each server's heap per open idle stream, its own client holding them. */
const heapPerStream = new Map<Side, number[]>();
for (let round = 0; round < 3; round++) {
  for (const side of ["raw", "leaksafe"] as const) {
    const { child } = servers[side];
    const client = clients.get(`${side}→${side}`) as ShortCalls;
    const before = await serverHeap(child);
    const controller = new AbortController();
    setMaxListeners(0, controller.signal); // one signal for every idle stream, on purpose
    const streams = Array.from({ length: IDLE_STREAMS }, () => client.idle(controller.signal));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const during = await serverHeap(child);
    controller.abort();
    await Promise.all(streams);
    heapPerStream.set(side, [...(heapPerStream.get(side) ?? []), (during - before) / IDLE_STREAMS / 1024]);
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en");
const ms = (n: number) => n.toFixed(2);
console.log(
  `short calls, median of ${ROUNDS} rounds (calls/s; ratio to raw client and server; latency p50/p99 in ms), servers in their own processes`,
);
console.log("| call | raw→raw | leaksafe→leaksafe | ratio | leaksafe→raw | ratio | raw→leaksafe | ratio |");
console.log("|---|---|---|---|---|---|---|---|");
for (const [name, byPair] of results) {
  const base = median(byPair.get("raw→raw")?.rate ?? [0]);
  const cell = (pair: string) => {
    const rate = median(byPair.get(pair)?.rate ?? [0]);
    return pair === "raw→raw" ? fmt(rate) : `${fmt(rate)} | ${(rate / base).toFixed(2)}×`;
  };
  console.log(
    `| ${name} | ${cell("raw→raw")} | ${cell("leaksafe→leaksafe")} | ${cell("leaksafe→raw")} | ${cell("raw→leaksafe")} |`,
  );
  for (const [side, key] of [
    ["client", "clientCpu"],
    ["server", "serverCpu"],
  ] as const) {
    const baseCpu = median(byPair.get("raw→raw")?.[key] ?? [0]);
    const cpu = (pair: string) => {
      const v = median(byPair.get(pair)?.[key] ?? [0]);
      return pair === "raw→raw" ? v.toFixed(0) : `${v.toFixed(0)} | ${(v / baseCpu).toFixed(2)}×`;
    };
    console.log(
      `| ${name}, ${side} CPU per call (µs) | ${cpu("raw→raw")} | ${cpu("leaksafe→leaksafe")} | ${cpu("leaksafe→raw")} | ${cpu("raw→leaksafe")} |`,
    );
  }
  if (SCENARIOS.find((s) => s.name === name)?.latency) {
    for (const q of ["p50", "p99"] as const) {
      const baseQ = median(byPair.get("raw→raw")?.[q] ?? [0]);
      const lat = (pair: string) => {
        const v = median(byPair.get(pair)?.[q] ?? [0]);
        return pair === "raw→raw" ? ms(v) : `${ms(v)} | ${(v / baseQ).toFixed(2)}×`;
      };
      console.log(
        `| ${name}, latency ${q} (ms) | ${lat("raw→raw")} | ${lat("leaksafe→leaksafe")} | ${lat("leaksafe→raw")} | ${lat("raw→leaksafe")} |`,
      );
    }
  }
}
const rawHeap = median(heapPerStream.get("raw") ?? [0]);
const ownHeap = median(heapPerStream.get("leaksafe") ?? [0]);
console.log(
  `| server heap per open idle stream (KiB) | ${rawHeap.toFixed(2)} | ${ownHeap.toFixed(2)} | ${(ownHeap / rawHeap).toFixed(2)}× | | | | |`,
);

for (const client of clients.values()) client.close();
for (const { child } of Object.values(servers)) child.kill();
process.exit(0);
