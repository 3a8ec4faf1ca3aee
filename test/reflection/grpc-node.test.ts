/**
 * leaksafe's reflection against grpc-node's own, `@grpc/reflection`, as the
 * statement of what a Node reflection server is expected to answer. Both
 * serve Chat and KV from the same .proto files (grpc-node's through
 * proto-loader), and one leaksafe reflection client asks both the same
 * questions. grpc-node regroups files by package, so file names may differ;
 * what must agree is the services listed, that the first file of every
 * symbol's answer declares the symbol with the same shape, the echoed
 * request, and the error codes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createFileRegistry, type FileRegistry, fromBinary } from "@bufbuild/protobuf";
import { type DescriptorProto, type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { type ClientBase, createClient, Status } from "leaksafe";
import {
  type ServerReflectionClient,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionService,
  ServerReflectionV1alphaService,
} from "leaksafe/reflection";
import { createLeakChecker } from "leaksafe/testing";
import { ROOT } from "../support/generate.js";
import { serve } from "./serve.js";

const GRACE = 10_000;

/** A grpc-js server with grpc-node's reflection for Chat and KV; it serves nothing else. */
async function grpcNodeReflection(): Promise<{ server: Server; target: string }> {
  const definition = loadSync(["example/v1/chat.proto", "example/kv/v1/kv.proto"], {
    includeDirs: [join(ROOT, "proto"), join(ROOT, "runtime/proto")],
  });
  const server = new Server();
  new ReflectionService(definition).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { server, target: `127.0.0.1:${port}` };
}

async function ask(
  client: ServerReflectionClient,
  questions: ServerReflectionRequest[],
): Promise<ServerReflectionResponse[]> {
  const answers: ServerReflectionResponse[] = [];
  for await (const answer of client.serverReflectionInfo(questions)) answers.push(answer);
  return answers;
}

function filesOf(answer: ServerReflectionResponse | undefined): FileDescriptorProto[] {
  return (answer?.fileDescriptorResponse?.fileDescriptorProto ?? []).map((b) =>
    fromBinary(FileDescriptorProtoSchema, b),
  );
}

/** A registry of an answer's files; it fails when an import is missing. */
function registryOf(answer: ServerReflectionResponse | undefined): FileRegistry {
  const files = filesOf(answer);
  const byName = new Map(files.map((f) => [f.name, f]));
  assert.ok(files[0] !== undefined, `a file answer, not ${JSON.stringify(answer)}`);
  return createFileRegistry(files[0], (name) => byName.get(name));
}

/**
 * How a file declares a symbol, read from the FileDescriptorProto itself
 * (grpc-node's files list no imports, so they build no registry): its kind
 * and what it holds, by name and number; "not declared" when absent.
 */
