/**
 * A KV service for the resume tests: a feed whose revision goes up by one
 * every `tickMs`, and whose changes are computed from their revision, so
 * nothing grows on the server however long it runs. Watchers wait for the
 * next tick with a listener on their call's signal, removed on every path.
 */
import { createServer, type LeaksafeServer, type ServerOptions } from "leaksafe";
import { type Change, WatchResponse } from "../../generated-example/example/kv/v1/kv.js";
import { type KVImplementation, KVService } from "../../generated-example/example/kv/v1/kv_leaksafe.js";

export class Feed {
  revision = 0;
  private readonly waiters = new Set<() => void>();
  private ticker: NodeJS.Timeout | undefined;

  /** Advances the revision every `tickMs` until it reaches `last`. */
  start(tickMs: number, last: number): void {
    this.ticker = setInterval(() => {
      this.revision++;
      for (const wake of this.waiters) wake();
      if (this.revision >= last) this.stop();
    }, tickMs);
  }

  stop(): void {
    clearInterval(this.ticker);
  }

  changesFrom(first: number): Change[] {
    const changes: Change[] = [];
    for (let r = first; r <= this.revision; r++) changes.push(change(r));
    return changes;
  }

  /** Resolves at the next tick, or when `signal` aborts; leaves nothing behind either way. */
  nextTick(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  get watchers(): number {
    return this.waiters.size;
  }
}

export function change(revision: number): Change {
  return { revision, key: `key/${revision % 7}`, value: Buffer.from(`value ${revision}`) };
}

/** The KV implementation over a feed: Watch sends each change once, from `startRevision` (or the next one). */
export function kvOver(feed: Feed, overrides: Partial<KVImplementation> = {}): KVImplementation {
  return {
    async put() {
      throw new Error("not used by these tests");
    },
    async *watch(request, ctx) {
      let next = request.startRevision > 0 ? request.startRevision : feed.revision + 1;
      while (!ctx.signal.aborted) {
        if (next <= feed.revision) {
          const changes = feed.changesFrom(next);
          next = feed.revision + 1;
          yield WatchResponse.fromPartial({ changes });
        } else {
          await feed.nextTick(ctx.signal);
        }
      }
    },
    ...overrides,
  };
}

/** A leaksafe server with the KV service on `address`; resolves with it and its port. */
export async function serveKv(
  implementation: KVImplementation,
  address = "127.0.0.1:0",
  options?: ServerOptions,
): Promise<{ server: LeaksafeServer; port: number }> {
  const server = createServer(options).add(KVService, implementation);
  const port = await server.listen(address);
  return { server, port };
}

/** The request that resumes a watch after `last`: from the revision after its last change. */
export function resumeAfter(
  last: WatchResponse,
  request: { prefix: string; startRevision: number },
): { prefix: string; startRevision: number } {
  const lastChange = last.changes.at(-1);
  return lastChange === undefined ? request : { ...request, startRevision: lastChange.revision + 1 };
}
