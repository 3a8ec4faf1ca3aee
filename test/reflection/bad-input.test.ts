/**
 * What reflection does with services it cannot fully describe: a service
 * defined without descriptors (code generated before the plugin wrote them,
 * or by a template that leaves them out) is still listed, by the name in
 * its paths, and its symbols are NOT_FOUND; descriptors that do not decode
 * give every question an INTERNAL error_response that names the file.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, createServer, defineService, type LeaksafeServer, Status } from "leaksafe";
import {
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionService,
} from "leaksafe/reflection";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { unimplemented } from "../e2e/harness.js";

const GRACE = 10_000;

/** Chat's methods, under another service name, as `defineService` builds them. */
function renamed(name: string) {
  return Object.fromEntries(
    Object.entries(ChatService).map(([key, method]) => [
      key,
      { ...method, path: method.path.replace("example.v1.Chat", name) },
    ]),
  );
}

/** Listens, asks every question on one stream with a client the leak checker tracks, and returns the answers. */
async function askAll(
  server: LeaksafeServer,
  leaks: ReturnType<typeof createLeakChecker>,
  questions: Array<Omit<ServerReflectionRequest, "host">>,
): Promise<ServerReflectionResponse[]> {
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(ServerReflectionService, `127.0.0.1:${port}`);
  leaks.track({ registries: [client] });
  const answers: ServerReflectionResponse[] = [];
  try {
    for await (const answer of client.serverReflectionInfo(questions.map((q) => ({ host: "", ...q })))) {
      answers.push(answer);
    }
  } finally {
    client.close();
  }
  return answers;
}

test("a service defined without descriptors is listed by its paths' name, and its symbols are not found", async () => {
  const leaks = createLeakChecker();
  const legacy = defineService()(renamed("old.v1.Legacy"));
  const server = createServer({ reflection: true }).add(ChatService, unimplemented()).add(legacy, {});
  leaks.track({ registries: [server] });
  try {
    const answers = await askAll(server, leaks, [
      { listServices: "" },
      { fileContainingSymbol: "old.v1.Legacy" },
      { fileContainingSymbol: "example.v1.Chat" },
    ]);
    assert.ok(answers[0]?.listServicesResponse?.service.some((s) => s.name === "old.v1.Legacy"));
    assert.equal(answers[1]?.errorResponse?.errorCode, Status.NOT_FOUND);
    assert.ok(answers[2]?.fileDescriptorResponse !== undefined, "the other services are described still");
  } finally {
    await server.shutdown({ graceMs: GRACE });
    await leaks.assertNoLeaks();
  }
});

test("descriptors that do not decode give an INTERNAL error_response naming the file, and the stream goes on", async () => {
  const leaks = createLeakChecker();
  const broken = defineService("bad.v1.Broken", () => [{ name: "bad/v1/broken.proto", base64: ["/////w=="] }])(
    renamed("bad.v1.Broken"),
  );
  const misnamed = defineService("bad.v1.Misnamed", () =>
    ChatServiceFiles().map((f) => ({ ...f, name: "other.proto" })),
  )(renamed("bad.v1.Misnamed"));
  for (const [service, message] of [
    [broken, /^the descriptor generated for bad\/v1\/broken\.proto does not decode as a FileDescriptorProto$/],
    [misnamed, /^the descriptor generated for other\.proto names itself "example\/v1\/chat\.proto"$/],
  ] as const) {
    const server = createServer({ reflection: true }).add(service, {});
    leaks.track({ registries: [server] });
    try {
      const answers = await askAll(server, leaks, [{ listServices: "" }, { fileByFilename: "x.proto" }]);
      assert.equal(answers.length, 2);
      for (const answer of answers) {
        assert.equal(answer.errorResponse?.errorCode, Status.INTERNAL);
        assert.match(answer.errorResponse?.errorMessage ?? "", message);
      }
    } finally {
      await server.shutdown({ graceMs: GRACE });
    }
  }
  await leaks.assertNoLeaks();
});

/** The files the plugin generated for Chat, read the way the server reads them. */
function ChatServiceFiles() {
  const reflection = (ChatService as unknown as Record<symbol, { files(): Array<{ name: string; base64: string[] }> }>)[
    Symbol.for("leaksafe.reflection")
  ];
  assert.ok(reflection !== undefined, "generated services carry their descriptors");
  return reflection.files();
}
