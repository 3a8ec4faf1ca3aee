/**
 * Counting the bytes of a call's messages, for hooks that set
 * `messageSizes`: the call's serializer and deserializer, wrapped for that
 * call alone. Calls whose hooks do not count keep the method's own
 * functions, and pay one field test when they start.
 */
import type { CallEndInfo } from "./registry.js";

/** The counters of one call: its hooks' end info, when it counts bytes. */
type Counted = Pick<CallEndInfo, "bytesIn" | "bytesOut">;

/** `serialize`, adding each message's length to `counted.bytesOut`. */
export function countingSerializer<T>(serialize: (value: T) => Buffer, counted: Counted): (value: T) => Buffer {
  return (value) => {
    const bytes = serialize(value);
    counted.bytesOut = (counted.bytesOut ?? 0) + bytes.byteLength;
    return bytes;
  };
}

/** `deserialize`, adding each message's length to `counted.bytesIn`. */
export function countingDeserializer<T>(deserialize: (bytes: Buffer) => T, counted: Counted): (bytes: Buffer) => T {
  return (bytes) => {
    counted.bytesIn = (counted.bytesIn ?? 0) + bytes.byteLength;
    return deserialize(bytes);
  };
}

/** The end info of a call whose hooks count bytes, or undefined. */
export function countedInfo(hooked: { info: CallEndInfo } | undefined): CallEndInfo | undefined {
  return hooked !== undefined && hooked.info.bytesIn !== undefined ? hooked.info : undefined;
}
