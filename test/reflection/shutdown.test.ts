/**
 * A reflection stream lasts as long as its client asks, but never past
 * shutdown: streams held open by a leaksafe client (v1) and by a raw grpc-js
 * client (v1alpha) end with UNAVAILABLE when shutdown starts, and the report
 * forces nothing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ClientDuplexStream, credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { createClient, RpcError, Status } from "leaksafe";
import { type ServerReflectionRequest, ServerReflectionResponse, ServerReflectionService } from "leaksafe/reflection";
import { createLeakChecker } from "leaksafe/testing";
import { ServerReflectionRequest as Request } from "../../runtime/generated/grpc/reflection/v1/reflection.js";
import { eventually } from "../e2e/harness.js";
import { serve } from "./serve.js";

const GRACE = 10_000;

test("open reflection streams end at shutdown, within the grace, and nothing is forced", async () => {
  const leaks = createLeakChecker();
  const { server, target } = await serve();
  const client = createClient(ServerReflectionService, target);
  const Generic = makeGenericClientConstructor(
    {
      serverReflectionInfo: {
        path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        requestStream: true,
        responseStream: true,
        requestSerialize: (r: ServerReflectionRequest) => Buffer.from(Request.encode(r).finish()),
        requestDeserialize: (b: Buffer) => Request.decode(b),
        responseSerialize: (r: ServerReflectionResponse) => Buffer.from(ServerReflectionResponse.encode(r).finish()),
        responseDeserialize: (b: Buffer) => ServerReflectionResponse.decode(b),
      },
    },
    "ServerReflection",
  );
  const raw = new Generic(target, credentials.createInsecure());
  leaks.track({ registries: [server, client] });
  // The leaksafe client asks once, then keeps its request stream open.
  const idle = new AbortController();
  async function* questions(): AsyncGenerator<ServerReflectionRequest> {
    yield { host: "", listServices: "" };
    await new Promise((resolve) => idle.signal.addEventListener("abort", resolve, { once: true }));
  }
  try {
    const answers = client.serverReflectionInfo(questions())[Symbol.asyncIterator]();
    const first = await answers.next();
    assert.equal(first.done, false);
    const listed: ServerReflectionResponse = first.value;
    assert.ok(listed.listServicesResponse?.service.some((s) => s.name === "example.v1.Chat"));

    const stream = (
      raw as unknown as { serverReflectionInfo(): ClientDuplexStream<unknown, ServerReflectionResponse> }
    ).serverReflectionInfo();
    const rawAnswers: ServerReflectionResponse[] = [];
    const rawEnd = new Promise<number>((resolve) => {
      stream.on("data", (answer: ServerReflectionResponse) => rawAnswers.push(answer));
      stream.on("error", (error: { code: number }) => resolve(error.code));
      stream.on("status", (status: { code: number }) => resolve(status.code));
    });
    stream.write({ host: "", fileContainingSymbol: "example.v1.Chat" });
    await eventually(() => rawAnswers.length === 1, "the raw client's answer");
    assert.ok(rawAnswers[0]?.fileDescriptorResponse !== undefined);
    assert.equal(server.activeStreams().length, 2, "both streams are open when shutdown starts");

    const report = await server.shutdown({ graceMs: GRACE });
    assert.deepEqual(report.forced, [], "a reflection stream never needs forcing");
    assert.equal(report.finished, 2);
    assert.ok(report.durationMs < GRACE, `shutdown took ${report.durationMs} ms, more than the grace`);

    const end = await answers.next().catch((e: unknown) => e);
    assert.ok(end instanceof RpcError, String(end));
    assert.equal(end.code, Status.UNAVAILABLE);
    assert.equal(await rawEnd, Status.UNAVAILABLE);
  } finally {
    idle.abort();
    client.close();
    raw.close();
    await server.shutdown({ graceMs: GRACE });
    await leaks.assertNoLeaks();
  }
});
