/**
 * The health statuses a server reports through `grpc.health.v1`: one per
 * service name, the whole server being `""`. The server's lifecycle sets
 * them too: SERVING once it listens, NOT_SERVING for every name the moment
 * shutdown starts, after which the open watches end. This module holds no
 * protobuf; health-service.ts serves it, and is loaded only when asked for.
 */

/** A status that a server sets. */
export type ServingStatus = "SERVING" | "NOT_SERVING";

const STATUSES: ReadonlySet<string> = new Set<ServingStatus>(["SERVING", "NOT_SERVING"]);

/** The health service's own name, which it does not report on. */
const HEALTH_SERVICE = "grpc.health.v1.Health";

/** The full name of each service that a set of paths (`/pkg.Service/Method`) belongs to, but health's own. */
export function serviceNames(paths: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const path of paths) {
    const name = path.slice(1, path.lastIndexOf("/"));
    if (name !== HEALTH_SERVICE) names.add(name);
  }
  return names;
}

/** What a watch of one service name is told. */
export interface HealthWatcher {
  /** The status changed. */
  changed(status: ServingStatus): void;
  /** Shutdown began: the status is final and the watch should end. */
  ended(): void;
}

/** `server.health`: the statuses the server reports. */
export interface Health {
  /**
   * Sets the status of a service, by its full name (`example.v1.Chat`), or
   * of the whole server (`""`). Once shutdown has started every status is
   * NOT_SERVING, and setting SERVING again has no effect.
   */
  set(service: string, status: ServingStatus): void;
  /** The status of a service, or `undefined` when none is set. */
  get(service: string): ServingStatus | undefined;
}

export class HealthStatuses implements Health {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<HealthWatcher>>();
  private stopping = false;

  set(service: string, status: ServingStatus): void {
    if (typeof service !== "string") {
      throw new TypeError(`health.set: the service name must be a string, not ${typeof service}`);
    }
    if (!STATUSES.has(status)) {
      throw new TypeError(`health.set: the status must be "SERVING" or "NOT_SERVING", not ${JSON.stringify(status)}`);
    }
    this.update(service, this.stopping ? "NOT_SERVING" : status);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Every name with a status, in the order they were first set. */
  entries(): IterableIterator<[string, ServingStatus]> {
    return this.statuses.entries();
  }

  /** Whether shutdown has begun, so that a new watch ends at once. */
  get ended(): boolean {
    return this.stopping;
  }

  /** Registers a watcher of one name; the returned function removes it. */
  watch(service: string, watcher: HealthWatcher): () => void {
    let set = this.watchers.get(service);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(service, set);
    }
    const watchers = set;
    watchers.add(watcher);
    return () => {
      watchers.delete(watcher);
      if (watchers.size === 0) this.watchers.delete(service);
    };
  }

  /** Whether any watch is open. */
  get watched(): boolean {
    return this.watchers.size > 0;
  }

  /** The server listens: the whole server and each of `services` without a status become SERVING. */
  listening(services: Iterable<string>): void {
    for (const service of ["", ...services]) {
      if (!this.statuses.has(service)) this.set(service, "SERVING");
    }
  }

  /** Shutdown begins: every status becomes NOT_SERVING, then every watch is told to end. */
  shuttingDown(): void {
    this.stopping = true;
    for (const service of this.statuses.keys()) {
      this.update(service, "NOT_SERVING");
    }
    for (const watchers of [...this.watchers.values()]) {
      for (const watcher of [...watchers]) watcher.ended();
    }
  }

  private update(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const watcher of [...(this.watchers.get(service) ?? [])]) {
      watcher.changed(status);
    }
  }
}
