/**
 * How far `shutdown({ graceMs })` runs past its grace period with many open
 * calls, measured from the call to the report. Two loads, each at 1,000,
 * 10,000 and 50,000 calls, held by a client in another process:
 * - idle streams: server-streaming calls, which shutdown ends at once;
 * - stuck unary calls: handlers that ignore their signal, so every one is
 *   forced when the grace period runs out (the worst case).
 * Prints the median of the rounds for each, as overshoot past graceMs, and
 * per call forced when the grace ran out (the README's bound is 0.1 ms).
 *
 * Run: TSX_TSCONFIG_PATH=bench/tsconfig.json npx tsx bench/shutdown.ts [rounds]
 */
import { fork } from "node:child_process";
import { createClient, createServer } from "leaksafe";
import { ChatService } from "../generated-example/example/v1/chat_leaksafe.js";
import { median } from "./suite/stats.js";

const GRACE_MS = 1000;
const SIZES = [1_000, 10_000, 50_000];
type Load = "streams" | "unary";

if (process.argv[2] === "client") {
  await holdCalls(Number(process.argv[3]), Number(process.argv[4]), process.argv[5] as Load);
} else {
  const rounds = Number(process.argv[2] ?? 3);
  console.log(`shutdown overshoot past graceMs ${GRACE_MS}, median of ${rounds} rounds, client in another process`);
  console.log("| load | open calls | shutdown took | overshoot | forced | overshoot per forced call |");
  console.log("|---|---|---|---|---|---|");
  for (const load of ["streams", "unary"] as const) {
    for (const size of SIZES) {
      const took: number[] = [];
      let forced = 0;
      for (let round = 0; round < rounds; round++) {
        const report = await shutdownWith(size, load);
        took.push(report.durationMs);
        forced = report.forced;
      }
      const ms = median(took);
      const over = Math.max(0, ms - GRACE_MS);
      console.log(
        `| ${load === "streams" ? "idle streams" : "stuck unary calls"} | ${size.toLocaleString("en")} | ${ms} ms | ${over} ms | ${forced.toLocaleString("en")} | ${forced === 0 ? "—" : `${((over / forced) * 1000).toFixed(1)} µs`} |`,
      );
    }
  }
}

/** One round: a server, `size` calls held open by a child process, then shutdown. */
async function shutdownWith(size: number, load: Load): Promise<{ durationMs: number; forced: number }> {
  // Up to 50,000 calls share the child's one connection, past the default
  // limit of 1000 streams a connection: this benchmark lifts it.
  const server = createServer({ maxConcurrentStreams: 0 }).add(ChatService, {
    post: () => new Promise(() => {}), // ignores its signal: forced at the end of the grace
    async *watch(_request, ctx) {
      yield { revision: 1, at: undefined };
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    },
    upload: () => Promise.reject(new Error("not used")),
    converse: () => {
      throw new Error("not used");
    },
  });
  const port = await server.listen("127.0.0.1:0");
  const child = fork(new URL(import.meta.url), ["client", String(port), String(size), load], {
    execArgv: ["--import", "tsx"],
    stdio: "inherit",
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // A call is listed from its HEADERS; it counts once its handler has its request.
  while (server.activeStreams().filter((call) => call.messagesIn > 0).length < size) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const report = await server.shutdown({ graceMs: GRACE_MS });
  child.kill();
  await exited;
  return { durationMs: report.durationMs, forced: report.forced.length };
}

/** The client side: opens `size` calls and holds them until the server ends them or the process is killed. */
async function holdCalls(port: number, size: number, load: Load): Promise<void> {
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  const calls: Array<Promise<unknown>> = [];
  for (let i = 0; i < size; i++) {
    if (load === "unary") {
      calls.push(client.post({ author: "a", text: "b" }).catch(() => undefined));
    } else {
      calls.push(
        (async () => {
          for await (const _ of client.watch({ afterRevision: 0 })) {
            // hold the stream open
          }
        })().catch(() => undefined),
      );
    }
  }
  await Promise.all(calls);
  client.close();
}
