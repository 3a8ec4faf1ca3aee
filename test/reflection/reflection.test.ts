/**
 * `createServer({ reflection: true })`, asked with leaksafe's own client
 * (the stubs in leaksafe/reflection), on v1 and v1alpha: the services
 * listed, files by name with their imports, the file of each kind of
 * symbol, extensions, and the errors a question that cannot be answered
 * gets, while the stream goes on. The files answered build a complete
 * registry.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient, Status } from "leaksafe";
import {
  type ServerReflectionClient,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionService,
  ServerReflectionV1alphaService,
} from "leaksafe/reflection";
import { createLeakChecker } from "leaksafe/testing";
import { serve } from "./serve.js";

const GRACE = 10_000;

/** Asks every question on one stream and returns the answers, in order. */
async function ask(
  client: ServerReflectionClient,
  questions: ServerReflectionRequest[],
): Promise<ServerReflectionResponse[]> {
  const answers: ServerReflectionResponse[] = [];
  for await (const answer of client.serverReflectionInfo(questions)) answers.push(answer);
  return answers;
}

function files(answer: ServerReflectionResponse | undefined): FileDescriptorProto[] {
  const bytes = answer?.fileDescriptorResponse?.fileDescriptorProto;
  assert.ok(bytes !== undefined, `a file answer, not ${JSON.stringify(answer)}`);
  return bytes.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

/** The fields of a decoded message that are set: ts-proto writes each unset oneof member as undefined. */
function set(message: object | undefined): object {
  return Object.fromEntries(Object.entries(message ?? {}).filter(([, value]) => value !== undefined));
}

/** A registry of the files of one answer; it fails when any import is missing. */
function registryOf(answer: ServerReflectionResponse | undefined) {
  const byName = new Map(files(answer).map((f) => [f.name, f]));
  const [first] = byName.values();
  assert.ok(first !== undefined);
  return createFileRegistry(first, (name) => byName.get(name));
}

const names = (answer: ServerReflectionResponse | undefined): string[] => files(answer).map((f) => f.name);

/** A client of one version; v1alpha's has the same shape as v1's. */
const CLIENTS: Record<string, (target: string) => ServerReflectionClient> = {
  v1: (target) => createClient(ServerReflectionService, target),
  v1alpha: (target) => createClient(ServerReflectionV1alphaService, target),
};

for (const [version, connect] of Object.entries(CLIENTS)) {
  test(`${version}: lists every service added, health and reflection included`, async () => {
    const leaks = createLeakChecker();
    const { server, target } = await serve();
    const client = connect(target);
    leaks.track({ registries: [server, client] });
    try {
      const [answer] = await ask(client, [{ host: "here", listServices: "*" }]);
      assert.equal(answer?.validHost, "here");
      assert.deepEqual(set(answer?.originalRequest), { host: "here", listServices: "*" });
      assert.deepEqual(answer?.listServicesResponse?.service.map((s) => s.name).sort(), [
        "example.kv.v1.KV",
        "example.v1.Chat",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]);
    } finally {
      client.close();
      await server.shutdown({ graceMs: GRACE });
      await leaks.assertNoLeaks();
    }
  });

  test(`${version}: a file by name comes with every file it imports, and they build a complete registry`, async () => {
    const leaks = createLeakChecker();
    const { server, target } = await serve();
    const client = connect(target);
    leaks.track({ registries: [server, client] });
    try {
      const [chat, kv] = await ask(client, [
        { host: "", fileByFilename: "example/v1/chat.proto" },
        { host: "", fileByFilename: "example/kv/v1/kv.proto" },
      ]);
      assert.deepEqual(names(chat), [
        "example/v1/chat.proto",
        "google/protobuf/timestamp.proto",
        "leaksafe/v1/options.proto",
        "google/protobuf/descriptor.proto",
      ]);
      assert.equal(names(kv)[0], "example/kv/v1/kv.proto");
      // Nothing is missing: a registry resolves every type the files refer to.
      const registry = registryOf(chat);
      const chatService = registry.getService("example.v1.Chat");
      assert.deepEqual(
        chatService?.methods.map((m) => `${m.name}(${m.input.typeName}) ${m.methodKind}`),
        [
          "Post(example.v1.PostRequest) unary",
          "Watch(example.v1.WatchRequest) server_streaming",
          "Upload(example.v1.UploadChunk) client_streaming",
          "Converse(example.v1.ChatMessage) bidi_streaming",
        ],
      );
      assert.equal(
        registry.getMessage("example.v1.RoomEvent")?.field.at?.message?.typeName,
        "google.protobuf.Timestamp",
      );
      assert.equal(files(chat)[0]?.sourceCodeInfo, undefined, "source code info is left out");
    } finally {
      client.close();
      await server.shutdown({ graceMs: GRACE });
      await leaks.assertNoLeaks();
    }
  });

  test(`${version}: the file containing each kind of symbol, first, with its imports`, async () => {
    const leaks = createLeakChecker();
    const { server, target } = await serve();
    const client = connect(target);
    leaks.track({ registries: [server, client] });
    try {
      const symbols = {
        "example.v1.Chat": "example/v1/chat.proto",
        "example.v1.Chat.Converse": "example/v1/chat.proto",
        "example.v1.RoomEvent": "example/v1/chat.proto",
        "example.v1.RoomEvent.Joined": "example/v1/chat.proto",
        "example.v1.RoomEvent.kind": "example/v1/chat.proto",
        "example.v1.PostRequest.author": "example/v1/chat.proto",
        "example.kv.v1.KV.Put": "example/kv/v1/kv.proto",
        "google.protobuf.Timestamp": "google/protobuf/timestamp.proto",
        "grpc.health.v1.HealthCheckResponse.ServingStatus": "grpc/health/v1/health.proto",
        "grpc.health.v1.HealthCheckResponse.NOT_SERVING": "grpc/health/v1/health.proto",
        "grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING": "grpc/health/v1/health.proto",
        "grpc.reflection.v1alpha.ServerReflection": "grpc/reflection/v1alpha/reflection.proto",
        "leaksafe.v1.stream": "leaksafe/v1/options.proto",
        "google.protobuf.FieldDescriptorProto.TYPE_STRING": "google/protobuf/descriptor.proto",
      };
      const answers = await ask(
        client,
        Object.keys(symbols).map((symbol) => ({ host: "", fileContainingSymbol: symbol })),
      );
      assert.deepEqual(
        answers.map((a) => names(a)[0]),
        Object.values(symbols),
      );
      assert.deepEqual(names(answers[0]).slice(1), [
        "google/protobuf/timestamp.proto",
        "leaksafe/v1/options.proto",
        "google/protobuf/descriptor.proto",
      ]);
    } finally {
      client.close();
      await server.shutdown({ graceMs: GRACE });
      await leaks.assertNoLeaks();
    }
  });

  test(`${version}: a question that cannot be answered gets an error_response, and the stream goes on`, async () => {
    const leaks = createLeakChecker();
    const { server, target } = await serve();
    const client = connect(target);
    leaks.track({ registries: [server, client] });
    try {
      const answers = await ask(client, [
        { host: "", fileContainingSymbol: "example.v1.NoSuchThing" },
        { host: "", fileByFilename: "no/such.proto" },
        { host: "", fileContainingExtension: { containingType: "google.protobuf.MethodOptions", extensionNumber: 7 } },
        { host: "", allExtensionNumbersOfType: "no.such.Message" },
        { host: "" },
        { host: "", fileContainingSymbol: "example.v1.Chat" },
      ]);
      assert.deepEqual(
        answers.slice(0, 5).map((a) => a.errorResponse),
        [
          {
            errorCode: Status.NOT_FOUND,
            errorMessage: 'no symbol "example.v1.NoSuchThing" in the files of this server\'s services',
          },
          {
            errorCode: Status.NOT_FOUND,
            errorMessage: 'no file named "no/such.proto" describes a service of this server',
          },
          { errorCode: Status.NOT_FOUND, errorMessage: 'no extension 7 of "google.protobuf.MethodOptions" is known' },
          { errorCode: Status.NOT_FOUND, errorMessage: 'no message type "no.such.Message" is known' },
          { errorCode: Status.INVALID_ARGUMENT, errorMessage: "the request asks nothing: message_request is not set" },
        ],
      );
      assert.deepEqual(set(answers[0]?.originalRequest), { host: "", fileContainingSymbol: "example.v1.NoSuchThing" });
      assert.equal(names(answers[5])[0], "example/v1/chat.proto", "the stream still answers");
    } finally {
      client.close();
      await server.shutdown({ graceMs: GRACE });
      await leaks.assertNoLeaks();
    }
  });

  test(`${version}: extensions: every number of a type, and the file that declares one`, async () => {
    const leaks = createLeakChecker();
    const { server, target } = await serve();
    const client = connect(target);
    leaks.track({ registries: [server, client] });
    try {
      const [numbers, none, file] = await ask(client, [
        { host: "", allExtensionNumbersOfType: "google.protobuf.MethodOptions" },
        { host: "", allExtensionNumbersOfType: "example.v1.PostRequest" },
        {
          host: "",
          fileContainingExtension: { containingType: "google.protobuf.ServiceOptions", extensionNumber: 51880 },
        },
      ]);
      assert.deepEqual(numbers?.allExtensionNumbersResponse, {
        baseTypeName: "google.protobuf.MethodOptions",
        extensionNumber: [51880],
      });
      assert.deepEqual(none?.allExtensionNumbersResponse, {
        baseTypeName: "example.v1.PostRequest",
        extensionNumber: [],
      });
      assert.deepEqual(names(file), ["leaksafe/v1/options.proto", "google/protobuf/descriptor.proto"]);
    } finally {
      client.close();
      await server.shutdown({ graceMs: GRACE });
      await leaks.assertNoLeaks();
    }
  });
}
