/**
 * Turns a file's descriptors into the plain view model that templates render.
 */
import type { DescFile, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { embeddedFiles } from "./file-descriptors.js";
import type { PluginOptions } from "./options.js";
import { leadingComment } from "./source-comments.js";
import { POLICY_FIELDS, type PolicyReader } from "./stream-policy.js";
import { messageModule, messageTypeName, methodName, relativeImport } from "./ts-proto-names.js";
import {
  CONTEXT_VERSION,
  type FileView,
  type ImportedName,
  type ImportView,
  type MethodKind,
  type MethodView,
  type ServiceView,
} from "./view-model.js";

export const PLUGIN_NAME = "protoc-gen-leaksafe";

/** `a/b/chat.proto` gives `a/b/chat_leaksafe.ts`. */
export function outputPathFor(protoFileName: string): string {
  return `${protoFileName.replace(/\.proto$/, "")}_leaksafe.ts`;
}

/** Builds the view of one proto file. The file must declare at least one service. */
export function buildFileView(
  file: DescFile,
  options: PluginOptions,
  pluginVersion: string,
  policies: PolicyReader,
): FileView {
  const outputPath = outputPathFor(file.proto.name);
  const names = new LocalNames(file.services);
  const descriptorSet = { name: "$fileDescriptors", files: embeddedFiles(file) };
  const runtimeAlias = "$leaksafe";
  const services = file.services.map((service) => buildService(service, names));
  return {
    contextVersion: CONTEXT_VERSION,
    outputPath,
    header: {
      pluginName: PLUGIN_NAME,
      pluginVersion: options.elidePluginVersion ? "" : `v${pluginVersion}`,
      parameter: options.parameter,
      sourceFile: file.proto.name,
    },
    runtimeImport: options.runtimeImport,
    runtimeAlias,
    imports: names.imports(outputPath, options),
    services,
    descriptorSet,
  };

  function buildService(service: DescService, localNames: LocalNames): ServiceView {
    return {
      name: service.name,
      fullName: service.typeName,
      descriptorName: `${service.name}Service`,
      implementationName: `${service.name}Implementation`,
      clientName: `${service.name}Client`,
      comment: commentLines(service),
      deprecated: service.deprecated,
      defineMultiline:
        `export const ${service.name}Service = ${runtimeAlias}.defineService<${service.name}Implementation, ${service.name}Client>("${service.typeName}", ${descriptorSet.name})({`
          .length > LINE_WIDTH,
      methods: service.methods.map((method) => buildMethod(method, localNames)),
    };
  }

  function buildMethod(method: DescMethod, localNames: LocalNames): MethodView {
    const kind = KINDS[method.methodKind];
    const policy = policies.resolve(method, file.proto.name);
    return {
      protoName: method.name,
      name: memberSafeName(methodName(method.name)),
      path: `/${method.parent.typeName}/${method.name}`,
      kind,
      requestStream: kind === "client-streaming" || kind === "bidi",
      responseStream: kind === "server-streaming" || kind === "bidi",
      input: localNames.use(method.input, options),
      output: localNames.use(method.output, options),
      comment: commentLines(method),
      deprecated: method.deprecated,
      idempotency: IDEMPOTENCY[method.idempotency],
      policy: POLICY_FIELDS.flatMap(([name]) => {
        const value = policy[name];
        return value === undefined ? [] : [{ name, value }];
      }),
      resume: policies.resolveResume(method, file.proto.name) ?? null,
    };
  }
}

const KINDS: Record<DescMethod["methodKind"], MethodKind> = {
  unary: "unary",
  server_streaming: "server-streaming",
  client_streaming: "client-streaming",
  bidi_streaming: "bidi",
};

const IDEMPOTENCY: Record<MethodOptions_IdempotencyLevel, MethodView["idempotency"]> = {
  [MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN]: "unknown",
  [MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS]: "no-side-effects",
  [MethodOptions_IdempotencyLevel.IDEMPOTENT]: "idempotent",
};

/**
 * Names an rpc must not take, because the objects it becomes a property of
 * already own them. An rpc whose name is one of these gets a trailing `$`,
 * which proto names never have, on the descriptor, the implementation and the
 * client alike: `getChannel$`.
 *
 * The plugin does not import the runtime or grpc-js, so the first two lists
 * are written here; test/plugin/member-names.test.ts reads the members off a
 * real client and a real grpc-js `Client` and fails when one is missing.
 */
const RESERVED_MEMBERS = new Set([
  // What every generated client has besides its rpcs: the runtime's `ClientBase`.
  "close",
  "activeStreams",
  "getChannel",
  // grpc-js's `Client`, which `ClientBase` mirrors in part (`getChannel`):
  // reserved whole, so mirroring one more of them later renames nobody's rpc.
  "waitForReady",
  "makeUnaryRequest",
  "makeClientStreamRequest",
  "makeServerStreamRequest",
  "makeBidiStreamRequest",
  "checkOptionalUnaryResponseArguments",
  "checkMetadataAndOptions",
  // An object with `then` looks like a promise: `await client` would call the rpc.
  "then",
  // What every object inherits: the client, a server's implementation (often a
  // class instance, whose inherited `toString` would answer an unimplemented
  // rpc), and the descriptor, an object literal where `__proto__` sets the prototype.
  ...Object.getOwnPropertyNames(Object.prototype),
]);

function memberSafeName(name: string): string {
  return RESERVED_MEMBERS.has(name) ? `${name}$` : name;
}

/**
 * Identifiers a generated file may use besides its own exports: globals the
 * templates name, and words that cannot be bindings. An imported message with
 * one of these names is imported under an alias.
 */
const RESERVED = new Set(
  (
    "Promise AsyncIterable AsyncIterator AsyncGenerator Iterable Iterator Buffer Uint8Array Error " +
    "Object Array String Number Boolean Symbol Date Map Set Record Partial Readonly AbortSignal " +
    "console globalThis undefined NaN Infinity " +
    "break case catch class const continue debugger default delete do else enum export extends false " +
    "finally for function if import in instanceof new null return super switch this throw true try " +
    "typeof var void while with as implements interface let package private protected public static " +
    "yield await any boolean number string symbol type never unknown object bigint"
  ).split(" "),
);

/** Assigns each imported message a local name that clashes with nothing else in the file. */
class LocalNames {
  private readonly taken = new Set<string>(RESERVED);
  private readonly byMessage = new Map<string, { module: ReturnType<typeof messageModule>; name: ImportedName }>();

  constructor(services: readonly DescService[]) {
    for (const s of services) {
      this.taken.add(`${s.name}Service`);
      this.taken.add(`${s.name}Implementation`);
      this.taken.add(`${s.name}Client`);
    }
  }

  use(message: DescMessage, options: PluginOptions): string {
    const known = this.byMessage.get(message.typeName);
    if (known !== undefined) {
      return known.name.local;
    }
    const exported = messageTypeName(message, options.naming);
    let local = exported;
    for (let n = 1; this.taken.has(local); n++) {
      local = n === 1 ? `${exported}$` : `${exported}$${n}`;
    }
    this.taken.add(local);
    const name = { exported, local, aliased: local !== exported };
    this.byMessage.set(message.typeName, { module: messageModule(message.file.proto.name, options.naming), name });
    return local;
  }

  imports(outputPath: string, options: PluginOptions): ImportView[] {
    const byFrom = new Map<string, ImportedName[]>();
    for (const { module, name } of this.byMessage.values()) {
      const from = "mapped" in module ? module.mapped : relativeImport(outputPath, module.root, options.naming);
      const list = byFrom.get(from) ?? [];
      list.push(name);
      byFrom.set(from, list);
    }
    return [...byFrom.entries()]
      .sort(([a], [b]) => compare(a, b))
      .map(([from, names]) => {
        names.sort((a, b) => compare(a.local, b.local));
        return { from, names, multiline: names.length > 1 && oneLineImport(from, names).length > LINE_WIDTH };
      });
  }
}

/**
 * The width generated lines keep to, as a formatter would: this repository's
 * Biome `lineWidth`. An import list longer than this is written one name a line.
 */
const LINE_WIDTH = 120;

/** An import as imports.hbs writes it on one line. */
function oneLineImport(from: string, names: readonly ImportedName[]): string {
  const list = names.map((n) => (n.aliased ? `${n.exported} as ${n.local}` : n.exported)).join(", ");
  return `import { ${list} } from "${from}";`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The leading comment of an element, as lines without the `//` space. */
function commentLines(desc: DescService | DescMethod): string[] {
  const leading = leadingComment(desc);
  if (leading === undefined) {
    return [];
  }
  const lines = leading.split("\n").map((line) => (line.startsWith(" ") ? line.slice(1) : line).trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") {
    lines.pop();
  }
  return lines;
}
