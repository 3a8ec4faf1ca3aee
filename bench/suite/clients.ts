/**
 * One client per peer, each written the way that peer's users write it, all
 * doing the same five things.
 */
import { once, setMaxListeners } from "node:events";
import { join } from "node:path";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "leaksafe";
import { createChannel, createClient as createNiceClient } from "nice-grpc";
import { BenchService } from "../../generated-example/bench/v1/bench_leaksafe.js";
import { GEN } from "./generate.js";

export interface PeerClient {
  /** Receives `count` payloads of `size` bytes; resolves to how many came. */
  serverStream(count: number, size: number): Promise<number>;
  /** Sends up to `count` 16-byte payloads in one call, waiting for backpressure, until `untilMs` (epoch); resolves to how many were sent. */
  clientStream(count: number, untilMs: number): Promise<number>;
  /** Sends `rounds` payloads one at a time, each after the previous answer; records each round trip in ms. */
  pingPong(rounds: number, latencies: number[]): Promise<void>;
  /** Starts `n` idle server streams; resolves to a function that cancels them and waits for their end. */
  openIdle(n: number): Promise<() => Promise<void>>;
  close(): void;
}

const ALL_PEERS = ["grpc-js", "ts-proto", "nice-grpc", "connect", "leaksafe"] as const;
export type Peer = (typeof ALL_PEERS)[number];
/** The peers to run; BENCH_PEERS=grpc-js,leaksafe picks a subset. raw grpc-js is always first: ratios are to it. */
export const PEERS: readonly Peer[] = process.env.BENCH_PEERS
  ? ALL_PEERS.filter((p) => p === "grpc-js" || (process.env.BENCH_PEERS ?? "").split(",").includes(p))
  : ALL_PEERS;

const small = { data: new Uint8Array(16) };

/** A request stream fed by the ping-pong loop: the next request leaves when the last answer arrived. */
function pinger(rounds: number, latencies: number[]) {
  let answered: (() => void) | undefined;
  let sentAt = 0;
  return {
    requests: (async function* () {
      for (let i = 0; i < rounds; i++) {
        sentAt = performance.now();
        yield small;
        await new Promise<void>((resolve) => {
          answered = resolve;
        });
      }
    })(),
    answer() {
      latencies.push(performance.now() - sentAt);
      answered?.();
    },
  };
}

async function* sendUntil(count: number, untilMs: number, sent: { n: number }) {
  for (let i = 0; i < count && (i % 64 !== 0 || Date.now() < untilMs); i++) {
    sent.n++;
    yield small;
  }
}

/**
 * Opens `n` idle streams, each read with `for await` and all cancelled through
 * one signal; resolves to a function that cancels them and waits for their end.
 * An idle stream sends nothing, so "open" is when the server holds it; the runner waits for that.
 */
async function openIdleStreams(
  n: number,
  open: (signal: AbortSignal) => AsyncIterable<unknown>,
): Promise<() => Promise<void>> {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // one signal for n calls, on purpose
  const loops = Array.from({ length: n }, async () => {
    try {
      for await (const _ of open(controller.signal)) {
      }
    } catch {
      // cancelled, as intended
    }
  });
  return async () => {
    controller.abort();
    await Promise.all(loops);
  };
}

/** grpc-js calls, made through raw grpc-js or through ts-proto's generated client. */
function grpcStyle(
  flood: (req: object) => grpc.ClientReadableStream<any>,
  sink: (cb: (e: unknown) => void) => grpc.ClientWritableStream<any>,
  pingPong: () => grpc.ClientDuplexStream<any, any>,
  idle: (req: object) => grpc.ClientReadableStream<any>,
  close: () => void,
): PeerClient {
  return {
    async serverStream(count, size) {
      let n = 0;
      for await (const _ of flood({ count, size })) n++;
      return n;
    },
    async clientStream(count, untilMs) {
      let call!: grpc.ClientWritableStream<any>;
      const done = new Promise((resolve, reject) => {
        call = sink((e) => (e ? reject(e) : resolve(undefined)));
      });
      let sent = 0;
      for (let i = 0; i < count && (i % 64 !== 0 || Date.now() < untilMs); i++) {
        sent++;
        if (!call.write(small)) await once(call, "drain");
      }
      call.end();
      await done;
      return sent;
    },
    async pingPong(rounds, latencies) {
      const call = pingPong();
      let n = 0;
      let sentAt = performance.now();
      call.write(small);
      for await (const _ of call) {
        latencies.push(performance.now() - sentAt);
        if (++n === rounds) {
          call.end();
        } else {
          sentAt = performance.now();
          call.write(small);
        }
      }
    },
    openIdle: (n) =>
      // Each stream is read with `for await`, as a raw grpc-js watch would be, and cancelled
      // through the shared signal with `call.cancel()`.
      openIdleStreams(n, (signal) => {
        const call = idle({ count: 0, size: 0 });
        signal.addEventListener("abort", () => call.cancel(), { once: true });
        return call;
      }),
    close,
  };
}

