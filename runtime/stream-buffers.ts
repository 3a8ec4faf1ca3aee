/**
 * How many bytes an HTTP/2 stream buffers on each side before it holds its
 * peer back: the same on every Node. Node 22 raised the default high-water
 * mark of byte streams from 16 KiB to 64 KiB (nodejs/node#52037), which let
 * a producer run 48 KiB further ahead of a slow reader on each side, beyond
 * HTTP/2's own window. "Receives are bounded" then rested on a default that
 * changed, so the runtime sets Node 20's value on every stream it serves or
 * calls.
 *
 * Node offers no option for it on streams that http2 makes, so this writes
 * the field that Readable and Writable read on each push and write
 * (`_readableState.highWaterMark`, `_writableState.highWaterMark`, the same
 * in Node 20 to 25). `readableHighWaterMark` reads it back, so a Node that
 * moved it is found by the check below.
 */
import type { Duplex } from "node:stream";

export const STREAM_BUFFER_BYTES = 16 * 1024;

interface StreamStates {
  _readableState?: { highWaterMark: number };
  _writableState?: { highWaterMark: number };
}

/** Sets both sides' high-water mark of a stream that http2 made to STREAM_BUFFER_BYTES. */
export function boundStreamBuffers(stream: Duplex): void {
  if (stream.readableHighWaterMark === STREAM_BUFFER_BYTES && stream.writableHighWaterMark === STREAM_BUFFER_BYTES) {
    return;
  }
  const states = stream as unknown as StreamStates;
  if (states._readableState !== undefined && states._writableState !== undefined) {
    states._readableState.highWaterMark = STREAM_BUFFER_BYTES;
    states._writableState.highWaterMark = STREAM_BUFFER_BYTES;
  }
}
