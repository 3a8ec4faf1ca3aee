/**
 * A writer of the protobuf binary format, the counterpart of
 * wire-reader.ts: fields are written in the order asked, and a field at its
 * default value (0, "", empty bytes) is left out, as proto3 writes it.
 * Values that cannot be encoded exactly throw a TypeError naming the field.
 */
import { WireType } from "./wire-reader.js";

const utf8 = new TextEncoder();

/** Builds one message's bytes, field by field; `finish()` returns them. */
export class WireWriter {
  private chunks: number[] = [];
  private parts: Uint8Array[] = [];

  /** The bytes written so far, as one array. */
  finish(): Uint8Array {
    this.flush();
    if (this.parts.length === 0) {
      return new Uint8Array(0);
    }
    if (this.parts.length === 1) {
      return this.parts[0] as Uint8Array;
    }
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** An `int32` field; negative values take 10 bytes, as protobuf writes them. */
  int32(field: number, value: number, name: string): this {
    if (!Number.isInteger(value) || value > 2_147_483_647 || value < -2_147_483_648) {
      throw new TypeError(`${name} must be a 32-bit integer, not ${String(value)}`);
    }
    if (value !== 0) {
      this.key(field, WireType.Varint).varint(BigInt.asUintN(64, BigInt(value)));
    }
    return this;
  }

  /** An `int64` field from a number that must be a safe integer; `always` writes 0 too (for `optional`). */
  int64(field: number, value: number, name: string, always = false): this {
    if (!Number.isSafeInteger(value)) {
      throw new TypeError(`${name} must be an integer from -(2^53 - 1) to 2^53 - 1, not ${String(value)}`);
    }
    if (value !== 0 || always) {
      this.key(field, WireType.Varint).varint(BigInt.asUintN(64, BigInt(value)));
    }
    return this;
  }

  /** A `string` field; `always` writes an empty one too (for a map entry's key and value). */
  string(field: number, value: string, name: string, always = false): this {
    if (typeof value !== "string") {
      throw new TypeError(`${name} must be a string, not ${describe(value)}`);
    }
    if (value !== "" || always) {
      this.bytes(field, utf8.encode(value), name, always);
    }
    return this;
  }

  /** A `bytes` field, or an embedded message already encoded; `always` writes an empty one too. */
  bytes(field: number, value: Uint8Array, name: string, always = false): this {
    if (!(value instanceof Uint8Array)) {
      throw new TypeError(`${name} must be a Uint8Array, not ${describe(value)}`);
    }
    if (value.length > 0 || always) {
      this.key(field, WireType.LengthDelimited).varint(BigInt(value.length));
      this.flush();
      this.parts.push(value);
    }
    return this;
  }

  private key(field: number, type: number): this {
    return this.varint(BigInt((field << 3) | type));
  }

  private varint(value: bigint): this {
    let v = value;
    while (v > 0x7fn) {
      this.chunks.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.chunks.push(Number(v));
    return this;
  }

  private flush(): void {
    if (this.chunks.length > 0) {
      this.parts.push(Uint8Array.from(this.chunks));
      this.chunks = [];
    }
  }
}

/** A short description of a wrong value, for a TypeError. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return `${typeof value} ${String(value)}`;
}
