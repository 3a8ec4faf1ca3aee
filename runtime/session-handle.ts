import type { Http2Session } from "node:http2";

/**
 * What leaksafe uses of the native handle behind a Node `Http2Session`,
 * reached through Node's private `kHandle` symbol. Each use checks that its
 * method exists.
 */
export interface SessionHandle {
  /** Whether nghttp2 still wants to read or write (node_http2.cc `HasPendingData`). */
  hasPendingData?: unknown;
  /**
   * Sends a PING (node_http2.cc `Http2Session::Ping`); `ondone(ack)` runs at
   * its ACK, or with `false` when it cannot be sent or the session ends first.
   */
  ping?: unknown;
}

let handleKey: symbol | undefined;

/**
 * The native handle of `session`: `"no symbol"` when this Node has no
 * `kHandle` on its sessions, undefined once the session has let it go.
 */
export function sessionHandle(session: Http2Session): SessionHandle | "no symbol" | undefined {
  handleKey ??= Object.getOwnPropertySymbols(session).find((key) => key.description === "kHandle");
  if (handleKey === undefined) {
    return "no symbol";
  }
  return (session as unknown as Record<symbol, SessionHandle | undefined>)[handleKey];
}
