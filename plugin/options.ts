import { limitProblem, type PolicyLimits } from "./stream-policy.js";

/**
 * Plugin options, parsed strictly: an unknown key or a malformed value fails
 * the whole run with `invalid option "key": reason`, before any file is made.
 */

/** ts-proto's options that change the names or paths leaksafe must refer to. */
export interface TsProtoNaming {
  /** Appended to every import path, as ts-proto does (`.js` for ESM). Default "". */
  importSuffix: string;
  /** Appended to ts-proto's file names: `chat.proto` becomes `chat${fileSuffix}.ts`. Default "". */
  fileSuffix: string;
  /** Whether ts-proto camel-cases snake_case message names (`snakeToCamel` contains "keys"). Default true. */
  snakeToCamelKeys: boolean;
  /** Nested type names are joined with "_" when true (ts-proto's default), with "" when false. */
  useSnakeTypeName: boolean;
  /** ts-proto's `typePrefix`/`typeSuffix`/`messagePrefix`/`messageSuffix`. Default "". */
  typePrefix: string;
  typeSuffix: string;
  messagePrefix: string;
  messageSuffix: string;
  /** ts-proto's `M` options: `Mpath/to/x.proto=module` imports that file's types from `module`. */
  moduleMap: ReadonlyMap<string, string>;
}

export interface PluginOptions {
  /** The module that generated code imports the runtime from. Default "leaksafe". */
  runtimeImport: string;
  /** A folder whose templates and partials take precedence over the built-in set. */
  templatesDir: string | undefined;
  /** Leave the plugin version out of the header, so golden files stay stable. Default false. */
  elidePluginVersion: boolean;
  /** Also write each file's view model as `<name>_leaksafe.context.json`, for template authors. Default false. */
  dumpContext: boolean;
  naming: TsProtoNaming;
  /** Stream limits for every method, below the .proto's own options (`idle_timeout_ms=…` and so on). */
  policyDefaults: PolicyLimits;
  /** The raw parameter string, echoed in the generated header. */
  parameter: string;
}

/** The error for a bad option: `invalid option "key": reason`, a message that reads alone. */
export class PluginOptionError extends Error {
  override name = "PluginOptionError";
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid option "${key}": ${reason}`);
  }
}

/** Parses the comma-separated `key=value` parameter that protoc and buf pass. */
export function parseOptions(parameter: string): PluginOptions {
  const naming: TsProtoNaming = {
    importSuffix: "",
    fileSuffix: "",
    snakeToCamelKeys: true,
    useSnakeTypeName: true,
    typePrefix: "",
    typeSuffix: "",
    messagePrefix: "",
    messageSuffix: "",
    moduleMap: new Map(),
  };
  const moduleMap = new Map<string, string>();
  const options: PluginOptions = {
    runtimeImport: "leaksafe",
    templatesDir: undefined,
    elidePluginVersion: false,
    dumpContext: false,
    naming,
    policyDefaults: {},
    parameter,
  };
  const seen = new Set<string>();
  for (const raw of parameter.split(",")) {
    if (raw.trim() === "") {
      continue;
    }
    const eq = raw.indexOf("=");
    const key = (eq < 0 ? raw : raw.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : raw.slice(eq + 1).trim();
    if (key.startsWith("M") && key.length > 1 && key.endsWith(".proto")) {
      moduleMap.set(key.slice(1), requireValue(key, value));
      continue;
    }
    if (seen.has(key)) {
      throw new PluginOptionError(key, "given more than once");
    }
    seen.add(key);
    switch (key) {
      case "runtime_import":
        options.runtimeImport = requireModuleSpecifier(key, value);
        break;
      case "templates":
        options.templatesDir = requireValue(key, value);
        break;
      case "elide_plugin_version":
        options.elidePluginVersion = parseBoolean(key, value);
        break;
      case "dump_context":
        options.dumpContext = parseBoolean(key, value);
        break;
      case "importSuffix":
        naming.importSuffix = requireSuffix(key, value ?? "");
        break;
      case "fileSuffix":
        naming.fileSuffix = requireSuffix(key, value ?? "");
        break;
      case "snakeToCamel":
        naming.snakeToCamelKeys = parseSnakeToCamel(key, value);
        break;
      case "useSnakeTypeName":
        naming.useSnakeTypeName = parseBoolean(key, value);
        break;
      case "idle_timeout_ms":
        options.policyDefaults.idleTimeoutMs = parseLimit(key, value);
        break;
      case "timeout_ms":
        options.policyDefaults.timeoutMs = parseLimit(key, value);
        break;
      case "send_timeout_ms":
        options.policyDefaults.sendTimeoutMs = parseLimit(key, value);
        break;
      case "typePrefix":
      case "typeSuffix":
      case "messagePrefix":
      case "messageSuffix":
        naming[key] = requireAffix(key, value ?? "");
        break;
      default:
        throw new PluginOptionError(key, `unknown option; known options are ${KNOWN.join(", ")}`);
    }
  }
  naming.moduleMap = moduleMap;
  return options;
}

const KNOWN = [
  "runtime_import",
  "templates",
  "elide_plugin_version",
  "dump_context",
  "idle_timeout_ms",
  "timeout_ms",
  "send_timeout_ms",
  "importSuffix",
  "fileSuffix",
  "snakeToCamel",
  "useSnakeTypeName",
  "typePrefix",
  "typeSuffix",
  "messagePrefix",
  "messageSuffix",
  "M<file>.proto",
];

function requireValue(key: string, value: string | undefined): string {
  if (value === undefined || value === "") {
    throw new PluginOptionError(key, "needs a value");
  }
  return value;
}

function parseBoolean(key: string, value: string | undefined): boolean {
  switch (value) {
    case undefined:
    case "":
    case "true":
    case "1":
      return true;
    case "false":
    case "0":
      return false;
    default:
      throw new PluginOptionError(key, `expected true or false, got "${value}"`);
  }
}

function parseLimit(key: string, value: string | undefined): number {
  const text = requireValue(key, value);
  const n = /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  const problem = Number.isNaN(n) ? "must be a whole number of milliseconds" : limitProblem(n);
  if (problem !== undefined) {
    throw new PluginOptionError(key, `"${text}" ${problem}`);
  }
  return n;
}

function parseSnakeToCamel(key: string, value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "true") {
    return true;
  }
  if (value === "false") {
    return false;
  }
  // ts-proto accepts "keys", "json" and combinations joined by "_".
  const parts = value.split("_");
  for (const part of parts) {
    if (part !== "keys" && part !== "json") {
      throw new PluginOptionError(key, `expected true, false, keys, json or keys_json, got "${value}"`);
    }
  }
  return parts.includes("keys");
}

function requireSuffix(key: string, value: string): string {
  if (!/^[A-Za-z0-9._-]*$/.test(value)) {
    throw new PluginOptionError(key, `"${value}" may contain only letters, digits, ".", "_" and "-"`);
  }
  return value;
}

function requireAffix(key: string, value: string): string {
  if (!/^[A-Za-z0-9_]*$/.test(value)) {
    throw new PluginOptionError(key, `"${value}" must be usable inside an identifier`);
  }
  return value;
}

function requireModuleSpecifier(key: string, value: string | undefined): string {
  const specifier = requireValue(key, value);
  if (/["'\\\s`]/.test(specifier)) {
    throw new PluginOptionError(key, `"${specifier}" is not a valid module specifier`);
  }
  return specifier;
}
