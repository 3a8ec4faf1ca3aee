import type { ChannelOptions } from "@grpc/grpc-js";

/** HTTP/2 keepalive: a ping every `timeMs`, and the connection is dropped if none is answered within `timeoutMs`. */
export interface KeepaliveOptions {
  timeMs?: number | undefined;
  timeoutMs?: number | undefined;
}

/**
 * The server preset: ping each client every 30 s and drop it if the ping is
 * not answered within 10 s. A client that vanished without closing its
 * socket (a network drop, a frozen process) is found within 40 s, even on a
 * stream with no idle limit.
 */
export const SERVER_KEEPALIVE = Object.freeze({ timeMs: 30_000, timeoutMs: 10_000 });

/**
 * The client preset: ping every 5 minutes while calls are open, and give up
 * after 20 s without an answer. Five minutes is the shortest interval that
 * grpc-go and gRPC C-core servers accept with their default enforcement; more
 * often, they answer GOAWAY `too_many_pings`. Faster detection is the
 * server's job, or set a shorter interval for servers you configure yourself.
 */
export const CLIENT_KEEPALIVE = Object.freeze({ timeMs: 300_000, timeoutMs: 20_000 });

/** grpc-js channel options for a keepalive setting; `false` turns keepalive off. */
export function keepaliveOptions(
  preset: { readonly timeMs: number; readonly timeoutMs: number },
  given: KeepaliveOptions | false | undefined,
): ChannelOptions {
  if (given === false) {
    return { "grpc.keepalive_time_ms": -1 };
  }
  return {
    "grpc.keepalive_time_ms": given?.timeMs ?? preset.timeMs,
    "grpc.keepalive_timeout_ms": given?.timeoutMs ?? preset.timeoutMs,
    "grpc.keepalive_permit_without_calls": 0,
  };
}
