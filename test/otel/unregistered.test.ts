/**
 * A66's rule for method names on a server: a path no service of the server
 * has is recorded as "other", so a peer cannot make up attribute values;
 * a method of an added service that its implementation lacks keeps its name.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import type { Histogram } from "@opentelemetry/sdk-metrics";
import { createClient, createServer, type ImplementationOf, RpcError, Status, type UnservedCallInfo } from "leaksafe";
import { openTelemetry } from "leaksafe/otel";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { attributeSets, createTelemetry, pointOf } from "./collect.js";

/** A unary call to any path, with raw bytes, through plain grpc-js. */
function rawCall(client: Client, path: string): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0x0a, 0x01, 0x61]),
      (error) => (error === null ? reject(new Error(`${path} answered`)) : resolve(error)),
    );
  });
}

test('unregistered methods are "other" on the server; a registered one the implementation lacks keeps its name', async () => {
  const telemetry = createTelemetry();
  const unserved: UnservedCallInfo[] = [];
  const leaks = createLeakChecker();
  const server = createServer({
    hooks: [openTelemetry({ meterProvider: telemetry.meterProvider }), { onUnservedCall: (i) => unserved.push(i) }],
  });
  // `watch` is left out: grpc-js answers it UNIMPLEMENTED.
  const partial = { post: async () => ({ revision: 1 }) } as unknown as ImplementationOf<typeof ChatService>;
  server.add(ChatService, partial);
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  const raw = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  leaks.track({ registries: [server, client] });
  try {
    for (const path of ["/nope.v1.Nope/Call", "/attacker.v1.Made/Up-1234567890", "/example.v1.Chat/Nope"]) {
      assert.equal((await rawCall(raw, path)).code, Status.UNIMPLEMENTED, path);
    }
    const watch = client.watch({ afterRevision: 0 })[Symbol.asyncIterator]();
    await assert.rejects(watch.next(), (error) => error instanceof RpcError && error.code === Status.UNIMPLEMENTED);
    await client.post({ author: "a", text: "b" });
    await eventually(() => unserved.length === 4, "the four unserved calls to be reported");

    assert.deepEqual(
      unserved.map((u) => [u.method, u.registered, u.code]).sort(),
      [
        ["/attacker.v1.Made/Up-1234567890", false, Status.UNIMPLEMENTED],
        ["/example.v1.Chat/Nope", false, Status.UNIMPLEMENTED],
        ["/example.v1.Chat/Watch", true, Status.UNIMPLEMENTED],
        ["/nope.v1.Nope/Call", false, Status.UNIMPLEMENTED],
      ].sort(),
    );
    const metrics = await telemetry.metrics();
    const other = { "grpc.method": "other" };
    assert.equal(pointOf<number>(metrics, "grpc.server.call.started", other).value, 3);
    const otherDone = { ...other, "grpc.status": "UNIMPLEMENTED" };
    assert.equal(pointOf<Histogram>(metrics, "grpc.server.call.duration", otherDone).value.count, 3);
    assert.equal(
      pointOf<Histogram>(metrics, "grpc.server.call.rcvd_total_compressed_message_size", otherDone).value.count,
      3,
    );
    const watch_ = { "grpc.method": "example.v1.Chat/Watch" };
    assert.equal(pointOf<number>(metrics, "grpc.server.call.started", watch_).value, 1);
    assert.equal(
      pointOf<Histogram>(metrics, "grpc.server.call.duration", { ...watch_, "grpc.status": "UNIMPLEMENTED" }).value
        .count,
      1,
    );
    const methods = new Set(attributeSets(metrics, "grpc.server.call.started").map((a) => a["grpc.method"]));
    assert.deepEqual([...methods].sort(), ["example.v1.Chat/Post", "example.v1.Chat/Watch", "other"]);
  } finally {
    raw.close();
    client.close();
    await server.shutdown({ graceMs: 1000 });
  }
  await leaks.assertNoLeaks();
});
