/**
 * A leaksafe server against hostile clients: the attacks of issue 15 that
 * the server already withstood when the issue was filed, kept here so that
 * none can come back. Each runs against a fresh server, through raw HTTP/2
 * frames (test/hostile/server-attacks.ts). After every attack the server has
 * not crashed, has logged nothing, serves a fresh call from a normal client,
 * has an empty registry, and leaves no handle behind.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createClient,
  createServer,
  type LeaksafeServer,
  type ServerOptions,
  Status,
  type StreamLimits,
} from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { assertFiredOnTime, assertNoticedAtOnce } from "../support/bounds.js";
import { servingChat } from "./chat-service.js";
import {
  gzipBomb,
  H2,
  headerFlood,
  hugeLengthPrefix,
  PATHS,
  pingFlood,
  resetFlood,
  sendGzipBomb,
  slowloris,
} from "./server-attacks.js";

/** What the server did while it was attacked. */
interface Attacked {
  /** Calls that reached the handlers' registry (onCallStart). */
  callsStarted: number;
  server: LeaksafeServer;
}

/**
 * Starts a server with `limits` (and `options`), runs `attack` against its
 * port, then checks that the server came through: nothing logged, the
 * registry empty and every connection the attacker closed closed on the
 * server too, before any shutdown; a fresh call served, a clean shutdown
 * and no leak.
 */
async function underAttack<T>(
  limits: StreamLimits,
  attack: (port: number, attacked: Attacked) => Promise<T>,
  options: ServerOptions = {},
): Promise<T> {
  const leaks = createLeakChecker();
  const socketsBefore = sockets();
  const logs = captureLogs();
  const attacked = { callsStarted: 0 } as Attacked;
  const server = createServer({ ...options, hooks: { onCallStart: () => attacked.callsStarted++ } }).add(
    ChatService,
    servingChat,
    limits,
  );
  attacked.server = server;
  leaks.track({ registries: [server] });
  const port = await server.listen("127.0.0.1:0");
  let attackedFine = false;
  try {
    const result = await attack(port, attacked);
    await eventually(() => server.activeStreams().length === 0, "the registry to empty after the attack");
    // The attacker's sockets in this process are closed by now: what is left is the server's.
    await eventually(() => sockets() <= socketsBefore, "the server to close the connections the attacker closed");
    const client = createClient(ChatService, `127.0.0.1:${port}`);
    try {
      assert.deepEqual(await client.post({ author: "ann", text: "after the attack" }), { revision: 1 });
    } finally {
      client.close();
    }
    attackedFine = true;
    return result;
  } finally {
    const report = await server.shutdown({ graceMs: 1000 });
    logs.stop();
    // After a failed assertion above, these would only hide it.
    if (attackedFine) {
      assert.deepEqual(report.forced, [], "no call is open at shutdown");
      assert.deepEqual(logs.lines, [], "the server logged nothing");
      await leaks.assertNoLeaks();
    }
  }
}

const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;

/** Records what the process writes to the console or stderr, and its warnings, until `stop`. */
function captureLogs(): { lines: string[]; stop(): void } {
  const lines: string[] = [];
  const methods = ["log", "info", "warn", "error", "debug", "trace"] as const;
  const saved = methods.map((name) => console[name]);
  for (const name of methods) {
    console[name] = (...args: unknown[]) => lines.push(`console.${name}: ${args.map(String).join(" ")}`);
  }
  const write = process.stderr.write;
  process.stderr.write = ((chunk: unknown) => lines.push(`stderr: ${String(chunk)}`) > 0) as typeof write;
  const onWarning = (warning: Error): void => {
    lines.push(`warning: ${warning.name}: ${warning.message}`);
  };
  process.on("warning", onWarning);
  return {
    lines,
    stop() {
      methods.forEach((name, i) => {
        console[name] = saved[i] as (typeof console)[typeof name];
      });
      process.stderr.write = write;
      process.off("warning", onWarning);
    },
  };
}

