/**
 * Rich error details between leaksafe and plain grpc-js, both ways. The far
 * side's google.rpc.Status is made and read by @bufbuild/protobuf from our
 * own .proto files (foreign.ts), never by leaksafe's codec.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  type ClientReadableStream,
  credentials,
  type handleServerStreamingCall,
  type handleUnaryCall,
  Metadata,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import { createClient, createServer, RpcError, STATUS_DETAILS_KEY, Status } from "leaksafe";
import {
  BadRequest,
  DebugInfo,
  type DetailType,
  ErrorInfo,
  findDetail,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from "leaksafe/error-details";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";
import { foreignStatusBytes, foreignStatusJson, removeGenerated } from "./foreign.js";
import {
  BAD_REQUEST,
  DEBUG_INFO,
  ERROR_INFO,
  HELP,
  LOCALIZED_MESSAGE,
  PRECONDITION_FAILURE,
  QUOTA_FAILURE,
  REQUEST_INFO,
  RESOURCE_INFO,
  RETRY_INFO,
  SAMPLE_JSON,
  sampleDetails,
} from "./sample.js";

after(removeGenerated);

const MESSAGE = "the room is full";

/** Asserts that `error` holds the ten sample details, decoded by leaksafe from another encoder's bytes. */
function assertSample(error: unknown): void {
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(error.code, Status.RESOURCE_EXHAUSTED);
  assert.equal(error.details, MESSAGE);
  assert.equal(error.statusDetailsError, undefined);
  assert.equal(error.statusDetails.length, 10);
  const expected: Array<[DetailType<unknown, never>, unknown]> = [
    [ErrorInfo, ERROR_INFO],
    [RetryInfo, RETRY_INFO],
    [DebugInfo, DEBUG_INFO],
    [QuotaFailure, QUOTA_FAILURE],
    [PreconditionFailure, PRECONDITION_FAILURE],
    [BadRequest, BAD_REQUEST],
    [RequestInfo, REQUEST_INFO],
    [ResourceInfo, RESOURCE_INFO],
    [Help, HELP],
    [LocalizedMessage, LOCALIZED_MESSAGE],
  ];
  for (const [type, value] of expected) {
    assert.deepEqual(findDetail(error, type), value, type.typeName);
  }
}

test("a grpc-js server's grpc-status-details-bin reaches a leaksafe client, unary and streaming", async () => {
  const leaks = createLeakChecker();
  const trailer = () => {
    const metadata = new Metadata();
    metadata.set(STATUS_DETAILS_KEY, foreignStatusBytes(Status.RESOURCE_EXHAUSTED, MESSAGE, SAMPLE_JSON));
    return metadata;
  };
  const post: handleUnaryCall<unknown, unknown> = (_call, callback) =>
    callback({ code: Status.RESOURCE_EXHAUSTED, details: MESSAGE, metadata: trailer() });
  const watch: handleServerStreamingCall<unknown, unknown> = (call) => {
    call.write({ revision: 7 });
    call.emit("error", { code: Status.RESOURCE_EXHAUSTED, details: MESSAGE, metadata: trailer() });
  };
  const server = new Server();
  server.addService(ChatService as unknown as ServiceDefinition, { post, watch });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, p) =>
      error === null ? resolve(p) : reject(error),
    ),
  );
  const client = createClient(ChatService, `127.0.0.1:${port}`);
  leaks.track({ registries: [client] });
  try {
    assertSample(await client.post({ author: "ada", text: "hi" }).catch((e: unknown) => e));
    const revisions: number[] = [];
    const error = await (async () => {
      for await (const event of client.watch({ afterRevision: 0 })) revisions.push(event.revision);
    })().catch((e: unknown) => e);
    assert.deepEqual(revisions, [7]);
    assertSample(error);
  } finally {
    client.close();
    server.forceShutdown();
    await leaks.assertNoLeaks();
  }
});

interface RawChatClient {
  post(request: object, callback: (error: ServiceError | null) => void): void;
  watch(request: object): ClientReadableStream<{ revision: number }>;
  close(): void;
}

test("a leaksafe server's details reach a grpc-js client, and another decoder reads them", async () => {
  const leaks = createLeakChecker();
  const failure = () => new RpcError(Status.RESOURCE_EXHAUSTED, MESSAGE, { statusDetails: sampleDetails() });
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    post() {
      throw failure();
    },
    async *watch() {
      yield { revision: 7, at: undefined };
      throw failure();
    },
  });
  const port = await server.listen("127.0.0.1:0");
  leaks.track({ registries: [server] });
  const Client = makeGenericClientConstructor(ChatService as unknown as ServiceDefinition, "Chat");
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as RawChatClient;
  const expected = { code: Status.RESOURCE_EXHAUSTED, message: MESSAGE, details: SAMPLE_JSON };
  try {
    const unary = await new Promise<ServiceError | null>((resolve) =>
      client.post({ author: "ada", text: "hi" }, resolve),
    );
    assert.equal(unary?.code, Status.RESOURCE_EXHAUSTED);
    const [bytes] = unary?.metadata.get(STATUS_DETAILS_KEY) ?? [];
    assert.ok(Buffer.isBuffer(bytes), `grpc-js gives the trailer as bytes: ${String(bytes)}`);
    assert.deepEqual(foreignStatusJson(bytes), expected);

    const call = client.watch({ afterRevision: 0 });
    const revisions: number[] = [];
    const streamed = await new Promise<ServiceError>((resolve) => {
      call.on("data", (event: { revision: number }) => revisions.push(Number(event.revision)));
      call.on("error", resolve);
    });
    assert.deepEqual(revisions, [7]);
    assert.equal(streamed.code, Status.RESOURCE_EXHAUSTED);
    assert.deepEqual(foreignStatusJson(streamed.metadata.get(STATUS_DETAILS_KEY)[0] as Buffer), expected);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 5000 });
    await leaks.assertNoLeaks();
  }
});
