import { constants, type Http2Stream } from "node:http2";

/**
 * Resets the HTTP/2 stream under a grpc-js server call with RST_STREAM
 * (CANCEL), releasing it at once even when the peer has stopped reading.
 *
 * grpc-js offers no public way to do this: a status waits behind queued
 * messages. The stream is reached through grpc-js's call objects; if a
 * grpc-js release moves it, this falls back to destroying the call's
 * Node stream, and the send-timeout tests fail loudly.
 */
export function resetStream(call: object): void {
  const stream = findHttp2Stream(call);
  if (stream !== undefined) {
    stream.close(constants.NGHTTP2_CANCEL);
  } else {
    (call as { destroy?: () => void }).destroy?.();
  }
}

export function findHttp2Stream(call: object): Http2Stream | undefined {
  let current: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 16 && typeof current === "object" && current !== null; depth++) {
    const candidate = (current as { stream?: unknown }).stream;
    if (isHttp2Stream(candidate)) {
      return candidate;
    }
    current = (current as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

function isHttp2Stream(value: unknown): value is Http2Stream {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Http2Stream).close === "function" &&
    "rstCode" in (value as object)
  );
}
