/**
 * One peer's bench server, in its own process: `server.ts PEER` prints the
 * port. Every peer serves the same four methods the same way:
 * Echo (one answer), Flood (count × size), PingPong (echo), Sink (count),
 * Idle (nothing, until cancelled). With an IPC channel (bench/short-calls.ts),
 * it answers "heap" with its heap in use after a full GC.
 */
import { once } from "node:events";
import { createServer as createHttp2Server } from "node:http2";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { createServer } from "leaksafe";
import { createServer as createNiceServer } from "nice-grpc";
import { BenchService } from "../../generated-example/bench/v1/bench_leaksafe.js";
import { GEN } from "./generate.js";

setFlagsFromString("--expose-gc");
const peer = process.argv[2];
const payloads = new Map<number, { data: Uint8Array }>();
const payload = (size: number) => {
  let p = payloads.get(size);
  if (p === undefined) {
    p = { data: new Uint8Array(size).fill(7) };
    payloads.set(size, p);
  }
  return p;
};

/** Idiomatic async-iterable handlers, shared by the peers whose servers take them. */
const iterableHandlers = {
  async echo(request: { data: Uint8Array }) {
    return request;
  },
  async *flood(request: { count: number; size: number }) {
    const p = payload(request.size);
    for (let i = 0; i < request.count; i++) yield p;
  },
  async *pingPong(requests: AsyncIterable<{ data: Uint8Array }>) {
    for await (const p of requests) yield p;
  },
  async sink(requests: AsyncIterable<unknown>) {
    let count = 0;
    for await (const _ of requests) count++;
    return { count };
  },
  async *idle(_request: unknown, ctx: { signal: AbortSignal }) {
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  },
};

/** grpc-js callback handlers, for raw grpc-js and ts-proto's stubs. */
const callbackHandlers = {
  echo(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
    callback(null, call.request);
  },
  async flood(call: grpc.ServerWritableStream<{ count: number; size: number }, unknown>) {
    const p = payload(call.request.size);
    for (let i = 0; i < call.request.count && !call.cancelled; i++) {
      if (!call.write(p)) await once(call, "drain");
    }
    call.end();
  },
  pingPong(call: grpc.ServerDuplexStream<unknown, unknown>) {
    call.on("data", (p) => call.write(p));
    call.on("end", () => call.end());
    call.on("error", () => undefined);
  },
  sink(call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
    let count = 0;
    call.on("data", () => count++);
    call.on("end", () => callback(null, { count }));
    call.on("error", () => undefined);
  },
  idle(call: grpc.ServerWritableStream<unknown, unknown>) {
    call.on("cancelled", () => call.end());
    call.on("error", () => undefined);
  },
};

async function grpcServer(definition: grpc.ServiceDefinition): Promise<number> {
  const server = new grpc.Server();
  server.addService(definition, callbackHandlers as never);
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, port) =>
      e ? reject(e) : resolve(port),
    ),
  );
}

let port: number;
if (peer === "grpc-js") {
  port = await grpcServer(BenchService);
} else if (peer === "ts-proto") {
  const generated = await import(join(GEN, "tsproto/bench/v1/bench.ts"));
  port = await grpcServer(generated.BenchService);
} else if (peer === "nice-grpc") {
  const generated = await import(join(GEN, "nice/bench/v1/bench.ts"));
  const server = createNiceServer();
  server.add(generated.BenchDefinition, iterableHandlers as never);
  port = await server.listen("127.0.0.1:0");
} else if (peer === "connect") {
  const generated = await import(join(GEN, "es/bench/v1/bench_pb.ts"));
  const http2 = createHttp2Server(
    connectNodeAdapter({
      grpc: true,
      grpcWeb: false,
      connect: false,
      routes: (r) => r.service(generated.Bench, iterableHandlers as never),
    }),
  );
  await new Promise<void>((resolve) => http2.listen(0, "127.0.0.1", resolve));
  port = (http2.address() as { port: number }).port;
} else if (peer === "leaksafe") {
  const server = createServer().add(BenchService, iterableHandlers as never);
  port = await server.listen("127.0.0.1:0");
} else {
  throw new Error(`unknown peer ${peer}`);
}
console.log(port);

if (process.send !== undefined) {
  const gc = runInNewContext("gc") as () => void;
  process.on("message", (message) => {
    if (message === "exit") {
      process.exit(0);
    }
    if (message === "cpu") {
      const { user, system } = process.cpuUsage();
      process.send?.(user + system);
    }
    if (message === "heap") {
      gc();
      gc();
      process.send?.(process.memoryUsage().heapUsed);
    }
  });
}
