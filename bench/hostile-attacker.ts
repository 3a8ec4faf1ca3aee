/**
 * The attacker's side of bench/hostile.ts, run in its own process so that
 * its memory and handles are not counted as the server's. Each attack is
 * run by name against a port; the streams it holds stay open until the
 * parent asks for a report, then the attacker closes everything and exits.
 *
 * IPC: the child sends `{ ready: true }` and waits for `go`, so that the
 * parent's baseline includes the child process itself; it sends
 * `{ attacked: true }` once its last frame has reached the server, and
 * `{ saw }` (what came back, tallied) when it is told to `report`.
 */
import { once } from "node:events";
import { Status } from "leaksafe";
import { UploadChunk } from "../generated-example/example/v1/chat.js";
import { connectRaw, type RawClient, type RawStream } from "../test/hostile/raw-client.js";
import {
  type Answer,
  answerOf,
  gzipBomb,
  headerFlood,
  PATHS,
  pingFlood,
  resetFlood,
  sendGzipBomb,
} from "../test/hostile/server-attacks.js";

/** Streams per connection when an attack holds many: half the server's default stream limit. */
const PER_SESSION = 500;

/** What an attack leaves the parent to measure: answers still to come, and sessions still held. */
interface Held {
  answers: Array<Promise<Answer>>;
  clients: RawClient[];
  /** A tally of what already came back, for attacks that finished on their own. */
  saw?: Map<string, number>;
}

export const ATTACKS = {
  /** 500 Upload and 500 Converse streams: HEADERS, then nothing. */
  "slowloris, HEADERS only, Upload and Converse ×1,000": async (port: number) =>
    hold(port, 1000, (i) => (i % 2 === 0 ? PATHS.upload : PATHS.converse)),
  /** 100 connections with one 300 KiB header, 100 with 2,000 headers of 100 bytes. */
  "header flood, 300 KiB header ×100 and 2,000 headers ×100": async (port: number) => {
    const answers = await inBatches(200, 20, (i) => headerFlood(port, i < 100 ? "one-huge-header" : "many-headers"));
    return done(answers.map((a) => `${describe(a)}${a.goaway === undefined ? "" : `, GOAWAY ${a.goaway}`}`));
  },
  /** 10 connections, each sending 10,000 PINGs in one write. */
  "PING flood, 10,000 PINGs ×10 connections": async (port: number) => {
    const answers = await inBatches(10, 10, () => pingFlood(port, 10_000, 10_000));
    return done(answers.map((a) => (a.goaway === undefined ? `${a.acks} ACKs` : `GOAWAY ${a.goaway.code}`)));
  },
  /** 20 gzip bombs of 1 MiB inflating to 1 GiB each, on Upload, 5 at a time. */
  "gzip bomb, 1 MiB inflating to 1 GiB ×20": async (port: number) => {
    const bomb = gzipBomb();
    return done((await inBatches(20, 5, () => sendGzipBomb(port, PATHS.upload, bomb))).map(describe));
  },
  /** 1,000 Upload streams whose first message claims 4 GiB; the streams stay open. */
  "4 GiB length prefix ×1,000": async (port: number) =>
    hold(
      port,
      1000,
      () => PATHS.upload,
      (call) => call.writeMessage(new Uint8Array(10), { length: 0xffffffff }),
    ),
  /** 10,000 streams on the four methods, reset at random points. */
  "10,000 random resets": async (port: number) => {
    const answer = await resetFlood(port, 10_000, 15);
    return done([
      ...answer.goaways.map((g) => `GOAWAY ${g.code}`),
      ...Array(answer.sessions).fill("connection"),
      ...Array(answer.closed).fill("stream closed"),
    ]);
  },
  /** 2,000 Post streams: HEADERS only, no message, no END_STREAM. */
  "headers-only unary ×2,000": async (port: number) => hold(port, 2000, () => PATHS.post),
  /** 50 Upload calls answered with 1 MiB each, to a peer whose SETTINGS grant streams no window. */
  "single 1 MiB responses, no window granted ×50": async (port: number) =>
    hold(
      port,
      50,
      () => PATHS.upload,
      (call) => {
        call.writeMessage(UploadChunk.encode({ name: "big", data: new Uint8Array(1) }).finish());
        call.end();
      },
      { initialWindowSize: 0 },
    ),
  /** 1,000 Upload streams: 7 bytes of a 25-byte frame, then END_STREAM. */
  "truncated frame, then END_STREAM ×1,000": async (port: number) =>
    hold(
      port,
      1000,
      () => PATHS.upload,
      (call) => {
        call.writeBytes(Buffer.from([0, 0, 0, 0, 20, 10, 4]));
        call.end();
      },
    ),
} satisfies Record<string, (port: number) => Promise<Held>>;

export type AttackName = keyof typeof ATTACKS;

/** Opens `count` streams, `PER_SESSION` to a connection, starts each with `begin`, and holds them. */
async function hold(
  port: number,
  count: number,
  path: (i: number) => string,
  begin: (call: RawStream) => void = () => {},
  settings = {},
): Promise<Held> {
  const held: Held = { answers: [], clients: [] };
  for (let i = 0; i < count; i++) {
    if (i % PER_SESSION === 0) held.clients.push(await connectRaw(port, settings));
    const call = (held.clients.at(-1) as RawClient).open(path(i), { read: false });
    held.answers.push(answerOf(call));
    begin(call);
  }
  // The server reads frames in order: once a PING is acknowledged, it has seen every stream before it.
  await Promise.all(held.clients.map((c) => new Promise((resolve) => c.session.ping(resolve))));
  return held;
}

async function inBatches<T>(count: number, batch: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < count; i += batch) {
    results.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => run(i + j)))));
  }
  return results;
}

function done(seen: string[]): Held {
  const saw = new Map<string, number>();
  for (const s of seen) saw.set(s, (saw.get(s) ?? 0) + 1);
  return { answers: [], clients: [], saw };
}

function describe(answer: Answer): string {
  if (answer.status !== undefined) return Status[answer.status] ?? `status ${answer.status}`;
  return `RST_STREAM ${answer.rstCode}`;
}

/** Tallies what came back so far: a status, a reset, or nothing yet. */
async function tally(held: Held): Promise<string> {
  const saw = held.saw ?? new Map<string, number>();
  const pending = Symbol("pending");
  for (const answer of held.answers) {
    const a = await Promise.race([answer, Promise.resolve(pending)]);
    const key = a === pending ? "no status, stream open" : describe(a);
    saw.set(key, (saw.get(key) ?? 0) + 1);
  }
  return [...saw].map(([what, n]) => `${what} ×${n.toLocaleString("en")}`).join(", ");
}

if (process.argv[2] === "attack") {
  const name = process.argv[3] as AttackName;
  process.send?.({ ready: true });
  await once(process, "message");
  const held = await ATTACKS[name](Number(process.argv[4]));
  process.send?.({ attacked: true });
  await once(process, "message");
  process.send?.({ saw: await tally(held) });
  await Promise.all(held.clients.map((c) => c.close()));
  process.disconnect();
}
