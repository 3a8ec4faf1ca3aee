/**
 * What a leaksafe server holds after each hostile-peer attack of issue 15:
 * not how fast it is, but what is left. Each attack runs against a fresh
 * server from an attacker in another process (bench/hostile-attacker.ts),
 * which keeps its connections open until the end. The server measures
 * itself twice, after a GC:
 * - at the end of the attack, once its last frame has reached the server;
 * - after its limits ran: the total limit plus 2 s later.
 * Each time: calls in the registry, server sockets (one per HTTP/2
 * session), active resources (handles and timers), and heap and RSS growth
 * since the server started. Then a normal client makes a fresh call, while
 * the attacker still holds what it holds. Last, 1 s after the attacker's
 * process exited, what is left: calls and sockets. Prints a title line and
 * a Markdown table.
 *
 * Run: TSX_TSCONFIG_PATH=bench/tsconfig.json npx tsx bench/hostile.ts [part of an attack's name]
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createClient, createServer, type LeaksafeServer, RpcError, Status } from "leaksafe";
import { type ChatImplementation, ChatService } from "../generated-example/example/v1/chat_leaksafe.js";
import { servingChat } from "../test/hostile/chat-service.js";
import { ATTACKS, type AttackName } from "./hostile-attacker.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** The server's limits for every Chat method: short, so that the bench sees them run. */
const LIMITS = { idleTimeoutMs: 1000, timeoutMs: 3000, sendTimeoutMs: 1000 };
const SETTLE_MS = LIMITS.timeoutMs + 2000;
/** How long after the attacker's process exited the server is looked at once more. */
const LEFT_MS = 1000;
const MiB = 1024 * 1024;

/** The served Chat, except that an upload named "big" is answered with 1 MiB, for the peer that never reads. */
const chat: ChatImplementation = {
  ...servingChat,
  async upload(requests) {
    let name = "";
    let chunks = 0;
    for await (const chunk of requests) {
      name ||= chunk.name;
      chunks++;
    }
    return { name: name === "big" ? "x".repeat(MiB) : name, bytes: 0, chunks };
  },
};

interface Snapshot {
  streams: number;
  sockets: number;
  resources: number;
  heap: number;
  rss: number;
}

function snapshot(server: LeaksafeServer): Snapshot {
  gc();
  gc();
  const resources = process.getActiveResourcesInfo();
  const memory = process.memoryUsage();
  return {
    streams: server.activeStreams().length,
    sockets: resources.filter((r) => r === "TCPSocketWrap").length,
    resources: resources.length,
    heap: memory.heapUsed + memory.external,
    rss: memory.rss,
  };
}

async function freshCall(port: number): Promise<string> {
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  try {
    await client.post({ author: "ann", text: "fresh" }, { timeoutMs: 5000 });
    return "yes";
  } catch (error) {
    return `no: ${error instanceof RpcError ? Status[error.code] : String(error)}`;
  } finally {
    client.close();
  }
}

async function run(name: AttackName): Promise<string> {
  const server = createServer().add(ChatService, chat, LIMITS);
  const port = await server.listen("127.0.0.1:0");
  const attacker = fork(new URL("./hostile-attacker.ts", import.meta.url), ["attack", name, String(port)], {
    execArgv: ["--import", "tsx"],
    stdio: "inherit",
  });
  const exited = once(attacker, "exit");
  await once(attacker, "message");
  const base = snapshot(server);
  attacker.send("go");
  await once(attacker, "message");
  const end = snapshot(server);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const after = snapshot(server);
  const fresh = await freshCall(port);
  attacker.send("report");
  const [{ saw }] = (await once(attacker, "message")) as [{ saw: string }];
  await exited;
  await new Promise((resolve) => setTimeout(resolve, LEFT_MS));
  const left = snapshot(server);
  await server.shutdown({ graceMs: 1000 });
  const both = (f: (s: Snapshot) => string) => `${f(end)} → ${f(after)}`;
  const count = (n: number) => n.toLocaleString("en");
  const grew = (n: number) => `${n >= 0 ? "+" : "−"}${Math.abs(n / MiB).toFixed(1)}`;
  return `| ${name} | ${saw} | ${both((s) => count(s.streams))} | ${both((s) => count(s.sockets - base.sockets))} | ${both((s) => `${s.resources >= base.resources ? "+" : "−"}${Math.abs(s.resources - base.resources)}`)} | ${both((s) => grew(s.heap - base.heap))} | ${both((s) => grew(s.rss - base.rss))} | ${fresh} | ${count(left.streams)} calls, ${count(left.sockets - base.sockets)} sockets |`;
}

const only = process.argv[2];
const names = (Object.keys(ATTACKS) as AttackName[]).filter((name) => only === undefined || name.includes(only));
console.log(
  `resources a leaksafe server holds at the end of each attack → ${SETTLE_MS / 1000} s later, after its limits ran (idleTimeoutMs ${LIMITS.idleTimeoutMs}, timeoutMs ${LIMITS.timeoutMs}, sendTimeoutMs ${LIMITS.sendTimeoutMs}); attacker in another process, holding its connections until the fresh call is made, then exiting`,
);
console.log(
  "| attack | what the attacker saw | calls in the registry | server sockets | active resources | heap and external memory growth, MiB | RSS growth, MiB | fresh call served | left 1 s after the attacker exited |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const name of names) {
  console.log(await run(name));
}
