/**
 * Runs a protoc plugin as protoc and buf call it: a CodeGeneratorRequest on
 * stdin, the CodeGeneratorResponse on stdout, exit code 0. `--version` (or
 * `-v` alone) prints the name and version. On failure it writes
 * `<name>: <message>` to stderr, without a stack trace, and exits 1.
 *
 * The process ends by itself once stdout has taken the response: the exit
 * code is set, never forced with process.exit, so a large response that the
 * pipe takes in several writes is never cut short.
 */
import type { Readable, Writable } from "node:stream";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type CodeGeneratorRequest,
  CodeGeneratorRequestSchema,
  type CodeGeneratorResponse,
  CodeGeneratorResponseSchema,
} from "@bufbuild/protobuf/wkt";

/** What the runner needs of a plugin. */
export interface NodePlugin {
  /** As protoc knows it: `protoc-gen-NAME`. */
  readonly name: string;
  /** Printed after the name by `--version`, as in "v1.2.3". */
  readonly version: string;
  run(request: CodeGeneratorRequest): CodeGeneratorResponse;
}

/** Runs `plugin` in this process, on its arguments, stdin and stdout, and sets the exit code. */
export async function runNodeJs(plugin: NodePlugin): Promise<void> {
  process.exitCode = await runWith(plugin, process.argv.slice(2), process.stdin, process.stdout, process.stderr);
}

/** The same on given arguments and streams; resolves to the exit code. Never rejects. */
async function runWith(
  plugin: NodePlugin,
  args: readonly string[],
  stdin: Readable,
  stdout: Writable,
  stderr: Writable,
): Promise<number> {
  try {
    if ((args.length === 1 && args[0] === "-v") || args[0] === "--version") {
      await write(stdout, `${plugin.name} ${plugin.version}\n`).catch(cannotWrite("the version"));
      return 0;
    }
    if (args.length !== 0) {
      await write(
        stderr,
        `${plugin.name} accepts a google.protobuf.compiler.CodeGeneratorRequest on stdin and writes a CodeGeneratorResponse to stdout\n`,
      );
      return 1;
    }
    const request = decodeRequest(await readAll(stdin));
    const response = toBinary(CodeGeneratorResponseSchema, plugin.run(request));
    await write(stdout, response).catch(cannotWrite("the CodeGeneratorResponse"));
    return 0;
  } catch (e) {
    // Only the message: option and template errors are written to be read alone.
    await write(stderr, `${plugin.name}: ${messageOf(e)}\n`).catch(() => {});
    return 1;
  }
}

function decodeRequest(bytes: Uint8Array): CodeGeneratorRequest {
  try {
    return fromBinary(CodeGeneratorRequestSchema, bytes);
  } catch (e) {
    throw new Error(
      `stdin is not a google.protobuf.compiler.CodeGeneratorRequest (${bytes.length} bytes; the protobuf decoder says: ${messageOf(e)}); run this plugin from protoc or buf`,
    );
  }
}

/** Reads a stream to its end. */
async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    throw new Error(`cannot read the CodeGeneratorRequest from stdin: ${messageOf(e)}`);
  }
  return Buffer.concat(chunks);
}

/**
 * Writes `data` and resolves once the stream has handed all of it to the
 * system, however many writes that takes, or rejects with the stream's error
 * (EPIPE when the reader has gone). The error listener stays: the stream
 * emits the error after the write's callback, and unheard it would crash
 * the process with a stack trace.
 */
function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on("error", reject);
    stream.write(data, (e) => (e ? reject(e) : resolve()));
  });
}

function cannotWrite(what: string): (e: unknown) => never {
  return (e) => {
    throw new Error(`cannot write ${what} to stdout: ${messageOf(e)}`);
  };
}

function messageOf(e: unknown): string {
  if (e instanceof Error) {
    return e.message;
  }
  return typeof e === "string" ? e : String(e);
}
