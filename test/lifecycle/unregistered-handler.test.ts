/**
 * Shutdown's report counts every call that the grace waited for, also
 * those of a handler added straight on `server.grpcServer` (not through
 * `server.add`), which leaksafe does not track call by call: one that ends
 * within the grace is finished, one that never ends is forced, by its path.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import { createServer } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { eventually } from "../e2e/harness.js";

const bytes = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

const RAW: ServiceDefinition = {
  hang: { path: "/test.Raw/Hang", requestStream: false, responseStream: true, ...bytes },
  slow: { path: "/test.Raw/Slow", requestStream: false, responseStream: false, ...bytes },
};

test("a handler added on grpcServer that never ends is forced and named in the report; one that ends in the grace is finished", async () => {
  const leaks = createLeakChecker();
  const server = createServer();
  let slowCalls = 0;
  let hanging = 0;
  server.grpcServer.addService(RAW, {
    hang(call: ServerWritableStream<Buffer, Buffer>) {
      hanging++;
      call.write(Buffer.from("started")); // and never ends, whatever happens
    },
    slow(_call: ServerUnaryCall<Buffer, Buffer>, callback: (e: null, r: Buffer) => void) {
      slowCalls++;
      setTimeout(() => callback(null, Buffer.from("done")), 200);
    },
  });
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });
  const Raw = makeGenericClientConstructor(RAW, "Raw");
  const client = new Raw(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as Client & {
    hang(request: Buffer): NodeJS.EventEmitter;
    slow(request: Buffer, callback: (e: ServiceError | null, r?: Buffer) => void): void;
  };

  const hang = client.hang(Buffer.alloc(0));
  const hangEnd = new Promise<ServiceError>((resolve) => hang.on("error", resolve));
  hang.on("data", () => undefined);
  const slow = new Promise<unknown>((resolve) => client.slow(Buffer.alloc(0), (e, r) => resolve(e ?? r)));
  await eventually(() => hanging === 1 && slowCalls === 1, "both handlers to run");

  const report = await server.shutdown({ graceMs: 1000 });
  assert.deepEqual(
    report.forced.map(({ method }) => method),
    ["/test.Raw/Hang"],
    "the endless call is forced, by its path",
  );
  assert.equal(report.finished, 1, "the slow unary call finished within the grace");
  assert.ok((report.forced[0]?.peer ?? "").startsWith("127.0.0.1:"), `peer: ${report.forced[0]?.peer}`);
  assert.deepEqual(await slow, Buffer.from("done"));
  assert.ok((await hangEnd).code !== 0);
  client.close();
  await leaks.assertNoLeaks();
});