function declaration(file: FileDescriptorProto | undefined, symbol: string): string {
  if (file === undefined) return "no file";
  const scope = file.package === "" ? "" : `${file.package}.`;
  const plain = (type: string) => type.replace(/^\./, "");
  const inMessage = (prefix: string, m: DescriptorProto): string | undefined => {
    const name = prefix + m.name;
    if (name === symbol) return `message ${m.field.map((f) => `${f.name}=${f.number}`).join(",")}`;
    for (const f of m.field) if (`${name}.${f.name}` === symbol) return `field ${f.number} ${plain(f.typeName)}`;
    for (const e of m.enumType) {
      if (`${name}.${e.name}` === symbol) return `enum ${e.value.map((v) => `${v.name}=${v.number}`).join(",")}`;
    }
    for (const nested of m.nestedType) {
      const found = inMessage(`${name}.`, nested);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const m of file.messageType) {
    const found = inMessage(scope, m);
    if (found !== undefined) return found;
  }
  for (const service of file.service) {
    const name = scope + service.name;
    const methods = service.method.map(
      (m) =>
        `${m.name}(${plain(m.inputType)})${plain(m.outputType)}` +
        `${m.clientStreaming ? " client-streams" : ""}${m.serverStreaming ? " server-streams" : ""}`,
    );
    if (name === symbol) return `service ${methods.join(",")}`;
    const at = service.method.findIndex((m) => `${name}.${m.name}` === symbol);
    if (at >= 0) return `method ${methods[at]}`;
  }
  return "not declared";
}

/** Symbols of each kind both servers know: a service, a method, messages (nested too), an enum, a field. */
const SYMBOLS = [
  "example.v1.Chat",
  "example.v1.Chat.Watch",
  "example.kv.v1.KV",
  "example.kv.v1.KV.Put",
  "example.v1.RoomEvent",
  "example.v1.RoomEvent.Joined",
  "example.kv.v1.Change",
  "example.v1.PostRequest.text",
];

const CLIENTS: Record<string, (target: string) => ServerReflectionClient> = {
  v1: (target) => createClient(ServerReflectionService, target),
  v1alpha: (target) => createClient(ServerReflectionV1alphaService, target),
};

for (const [version, connect] of Object.entries(CLIENTS)) {
  test(`${version}: the same questions get the same answers from leaksafe and from @grpc/reflection`, async () => {
    const leaks = createLeakChecker();
    const ours = await serve({ reflection: true });
    const theirs = await grpcNodeReflection();
    const clients: ClientBase[] = [];
    const open = (target: string): ServerReflectionClient => {
      const client = connect(target);
      clients.push(client);
      return client;
    };
    const ourClient = open(ours.target);
    const theirClient = open(theirs.target);
    leaks.track({ registries: [ours.server, ...clients] });
    try {
      const questions: ServerReflectionRequest[] = [
        { host: "h", listServices: "*" },
        ...SYMBOLS.map((symbol) => ({ host: "h", fileContainingSymbol: symbol })),
        { host: "h", fileContainingSymbol: "example.v1.Nothing" },
        { host: "h", fileByFilename: "no/such.proto" },
        { host: "h", allExtensionNumbersOfType: "example.v1.Nothing" },
      ];
      const [ourAnswers, theirAnswers] = await Promise.all([ask(ourClient, questions), ask(theirClient, questions)]);
      assert.equal(ourAnswers.length, questions.length);
      assert.equal(theirAnswers.length, questions.length);

      const listed = (a: ServerReflectionResponse | undefined) =>
        (a?.listServicesResponse?.service ?? []).map((s) => s.name).sort();
      assert.deepEqual(listed(theirAnswers[0]), ["example.kv.v1.KV", "example.v1.Chat"]);
      assert.deepEqual(
        listed(ourAnswers[0]),
        [...listed(theirAnswers[0]), "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"],
        "leaksafe lists the reflection services too, as grpc-go does",
      );

      SYMBOLS.forEach((symbol, i) => {
        const their = declaration(filesOf(theirAnswers[i + 1])[0], symbol);
        assert.notEqual(their, "not declared", `grpc-node's first file declares ${symbol}`);
        assert.equal(declaration(filesOf(ourAnswers[i + 1])[0], symbol), their, symbol);
        // leaksafe's answer is complete besides: every import it needs comes with it.
        assert.doesNotThrow(() => registryOf(ourAnswers[i + 1]), symbol);
      });

      for (const [i, answer] of ourAnswers.entries()) {
        const their = theirAnswers[i];
        assert.equal(answer.validHost, their?.validHost, "valid_host echoes the request");
        assert.equal(answer.originalRequest?.fileContainingSymbol, their?.originalRequest?.fileContainingSymbol);
        assert.equal(answer.errorResponse?.errorCode, their?.errorResponse?.errorCode, JSON.stringify(questions[i]));
      }
      assert.deepEqual(
        ourAnswers.slice(-3).map((a) => a.errorResponse?.errorCode),
        [Status.NOT_FOUND, Status.NOT_FOUND, Status.NOT_FOUND],
      );
    } finally {
      for (const client of clients) client.close();
      theirs.server.forceShutdown();
      await ours.server.shutdown({ graceMs: GRACE });
      await leaks.assertNoLeaks();
    }
  });
}
