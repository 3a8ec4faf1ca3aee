import { constants, type ServerHttp2Stream } from "node:http2";
import { cutShort, findHttp2Stream, requestDecoder } from "./grpc-internals.js";

/**
 * Resets the HTTP/2 stream under a grpc-js server call with RST_STREAM
 * (CANCEL), releasing it at once even when the peer has stopped reading.
 *
 * grpc-js offers no public way to do this: a status waits behind queued
 * messages. The stream is reached through grpc-js's call objects
 * (`findHttp2Stream`, grpc-internals.ts); if a grpc-js release moves it,
 * this falls back to destroying the call's Node stream, and the
 * send-timeout tests fail loudly.
 */
export function resetStream(call: object): void {
  const stream = findHttp2Stream(call);
  if (stream !== undefined) {
    stream.close(constants.NGHTTP2_CANCEL);
  } else {
    (call as { destroy?: () => void }).destroy?.();
  }
}

/** Why a request stream that has ended was cut short inside a message (see `cutShort`, grpc-internals.ts), or undefined. */
export function requestCutShort(call: object): string | undefined {
  return cutShort(requestDecoder(call), "request");
}

/**
 * Closes a server stream with RST_STREAM (NO_ERROR) when its status went out
 * as a trailers-only response and the peer has not ended its request stream,
 * so that a peer that never half-closes cannot
 * hold a stream whose call has ended; the gRPC protocol allows this. The
 * reset queues behind the status, so the peer reads the status first.
 *
 * The reset waits for the next turn of the event loop. On Node 22, a reset
 * submitted in the same turn as the trailers-only HEADERS cancels them: the
 * peer got RST_STREAM(NO_ERROR) and no status, every time (Node 20 and 24
 * sent the HEADERS first). Node writes a session's queued frames from a
 * native immediate, which runs before the JavaScript ones, so by then the
 * HEADERS have left nghttp2's queue.
 *
 * A status that follows messages is left alone: Node emits 'wantTrailers'
 * before the last DATA frame is written, and a reset queued then was seen to
 * overtake the trailers, so the peer got no status at all.
 */
export function releaseAfterStatus(call: object): void {
  const stream = findHttp2Stream(call) as ServerHttp2Stream | undefined;
  if (
    stream !== undefined &&
    stillHeld(stream) &&
    stream.headersSent &&
    stream.sentHeaders[GRPC_STATUS] !== undefined
  ) {
    setImmediate(resetIfHeld, stream);
  }
}

function stillHeld(stream: ServerHttp2Stream): boolean {
  return !stream.closed && !stream.destroyed && !stream.readableEnded;
}

function resetIfHeld(stream: ServerHttp2Stream): void {
  if (stillHeld(stream)) {
    stream.close(constants.NGHTTP2_NO_ERROR);
  }
}

const GRPC_STATUS = "grpc-status";