/** Clients whose calls take and return async iterables and AbortSignals: nice-grpc, connect and leaksafe. */
function iterableStyle(
  flood: (req: object) => AsyncIterable<unknown>,
  sink: (requests: AsyncIterable<unknown>) => Promise<unknown>,
  pingPong: (requests: AsyncIterable<unknown>) => AsyncIterable<unknown>,
  idle: (req: object, signal: AbortSignal) => AsyncIterable<unknown>,
  close: () => void,
): PeerClient {
  return {
    async serverStream(count, size) {
      let n = 0;
      for await (const _ of flood({ count, size })) n++;
      return n;
    },
    async clientStream(count, untilMs) {
      const sent = { n: 0 };
      await sink(sendUntil(count, untilMs, sent));
      return sent.n;
    },
    async pingPong(rounds, latencies) {
      const p = pinger(rounds, latencies);
      for await (const _ of pingPong(p.requests)) p.answer();
    },
    openIdle: (n) => openIdleStreams(n, (signal) => idle({ count: 0, size: 0 }, signal)),
    close,
  };
}

/** `channelOptions` applies to raw grpc-js only (the cliff's control: its retry buffer set as leaksafe sets it). */
export async function createPeerClient(
  peer: Peer,
  port: number,
  channelOptions?: grpc.ChannelOptions,
): Promise<PeerClient> {
  const address = `127.0.0.1:${port}`;
  const md = () => new grpc.Metadata();
  if (peer === "grpc-js") {
    const c = new grpc.Client(address, grpc.credentials.createInsecure(), channelOptions);
    const m = BenchService;
    return grpcStyle(
      (req) =>
        c.makeServerStreamRequest(
          m.flood.path,
          m.flood.requestSerialize,
          m.flood.responseDeserialize,
          req as never,
          md(),
          {},
        ),
      (cb) => c.makeClientStreamRequest(m.sink.path, m.sink.requestSerialize, m.sink.responseDeserialize, md(), {}, cb),
      () =>
        c.makeBidiStreamRequest(m.pingPong.path, m.pingPong.requestSerialize, m.pingPong.responseDeserialize, md(), {}),
      (req) =>
        c.makeServerStreamRequest(
          m.idle.path,
          m.idle.requestSerialize,
          m.idle.responseDeserialize,
          req as never,
          md(),
          {},
        ),
      () => c.close(),
    );
  }
  if (peer === "ts-proto") {
    const generated = await import(join(GEN, "tsproto/bench/v1/bench.ts"));
    const c = new generated.BenchClient(address, grpc.credentials.createInsecure());
    return grpcStyle(
      (req) => c.flood(req),
      (cb) => c.sink(cb),
      () => c.pingPong(),
      (req) => c.idle(req),
      () => c.close(),
    );
  }
  if (peer === "nice-grpc") {
    const generated = await import(join(GEN, "nice/bench/v1/bench.ts"));
    const channel = createChannel(address);
    const c = createNiceClient(generated.BenchDefinition, channel) as any;
    return iterableStyle(
      (req) => c.flood(req),
      (reqs) => c.sink(reqs),
      (reqs) => c.pingPong(reqs),
      (req, signal) => c.idle(req, { signal }),
      () => channel.close(),
    );
  }
  if (peer === "connect") {
    const generated = await import(join(GEN, "es/bench/v1/bench_pb.ts"));
    const c = createConnectClient(generated.Bench, createGrpcTransport({ baseUrl: `http://${address}` })) as any;
    return iterableStyle(
      (req) => c.flood(req),
      (reqs) => c.sink(reqs),
      (reqs) => c.pingPong(reqs),
      (req, signal) => c.idle(req, { signal }),
      () => undefined,
    );
  }
  const c = createClient(BenchService, address);
  return iterableStyle(
    (req) => c.flood(req as never, { idleTimeoutMs: 0, timeoutMs: 0 }),
    (reqs) => c.sink(reqs as never, { timeoutMs: 0 }),
    (reqs) => c.pingPong(reqs as never, { idleTimeoutMs: 0, timeoutMs: 0 }),
    (req, signal) => c.idle(req as never, { signal }), // the defaults: every stream ends by itself
    () => c.close(),
  );
}
