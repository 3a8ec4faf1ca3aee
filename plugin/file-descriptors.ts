/**
 * The descriptors a generated file carries for server reflection: its own
 * FileDescriptorProto and that of every file it imports, directly or not,
 * each serialized and written in base64 lines that keep within the
 * generated code's width. Source code info (comments and spans) is left
 * out; everything else is kept as the compiler gave it, unknown fields
 * (custom options) included.
 */
import { clone, type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { EmbeddedFileView } from "./view-model.js";

/**
 * Characters of base64 a line holds: a multiple of 4, so each line decodes
 * on its own, and short enough that an indented, quoted line stays within
 * 120 columns.
 */
export const BASE64_LINE = 100;

/** `file` first, then its imports, each once, depth first in import order. */
export function embeddedFiles(file: DescFile): EmbeddedFileView[] {
  const seen = new Set<string>();
  const out: EmbeddedFileView[] = [];
  const visit = (f: DescFile): void => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push({ name: f.proto.name, base64: base64Lines(serialize(f)) });
    for (const dep of f.dependencies) visit(dep);
  };
  visit(file);
  return out;
}

function serialize(file: DescFile): Uint8Array {
  const proto = clone(FileDescriptorProtoSchema, file.proto);
  proto.sourceCodeInfo = undefined;
  return toBinary(FileDescriptorProtoSchema, proto);
}

function base64Lines(bytes: Uint8Array): string[] {
  const text = Buffer.from(bytes).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += BASE64_LINE) {
    lines.push(text.slice(i, i + BASE64_LINE));
  }
  return lines;
}
