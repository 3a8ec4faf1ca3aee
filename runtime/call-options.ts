import { Metadata, type MetadataValue } from "@grpc/grpc-js";

/** Metadata as grpc-js `Metadata`, or a plain record (`-bin` keys take Buffers). */
export type MetadataInit = Metadata | Record<string, MetadataValue | MetadataValue[]>;

/**
 * Options for one client call. Limits are in milliseconds; `0` disables one.
 */
export interface CallOptions {
  /** Aborting it cancels the call; the call rejects with reason `cancelled`. */
  signal?: AbortSignal | undefined;
  /** The total deadline. It travels to the server as the gRPC deadline (`grpc-timeout`). */
  timeoutMs?: number | undefined;
  /** The most time allowed between two received messages of a stream. */
  idleTimeoutMs?: number | undefined;
  /** The most time a send may wait for the peer to take a message. */
  sendTimeoutMs?: number | undefined;
  /** Request metadata (headers). */
  metadata?: MetadataInit | undefined;
  /** Called with the response headers when they arrive. */
  onHeader?: ((metadata: Metadata) => void) | undefined;
  /** Called with the response trailers when the call ends, whatever its status. */
  onTrailer?: ((metadata: Metadata) => void) | undefined;
}

export function toMetadata(init: MetadataInit | undefined): Metadata {
  if (init === undefined) {
    return new Metadata();
  }
  if (init instanceof Metadata) {
    return init;
  }
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(init)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      metadata.add(key, v);
    }
  }
  return metadata;
}