// 1. Slowloris on the streaming methods: a message dribbled slower than the
// idle limit, or headers and then nothing, is idle (a partial message is not
// a message); whole messages well inside the idle limit meet the total one.
// Each test's other limit is far enough away that a loaded machine cannot
// make it fire first.
const IDLE: StreamLimits = { idleTimeoutMs: 300, timeoutMs: 60_000 };
const TOTAL: StreamLimits = { idleTimeoutMs: 1000, timeoutMs: 1500 };
/** The slow client's pace: a tenth of TOTAL's idle limit. */
const EVERY_MS = 100;
for (const [kind, path] of [
  ["upload", PATHS.upload],
  ["converse", PATHS.converse],
] as const) {
  for (const how of ["dribbled-message", "headers-only"] as const) {
    test(`slowloris on ${kind}, ${how}: the idle limit ends it with DEADLINE_EXCEEDED`, async () => {
      await underAttack(IDLE, async (port, { server }) => {
        const attack = slowloris(port, path, how, EVERY_MS);
        await eventually(() => server.activeStreams().some((c) => c.method === path), "the call in the registry");
        const answer = await attack;
        assert.equal(answer.status, Status.DEADLINE_EXCEEDED, `${answer.status}: ${answer.message}`);
        assert.match(answer.message ?? "", /idleTimeoutMs/);
        assertFiredOnTime(answer.elapsedMs, IDLE.idleTimeoutMs as number, "the idle limit");
      });
    });
  }
  test(`slowloris on ${kind}, a message every tenth of the idle limit: the total limit ends it`, async () => {
    await underAttack(TOTAL, async (port) => {
      const answer = await slowloris(port, path, "slow-messages", EVERY_MS);
      assert.equal(answer.status, Status.DEADLINE_EXCEEDED, `${answer.status}: ${answer.message}`);
      assert.match(answer.message ?? "", /deadline/);
      assertFiredOnTime(answer.elapsedMs, TOTAL.timeoutMs as number, "the total limit");
    });
  });
}

// 2. Header floods are refused by Node's HTTP/2 layer before grpc-js sees a
// call, and the attacker's session is ended: a header block over Node's
// 64 KiB header list limit with GOAWAY COMPRESSION_ERROR; more header pairs
// than its 128 with RST_STREAM ENHANCE_YOUR_CALM, then GOAWAY INTERNAL_ERROR.
// After the COMPRESSION_ERROR, Node reads nothing more from the socket, so
// it does not see the attacker close it (a plain node:http2 server and raw
// grpc-js keep it too): only the idle-connection limit closes it, which
// this test shortens to 300 ms from its default of 5 minutes.
test("header flood, one header of 300 KiB: GOAWAY COMPRESSION_ERROR; the idle-connection limit closes the socket", async () => {
  await underAttack(
    {},
    async (port, attacked) => {
      const answer = await headerFlood(port, "one-huge-header");
      assert.equal(answer.status, undefined, "no gRPC status: the call never began");
      assert.equal(answer.rstCode, H2.COMPRESSION_ERROR);
      assert.equal(answer.goaway, H2.COMPRESSION_ERROR);
      assert.equal(attacked.callsStarted, 0);
    },
    { idleConnectionMs: 300 },
  );
});

test("header flood, 2,000 headers of 100 bytes: RST_STREAM ENHANCE_YOUR_CALM, then GOAWAY INTERNAL_ERROR", async () => {
  await underAttack({}, async (port, attacked) => {
    const answer = await headerFlood(port, "many-headers");
    assert.equal(answer.status, undefined, "no gRPC status: the call never began");
    assert.equal(answer.rstCode, H2.ENHANCE_YOUR_CALM);
    assert.equal(answer.goaway, H2.INTERNAL_ERROR);
    assert.equal(attacked.callsStarted, 0);
  });
});

