/**
 * The seeded plan of the cancel stress test: for each call, its method, how
 * many messages it sends, where the client cancels (or does not) and from
 * which event-loop context. The same seed gives the same plan, so a failure
 * replays; the plan is also the record of the client's intent.
 */

export type Method = "upload" | "converse";

/**
 * Where the client cancels: before its first message (the id then travels
 * only in metadata), after some but not all of its messages, after its last
 * message but before the half-close, just after the half-close, or never
 * (it half-closes and waits for the status).
 */
export type Point = "before-first" | "mid" | "before-half-close" | "after-half-close" | "none";

/** The context the cancel runs in, relative to the client's last action. */
export type Context = "sync" | "microtask" | "immediate" | "timer";

export interface PlannedCall {
  /** Sent in the `x-stress-id` request header, and as the first message's name or author. */
  id: string;
  method: Method;
  point: Point;
  context: Context;
  /** Messages the call would send if it were not cancelled (1–4). */
  messages: number;
  /** Messages sent before the cancel: 0 for before-first, 1..messages-1 for mid, else all. */
  sentBeforeCancel: number;
}

export const POINTS: readonly Point[] = ["before-first", "mid", "before-half-close", "after-half-close", "none"];
export const CONTEXTS: readonly Context[] = ["sync", "microtask", "immediate", "timer"];
export const ID_HEADER = "x-stress-id";

/** True when the client means to cancel before it half-closes. */
export function cancelsBeforeHalfClose(point: Point): boolean {
  return point === "before-first" || point === "mid" || point === "before-half-close";
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` calls for one client kind; ids start with `prefix`. */
export function planCalls(seed: number, count: number, prefix: string): PlannedCall[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const calls: PlannedCall[] = [];
  for (let i = 0; i < count; i++) {
    const method: Method = random() < 0.5 ? "upload" : "converse";
    let point = pick(POINTS);
    const messages = 1 + Math.floor(random() * 4);
    if (point === "mid" && messages === 1) point = "before-half-close";
    const sentBeforeCancel =
      point === "before-first" ? 0 : point === "mid" ? 1 + Math.floor(random() * (messages - 1)) : messages;
    calls.push({ id: `${prefix}-${i}`, method, point, context: pick(CONTEXTS), messages, sentBeforeCancel });
  }
  return calls;
}

/** Runs `action` in the planned context and resolves once it ran. */
export function inContext(context: Context, action: () => void): Promise<void> {
  switch (context) {
    case "sync":
      action();
      return Promise.resolve();
    case "microtask":
      return Promise.resolve().then(action);
    case "immediate":
      return new Promise((resolve) =>
        setImmediate(() => {
          action();
          resolve();
        }),
      );
    case "timer":
      return new Promise((resolve) =>
        setTimeout(() => {
          action();
          resolve();
        }, 0),
      );
  }
}
