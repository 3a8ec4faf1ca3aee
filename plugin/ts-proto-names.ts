/**
 * The names ts-proto gives to the things leaksafe refers to: message types,
 * the modules that export them, and rpc methods. They must match ts-proto's
 * output for the same options exactly, or the generated imports break.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import type { TsProtoNaming } from "./options.js";

/** ts-proto renames messages that would shadow these globals, by appending "Message". */
const SHADOWED_GLOBALS = new Set(["Date", "Function"]);

/** The exported name of a message in ts-proto's output: `Outer_Inner` for nested ones. */
export function messageTypeName(message: DescMessage, naming: TsProtoNaming): string {
  const parts: string[] = [];
  for (let m: DescMessage | undefined = message; m !== undefined; m = m.parent) {
    parts.unshift(naming.snakeToCamelKeys && m.name.includes("_") ? snakeToCamel(m.name) : m.name);
  }
  const joined = parts.join(naming.useSnakeTypeName ? "_" : "");
  const name = naming.typePrefix + naming.messagePrefix + joined + naming.messageSuffix + naming.typeSuffix;
  return SHADOWED_GLOBALS.has(name) ? `${name}Message` : name;
}

/**
 * The module that holds a proto file's ts-proto output, as a path from the
 * output root (`a/b/chat.proto` gives `./a/b/chat`), or the module an `M`
 * option maps it to.
 */
export function messageModule(protoFileName: string, naming: TsProtoNaming): { root: string } | { mapped: string } {
  const mapped = naming.moduleMap.get(protoFileName);
  if (mapped !== undefined) {
    return { mapped };
  }
  // ts-proto replaces the first ".proto" only; so do we.
  return { root: protoFileName.replace(".proto", naming.fileSuffix) };
}

/** The import specifier for a root-relative module, seen from the file at `fromFile`. */
export function relativeImport(fromFile: string, rootModule: string, naming: TsProtoNaming): string {
  const from = fromFile.split("/").slice(0, -1);
  const to = rootModule.split("/");
  let common = 0;
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) {
    common++;
  }
  const ups = from.length - common;
  const rest = to.slice(common).join("/");
  return `${ups === 0 ? "./" : "../".repeat(ups)}${rest}${naming.importSuffix}`;
}

/**
 * The lowerCamelCase name of an rpc, as ts-proto (and grpc-js's proto-loader)
 * spell it: words are split at case changes and digits, so `GetAPIValue`
 * becomes `getApiValue`.
 */
export function methodName(protoName: string): string {
  const words = protoName.match(WORD) ?? [];
  return words
    .map((word, i) => {
      const lower = word.toLowerCase();
      return i === 0 ? lower : lower.charAt(0).toUpperCase() + lower.slice(1);
    })
    .join("");
}

// A word is a capitalised run, a lower-case run, a run of digits, or an
// upper-case run not followed by a lower-case letter (an acronym). Proto
// identifiers are ASCII, so these classes are too.
const WORD = /^[a-z]+|[A-Z][a-z]+|[a-z]+|[0-9]+|[A-Z]+(?![a-z])/g;

function snakeToCamel(s: string): string {
  const hasLowerCase = /[a-z]/.test(s);
  return s
    .split("_")
    .map((word, i) => {
      const w = hasLowerCase ? word : word.toLowerCase();
      return i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1);
    })
    .join("");
}
