/**
 * An example: `describe`, a small grpcurl-style tool. It asks a server's
 * reflection service (`createServer({ reflection: true })`, or any gRPC
 * server with reflection) what it serves, fetches each service's file with
 * its imports, and prints every method with its request and response types.
 * Everything it knows comes from the server: it imports no generated code
 * but the reflection stubs.
 *
 *     npx tsx test/examples/reflection.ts 127.0.0.1:50051
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "leaksafe";
import { type ServerReflectionRequest, ServerReflectionService } from "leaksafe/reflection";

/** One line per service and one per method, as the server describes them. */
export async function describe(target: string, timeoutMs = 5000): Promise<string[]> {
  const client = createClient(ServerReflectionService, target, { connectTimeoutMs: timeoutMs });
  try {
    const ask = async (question: Omit<ServerReflectionRequest, "host">) => {
      // One question a stream keeps the example short; a stream can carry many.
      for await (const answer of client.serverReflectionInfo([{ host: "", ...question }], { timeoutMs })) {
        if (answer.errorResponse !== undefined) throw new Error(answer.errorResponse.errorMessage);
        return answer;
      }
      throw new Error("the server sent no answer");
    };
    const listed = await ask({ listServices: "" });
    const lines: string[] = [];
    for (const { name } of listed.listServicesResponse?.service ?? []) {
      const answer = await ask({ fileContainingSymbol: name });
      const files = (answer.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) =>
        fromBinary(FileDescriptorProtoSchema, bytes),
      );
      const byName = new Map(files.map((file) => [file.name, file]));
      const [first] = files;
      if (first === undefined) throw new Error(`no file describes ${name}`);
      // The file and its imports: the registry resolves every type a method names.
      const service = createFileRegistry(first, (file) => byName.get(file)).getService(name);
      lines.push(`${name} (${first.name})`);
      for (const method of service?.methods ?? []) {
        const clientStreams = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
        const serverStreams = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
        lines.push(
          `  rpc ${method.name}(${clientStreams ? "stream " : ""}${method.input.typeName})` +
            ` returns (${serverStreams ? "stream " : ""}${method.output.typeName})`,
        );
      }
    }
    return lines;
  } finally {
    client.close();
  }
}

// Run as a script (not imported by the test).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [target] = process.argv.slice(2);
  if (target === undefined) {
    console.error("usage: reflection.ts HOST:PORT");
    process.exit(2);
  }
  try {
    for (const line of await describe(target)) console.log(line);
  } catch (error) {
    console.error(`${target}: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
