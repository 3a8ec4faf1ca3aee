import { getEventListeners } from "node:events";

/** Anything with a live-call registry: a leaksafe server or client. */
export interface HasActiveStreams {
  activeStreams(): ReadonlyArray<{ method: string; peer: string; startedAt: number }>;
}

/** What a leak checker watches besides the process's active resources. */
export interface LeakTargets {
  /** Long-lived signals passed to calls: their `abort` listeners must return to the count they had. */
  signals?: readonly AbortSignal[] | undefined;
  /** Servers and clients whose live calls must drop back to the count they had. */
  registries?: readonly HasActiveStreams[] | undefined;
}

export interface LeakCheckOptions {
  /** How long resources may take to be released, in ms. Default 2000. */
  timeoutMs?: number | undefined;
}

/** A baseline of resources, to compare with once the code under test is done. */
export interface LeakChecker {
  /** Adds signals or registries to watch, with their present state as baseline. */
  track(targets: LeakTargets): void;
  /**
   * Waits until active resources (handles, timers, sockets), abort listeners
   * and live calls are back to the baseline, or throws an Error saying what
   * leaked once `timeoutMs` has passed.
   */
  assertNoLeaks(options?: LeakCheckOptions): Promise<void>;
}

interface Watched<T> {
  target: T;
  baseline: number;
}

/**
 * Snapshots the process's active resources now. Create it before the code
 * under test starts anything, and call `assertNoLeaks()` when it is done:
 *
 * ```ts
 * const leaks = createLeakChecker({ signals: [shared.signal] });
 * // … start a server, make calls, shut down …
 * await leaks.assertNoLeaks();
 * ```
 */
export function createLeakChecker(targets: LeakTargets = {}): LeakChecker {
  const resources = countResources();
  const signals: Array<Watched<AbortSignal>> = [];
  const registries: Array<Watched<HasActiveStreams>> = [];

  const checker: LeakChecker = {
    track({ signals: s = [], registries: r = [] }) {
      for (const signal of s) signals.push({ target: signal, baseline: abortListeners(signal) });
      for (const registry of r) registries.push({ target: registry, baseline: registry.activeStreams().length });
    },
    async assertNoLeaks({ timeoutMs = 2000 } = {}) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const leaks = findLeaks(resources, signals, registries);
        if (leaks.length === 0) {
          return;
        }
        if (Date.now() >= until) {
          throw new Error(`leaks after ${timeoutMs} ms:\n- ${leaks.join("\n- ")}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
  checker.track(targets);
  return checker;
}

function findLeaks(
  resources: Map<string, number>,
  signals: ReadonlyArray<Watched<AbortSignal>>,
  registries: ReadonlyArray<Watched<HasActiveStreams>>,
): string[] {
  const leaks: string[] = [];
  const now = countResources();
  for (const [kind, count] of now) {
    const extra = count - (resources.get(kind) ?? 0);
    if (extra > 0) {
      leaks.push(`${extra} more active ${kind} than at the start (${count} now)`);
    }
  }
  signals.forEach(({ target, baseline }, i) => {
    const count = abortListeners(target);
    if (count > baseline) {
      leaks.push(`signal #${i} has ${count} abort listeners, ${count - baseline} more than at the start`);
    }
  });
  registries.forEach(({ target, baseline }, i) => {
    const calls = target.activeStreams();
    if (calls.length > baseline) {
      const shown = calls
        .slice(0, 5)
        .map((c) => `${c.method} with ${c.peer}, open ${Date.now() - c.startedAt} ms`)
        .join("; ");
      leaks.push(
        `registry #${i} has ${calls.length} live calls, ${calls.length - baseline} more than at the start: ${shown}`,
      );
    }
  });
  return leaks;
}

function countResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, "abort").length;
}
