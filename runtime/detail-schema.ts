/**
 * A small table-driven codec for the error-detail messages: each message is
 * described by its fields (number, name, kind), and one encoder and one
 * decoder serve them all. It covers what the standard details use: string,
 * int32 and int64 scalars (singular, repeated or `optional`), embedded
 * messages (singular or repeated) and `map<string, string>`.
 *
 * Objects use camelCase names, as ts-proto writes them. Decoding gives every
 * field: "" and 0 for absent scalars, [] and {} for absent repeated fields
 * and maps, undefined for an absent message or `optional` field. Encoding
 * takes any subset of the fields, and refuses a field the message does not
 * have, or a value of the wrong kind, with a TypeError naming its path.
 */
import { expectWireType, type Tag, WireError, WireReader, WireType } from "./wire-reader.js";
import { describe, WireWriter } from "./wire-writer.js";

/**
 * One field of a message: its number, its camelCase name and its kind.
 * `repeated` makes a list; `optional` (for a scalar) gives it presence, so
 * it decodes to undefined when absent and is written even when 0.
 */
export type Field =
  | { no: number; name: string; kind: "string" | "int32" | "int64"; repeated?: true; optional?: true }
  | { no: number; name: string; kind: "message"; schema: () => Schema; repeated?: true }
  | { no: number; name: string; kind: "map" };

export interface Schema {
  /** The message's full name, such as `google.rpc.ErrorInfo`. */
  typeName: string;
  fields: Field[];
  /** Checks that the fields hold together (a Duration's signs, say); throws a TypeError. */
  check?: (value: Record<string, unknown>, path: string) => void;
}

type Obj = Record<string, unknown>;

/** Serializes `value` as the message `schema` describes; `path` names it in errors. */
export function encodeMessage(schema: Schema, value: unknown, path: string): Uint8Array {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${path} must be an object, not ${describe(value)}`);
  }
  const obj = value as Obj;
  for (const key of Object.keys(obj)) {
    if (!schema.fields.some((f) => f.name === key)) {
      const names = schema.fields.map((f) => f.name).join(", ");
      throw new TypeError(`${path} has no field "${key}": ${schema.typeName} has ${names}`);
    }
  }
  schema.check?.(obj, path);
  const writer = new WireWriter();
  for (const field of schema.fields) {
    const v = obj[field.name];
    if (v === undefined) {
      continue;
    }
    const at = `${path}.${field.name}`;
    if (field.kind === "map") {
      writeMap(writer, field.no, v, at);
    } else if (field.repeated === true) {
      if (!Array.isArray(v)) {
        throw new TypeError(`${at} must be an array, not ${describe(v)}`);
      }
      v.forEach((item: unknown, i) => {
        writeOne(writer, field, item, `${at}[${i}]`, true);
      });
    } else {
      writeOne(writer, field, v, at, field.kind !== "message" && field.optional === true);
    }
  }
  return writer.finish();
}

function writeOne(writer: WireWriter, field: Field, value: unknown, path: string, always: boolean): void {
  switch (field.kind) {
    case "string":
      writer.string(field.no, value as string, path, always);
      return;
    case "int32":
      checkNumber(value, path);
      writer.int32(field.no, value as number, path);
      return;
    case "int64":
      checkNumber(value, path);
      writer.int64(field.no, value as number, path, always);
      return;
    case "message":
      writer.bytes(field.no, encodeMessage(field.schema(), value, path), path, true);
      return;
    case "map":
      throw new TypeError(`${path}: a map is not an element`);
  }
}

function writeMap(writer: WireWriter, no: number, value: unknown, path: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${path} must be an object of strings, not ${describe(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    const at = `${path}[${JSON.stringify(key)}]`;
    const entry = new WireWriter()
      .string(1, key, at, true)
      .string(2, v as string, at, true)
      .finish();
    writer.bytes(no, entry, at, true);
  }
}

function checkNumber(value: unknown, path: string): void {
  if (typeof value !== "number") {
    throw new TypeError(`${path} must be a number, not ${describe(value)}`);
  }
}

/**
 * Parses the message `schema` describes, from bytes or from a reader of an
 * embedded message. Unknown fields are skipped; malformed bytes throw a
 * WireError that names the path of the field being read.
 */
export function decodeMessage(schema: Schema, input: Uint8Array | WireReader, path: string): Obj {
  const obj: Obj = {};
  for (const field of schema.fields) {
    if (field.kind === "map") {
      obj[field.name] = {};
    } else if (field.repeated === true) {
      obj[field.name] = [];
    } else if (field.kind === "message" || field.optional === true) {
      obj[field.name] = undefined;
    } else {
      obj[field.name] = field.kind === "string" ? "" : 0;
    }
  }
  const reader = input instanceof WireReader ? input : new WireReader(input);
  try {
    while (!reader.done) {
      const tag = reader.tag();
      const field = schema.fields.find((f) => f.no === tag.field);
      if (field === undefined) {
        reader.skip(tag.type);
        continue;
      }
      const list = field.kind !== "map" && field.repeated === true ? (obj[field.name] as unknown[]) : undefined;
      const at = `${path}.${field.name}${list === undefined ? "" : `[${list.length}]`}`;
      const value = readOne(reader, tag, field, at);
      if (field.kind === "map") {
        const [key, v] = value as [string, string];
        // Defined, not assigned: a key such as "__proto__" stays an own property.
        Object.defineProperty(obj[field.name], key, { value: v, enumerable: true, writable: true, configurable: true });
      } else if (list !== undefined) {
        list.push(value);
      } else {
        obj[field.name] = value;
      }
    }
  } catch (error) {
    throw error instanceof WireError ? error.within(path) : error;
  }
  return obj;
}

function readOne(reader: WireReader, tag: Tag, field: Field, at: string): unknown {
  switch (field.kind) {
    case "string":
      expectWireType(tag, at, WireType.LengthDelimited);
      return reader.string();
    case "int32":
      expectWireType(tag, at, WireType.Varint);
      return reader.int32();
    case "int64":
      expectWireType(tag, at, WireType.Varint);
      return reader.int64();
    case "message":
      expectWireType(tag, at, WireType.LengthDelimited);
      return decodeMessage(field.schema(), reader.nested(), at);
    case "map":
      expectWireType(tag, at, WireType.LengthDelimited);
      return readMapEntry(reader.nested(), at);
  }
}

function readMapEntry(reader: WireReader, path: string): [string, string] {
  let key = "";
  let value = "";
  try {
    while (!reader.done) {
      const tag = reader.tag();
      if (tag.field === 1) {
        expectWireType(tag, `${path} key`, WireType.LengthDelimited);
        key = reader.string();
      } else if (tag.field === 2) {
        expectWireType(tag, `${path} value`, WireType.LengthDelimited);
        value = reader.string();
      } else {
        reader.skip(tag.type);
      }
    }
  } catch (error) {
    throw error instanceof WireError ? error.within(path) : error;
  }
  return [key, value];
}
