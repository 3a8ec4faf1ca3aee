/**
 * The view model: everything a template may read. Templates never see
 * descriptors; they see these plain objects. A field is added here before a
 * template uses it, and `contextVersion` changes when a field changes meaning
 * or goes away.
 */

/** Bumped whenever a field below changes meaning or is removed. */
export const CONTEXT_VERSION = 1;

/** The context of one generated file, `<name>_leaksafe.ts`. */
export interface FileView {
  contextVersion: number;
  /** The generated file's path, relative to the output root. */
  outputPath: string;
  header: HeaderView;
  /** The module specifier the runtime is imported from (option `runtime_import`). */
  runtimeImport: string;
  /**
   * The local name the runtime is imported under, as a namespace. It holds a
   * `$`, which no proto identifier can, so it never clashes with a message.
   */
  runtimeAlias: string;
  /** ts-proto modules to import message types from, sorted by specifier. */
  imports: ImportView[];
  services: ServiceView[];
  /** What the file carries for server reflection. */
  descriptorSet: DescriptorSetView;
}

/**
 * The descriptors a generated file carries for server reflection, written
 * by `file-descriptors.hbs` as a function that `service.hbs` hands to
 * `defineService`.
 */
export interface DescriptorSetView {
  /**
   * The name of the function that returns them: `$fileDescriptors`. It holds
   * a `$`, which no proto identifier can, so it never clashes with a message.
   */
  name: string;
  /** The file itself first, then every file it imports, directly or not, each once. */
  files: EmbeddedFileView[];
}

/** One file's descriptor, as generated code carries it. */
export interface EmbeddedFileView {
  /** The proto file's name, e.g. "example/v1/chat.proto". */
  name: string;
  /**
   * Its google.protobuf.FileDescriptorProto without source code info,
   * serialized, in base64 lines of at most 100 characters (each a multiple
   * of 4, so each decodes on its own).
   */
  base64: string[];
}

export interface HeaderView {
  /** "protoc-gen-leaksafe". */
  pluginName: string;
  /** "v1.2.3", or "" when `elide_plugin_version` is set. */
  pluginVersion: string;
  /** The plugin parameter as given, "" when none. */
  parameter: string;
  /** The proto file this output was generated from, e.g. "example/v1/chat.proto". */
  sourceFile: string;
}

export interface ImportView {
  /** The module specifier, e.g. "./chat.js" or "../../google/protobuf/empty.js". */
  from: string;
  /** Names imported from it, sorted. */
  names: ImportedName[];
  /**
   * True when the import, written on one line, would be wider than 120
   * columns and names more than one thing: then it is written one name a
   * line, as a formatter (Biome, Prettier) lays it out.
   */
  multiline: boolean;
}

export interface ImportedName {
  /** The name ts-proto exports. */
  exported: string;
  /** The name used in this file; differs from `exported` only to avoid a clash. */
  local: string;
  /** True when `local` differs from `exported`, so the import needs `as`. */
  aliased: boolean;
}

export interface ServiceView {
  /** The proto name, e.g. "Chat". */
  name: string;
  /** The fully qualified proto name, e.g. "example.v1.Chat". */
  fullName: string;
  /** Names of the three exports: `ChatService`, `ChatImplementation`, `ChatClient`. */
  descriptorName: string;
  implementationName: string;
  clientName: string;
  /** Leading comment lines from the proto, [] when none. */
  comment: string[];
  deprecated: boolean;
  /**
   * True when the line that opens the descriptor,
   * `export const ChatService = $leaksafe.defineService<…>("example.v1.Chat", $fileDescriptors)({`,
   * would be wider than 120 columns: `service.hbs` then writes the two
   * arguments one a line, as a formatter (Biome, Prettier) lays them out.
   */
  defineMultiline: boolean;
  methods: MethodView[];
}

/** The four method kinds. Each has a partial of the same name. */
export type MethodKind = "unary" | "server-streaming" | "client-streaming" | "bidi";

export interface MethodView {
  /** The proto name, e.g. "GetUser". */
  protoName: string;
  /**
   * The property name used on the service descriptor, the implementation and
   * the client: lowerCamelCase as ts-proto spells it, with a trailing `$`
   * when it would shadow a member of the client, of grpc-js's `Client` or of
   * every object (`close$`, `getChannel$`, `toString$`).
   */
  name: string;
  /** The gRPC path, e.g. "/example.v1.Chat/GetUser". */
  path: string;
  kind: MethodKind;
  requestStream: boolean;
  responseStream: boolean;
  /** Local type names of the request and response messages. */
  input: string;
  output: string;
  /** Leading comment lines from the proto, [] when none. */
  comment: string[];
  deprecated: boolean;
  idempotency: "unknown" | "no-side-effects" | "idempotent";
  /**
   * The stream limits resolved from the .proto and the plugin options, in ms,
   * as the runtime names them (`idleTimeoutMs`, `timeoutMs`, `sendTimeoutMs`).
   * Only limits that some level sets are listed; [] leaves all to the runtime.
   */
  policy: PolicyEntry[];
  /**
   * Server-streaming only: how the client resumes the call, when the .proto
   * declares it resumable (`resumable: true`); null otherwise.
   */
  resume: ResumeView | null;
}

export interface ResumeView {
  /** gRPC status code names to retry on, e.g. "UNAVAILABLE"; [] leaves the runtime's default. */
  retryCodes: string[];
  /** Backoff and attempt settings the .proto sets, named as the runtime names them. */
  settings: Array<{ name: "initialBackoffMs" | "maxBackoffMs" | "maxAttempts"; value: number }>;
}

export interface PolicyEntry {
  name: "idleTimeoutMs" | "timeoutMs" | "sendTimeoutMs";
  value: number;
}
