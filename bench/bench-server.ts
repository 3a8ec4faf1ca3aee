/**
 * The server that bench/streams.ts measures against, in its own process.
 * It prints its port, then serves until killed.
 */
import { createServer } from "leaksafe";
import type { Payload } from "../generated-example/bench/v1/bench.js";
import { BenchService } from "../generated-example/bench/v1/bench_leaksafe.js";

const payloads = new Map<number, Payload>();

const server = createServer().add(BenchService, {
  async echo(payload) {
    return payload;
  },
  async *flood(request) {
    let payload = payloads.get(request.size);
    if (payload === undefined) {
      payload = { data: new Uint8Array(request.size).fill(7) };
      payloads.set(request.size, payload);
    }
    for (let i = 0; i < request.count; i++) yield payload;
  },
  async *pingPong(requests) {
    for await (const payload of requests) yield payload;
  },
  async sink(requests) {
    let count = 0;
    for await (const _ of requests) count++;
    return { count };
  },
  async *idle(_request, ctx) {
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  },
});
const port = await server.listen("127.0.0.1:0");
console.log(port);
