/**
 * A reader of the protobuf binary format, small enough for the few messages
 * the runtime reads itself (google.rpc.Status and the standard error
 * details) without a protobuf library. It trusts nothing: every fault in
 * the bytes (a varint that never ends, a length past the end, a wire type
 * that is not allowed, text that is not UTF-8) throws a {@link WireError}
 * that says what and where, and every step consumes at least one byte, so
 * no input makes it loop.
 */

/** The wire types this reader takes; 3 and 4 (groups) are refused. */
export const WireType = { Varint: 0, Fixed64: 1, LengthDelimited: 2, Fixed32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

const WIRE_TYPE_NAMES: Record<number, string> = {
  0: "varint",
  1: "64-bit",
  2: "length-delimited",
  3: "group start",
  4: "group end",
  5: "32-bit",
};

/** The name of wire type `type`, as errors print it: `2 (length-delimited)`. */
export function wireTypeName(type: number): string {
  const name = WIRE_TYPE_NAMES[type];
  return name === undefined ? `${type} (not a wire type)` : `${type} (${name})`;
}

/** A field's key: its number, its wire type, and the offset it was read at. */
export interface Tag {
  field: number;
  type: number;
  at: number;
}

/**
 * Bytes that are not a valid encoding of the message being read. Offsets
 * count from the start of the outermost message.
 */
export class WireError extends Error {
  override name = "WireError";

  /** This error, with the path of the field being read before its message, unless it has one already. */
  within(path: string): WireError {
    if (this.located) {
      return this;
    }
    const error = new WireError(`${path}: ${this.message}`);
    error.located = true;
    return error;
  }

  private located = false;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A cursor over one message's bytes. */
export class WireReader {
  private pos: number;
  private readonly end: number;

  /**
   * Reads `bytes` from `start` to `end` (default: all of them). Offsets in
   * errors count from the start of `bytes`, so an embedded message's
   * errors point into the outermost one.
   */
  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
    end = bytes.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  /** Whether every byte has been read. */
  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A length-delimited field, as a reader of its own over the same bytes: an embedded message. */
  nested(): WireReader {
    const length = this.length();
    const start = this.pos;
    this.pos += length;
    return new WireReader(this.bytes, start, this.pos);
  }

  /**
   * The next field's number and wire type. Field number 0 and the wire
   * types 6 and 7 are errors; so are groups (3 and 4), which no message read
   * here has, and which proto3 never writes.
   */
  tag(): Tag {
    const at = this.pos;
    const key = this.varint();
    // A key of more than 7 bytes (a bigint) has a field number past the limit.
    const field = typeof key === "number" ? Math.floor(key / 8) : key >> 3n;
    const type = typeof key === "number" ? key % 8 : Number(key & 7n);
    if (typeof field !== "number" || field === 0 || field > 536_870_911) {
      throw new WireError(`byte ${at}: field number ${field} is not between 1 and 536870911`);
    }
    if (type === 3 || type === 4 || type > 5) {
      throw new WireError(`byte ${at}: field ${field} has wire type ${wireTypeName(type)}, which is not supported`);
    }
    return { field, type, at };
  }

  /**
   * An unsigned varint of up to 10 bytes: a number when it has at most 7
   * bytes (49 bits, exact in a double), a bigint when longer. Numbers keep
   * the common case free of BigInt arithmetic, which costs a hostile
   * trailer of small fields about ten times as much to read.
   */
  varint(): number | bigint {
    const start = this.pos;
    let value = 0;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) {
        throw new WireError(`byte ${start}: a varint is cut short by the end of the bytes`);
      }
      const byte = this.bytes[this.pos++] as number;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) {
        return value;
      }
    }
    this.pos = start;
    return this.varint64();
  }

  /** A varint of up to 10 bytes, as an unsigned 64-bit bigint. */
  varint64(): bigint {
    const start = this.pos;
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) {
        throw new WireError(`byte ${start}: a varint is cut short by the end of the bytes`);
      }
      const byte = this.bytes[this.pos++] as number;
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) {
        if (i === 9 && byte > 1) {
          throw new WireError(`byte ${start}: a varint is larger than 64 bits`);
        }
        return value;
      }
    }
    throw new WireError(`byte ${start}: a varint runs past 10 bytes`);
  }

  /** An `int32`: a varint, of which the low 32 bits are the value, as protobuf reads it. */
  int32(): number {
    const value = this.varint();
    return typeof value === "number" ? (value % 4_294_967_296) | 0 : Number(BigInt.asIntN(32, value));
  }

  /** An `int64`, as a number; one beyond ±(2^53 - 1) is an error, not a rounded value. */
  int64(): number {
    const at = this.pos;
    const raw = this.varint();
    if (typeof raw === "number") {
      return raw;
    }
    const value = BigInt.asIntN(64, raw);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new WireError(`byte ${at}: the int64 ${value} is beyond what a JavaScript number holds exactly`);
    }
    return Number(value);
  }

  /** A length-delimited field's bytes: a view into the input, not a copy. */
  bytesField(): Uint8Array {
    const length = this.length();
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  /** A length-delimited field's length, checked against the bytes left. */
  private length(): number {
    const at = this.pos;
    const length = this.varint();
    const left = this.end - this.pos;
    if (typeof length !== "number" || length > left) {
      throw new WireError(`byte ${at}: a length of ${length} runs past the end (${plural(left, "byte")} left)`);
    }
    return length;
  }

  /** A `string`: length-delimited UTF-8; anything else is an error. */
  string(): string {
    const at = this.pos;
    const view = this.bytesField();
    try {
      return utf8.decode(view);
    } catch {
      throw new WireError(`byte ${at}: a string is not valid UTF-8`);
    }
  }

  /** Skips one field's value, of any allowed wire type. */
  skip(type: number): void {
    switch (type) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.LengthDelimited:
        this.bytesField();
        return;
      case WireType.Fixed64:
        this.fixed(8);
        return;
      case WireType.Fixed32:
        this.fixed(4);
        return;
      default:
        throw new WireError(`byte ${this.pos}: cannot skip wire type ${wireTypeName(type)}`);
    }
  }

  private fixed(size: number): void {
    const left = this.end - this.pos;
    if (left < size) {
      throw new WireError(`byte ${this.pos}: a ${size * 8}-bit value is cut short (${plural(left, "byte")} left)`);
    }
    this.pos += size;
  }
}

/**
 * Fails when a known field came with another wire type than its own. Many
 * protobuf readers file such a field among the unknown ones; here it means
 * the bytes are not the message they claim to be, and reading stops.
 */
export function expectWireType(tag: Tag, name: string, expected: WireType): void {
  if (tag.type !== expected) {
    throw new WireError(
      `byte ${tag.at}: field ${tag.field} (${name}) has wire type ${wireTypeName(tag.type)}, not ${wireTypeName(expected)}`,
    );
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