// 3. PING floods: nghttp2 answers each PING with an ACK, and when the ACKs
// that one read of the socket queues reach 1,000 (its default limit of
// unsent ACKs) it takes the peer for a flood: the session ends with GOAWAY
// INTERNAL_ERROR before any ACK is written. Here 999 PINGs in one write were
// all acknowledged and 1,000 were a flood. (A write split over two reads
// queues fewer at once, so 999 can only stay below the limit.)
test("PING flood of 10,000 frames in one write: GOAWAY INTERNAL_ERROR, no ACK, connection closed", async () => {
  await underAttack({}, async (port) => {
    const answer = await pingFlood(port, 10_000, 5000);
    assert.deepEqual(answer, {
      acks: 0,
      goaway: { code: H2.INTERNAL_ERROR, lastStreamId: 0 },
      closedByServer: true,
    });
  });
});

test("999 PINGs in one write are no flood: every one is acknowledged", async () => {
  await underAttack({}, async (port) => {
    const answer = await pingFlood(port, 999, 5000);
    assert.deepEqual(answer, { acks: 999, goaway: undefined, closedByServer: false });
  });
});

// 4. A gzip bomb stops inflating at grpc-js's 4 MiB receive limit.
const bomb = gzipBomb();
for (const [kind, path] of Object.entries(PATHS)) {
  test(`gzip bomb on ${kind} (1 MiB inflating to 1 GiB): RESOURCE_EXHAUSTED, and memory stays bounded`, async () => {
    await underAttack({}, async (port) => {
      const peakBefore = process.resourceUsage().maxRSS;
      const answer = await sendGzipBomb(port, path, bomb);
      const grewMiB = (process.resourceUsage().maxRSS - peakBefore) / 1024;
      assert.equal(answer.status, Status.RESOURCE_EXHAUSTED, `${answer.status}: ${answer.message}`);
      assert.equal(answer.message, "Received message that decompresses to a size larger than 4194304");
      // Inflating the bomb whole would add 1 GiB to the process's peak.
      assert.ok(grewMiB < 256, `the peak RSS grew by ${grewMiB} MiB`);
    });
  });
}

// 5. A 4 GiB length prefix is refused on reading the prefix.
for (const [kind, path] of Object.entries(PATHS)) {
  test(`a 4 GiB length prefix on ${kind}: RESOURCE_EXHAUSTED at once, with 10 of its bytes sent`, async () => {
    await underAttack({}, async (port) => {
      const answer = await hugeLengthPrefix(port, path);
      assert.equal(answer.status, Status.RESOURCE_EXHAUSTED, `${answer.status}: ${answer.message}`);
      assert.equal(answer.message, "Received message larger than max (4294967295 vs 4194304)");
      assertNoticedAtOnce(answer.elapsedMs, "the refusal");
    });
  });
}

// 6. Ten thousand streams reset at random points. The server ends a
// connection whose peer resets streams faster than nghttp2's rapid-reset
// protection (CVE-2023-44487) allows: nghttp2 itself with GOAWAY
// INTERNAL_ERROR, or leaksafe first, gracefully, with GOAWAY NO_ERROR
// (runtime/reset-budget.ts). The attacker reconnects each time.
test("10,000 streams reset at random points: the flood is cut by GOAWAY, the server unharmed", async () => {
  const seed = 15;
  await underAttack({}, async (port) => {
    const answer = await resetFlood(port, 10_000, seed);
    const seen = `seed ${seed}: ${JSON.stringify(answer)}`;
    assert.equal(answer.opened, 10_000);
    assert.equal(answer.closed, 10_000, "every stream closed");
    assert.ok(answer.sessions >= 2 && answer.goaways.length >= 1, `the server cut the flood's connection: ${seen}`);
    for (const goaway of answer.goaways) {
      assert.ok([H2.NO_ERROR, H2.INTERNAL_ERROR].includes(goaway.code as 0 | 2), seen);
    }
  });
});
