import type { EndReason, RecentEnds } from "./end-log.js";
import type { ResolvedLimits } from "./limits.js";
import type { CallRecord } from "./registry.js";
import type { ServerState } from "./server.js";
import type { MethodKind } from "./service.js";

/**
 * What `debugHandler` reads: a leaksafe server, or anything with
 * `activeStreams()` (a leaksafe client shows its open calls; the parts it
 * lacks show as null).
 */
export interface DebugSource {
  activeStreams(): CallRecord[];
  recentEnds?(): RecentEnds;
  limitsOf?(path: string): ResolvedLimits | undefined;
  readonly state?: ServerState;
}

/** One open call in the debug data. Times are epoch ms; null where the registry has undefined. */
export interface DebugOpenCall {
  id: number;
  method: string;
  kind: MethodKind;
  peer: string;
  startedAt: number;
  ageMs: number;
  /** The call's total deadline (epoch ms), and how far off it is; null when there is none. */
  deadline: number | null;
  deadlineInMs: number | null;
  messagesIn: number;
  messagesOut: number;
  lastMessageInAt: number | null;
  lastMessageOutAt: number | null;
  /** Time since the last message in and out; null when there was none. */
  sinceLastInMs: number | null;
  sinceLastOutMs: number | null;
  /** Since when a send waits for the peer to take a message, and for how long; null when no send waits. */
  sendBlockedSince: number | null;
  sendBlockedMs: number | null;
  /** Since when this side waits for the peer's next message, and for how long; null when it does not wait. */
  receiveWaitingSince: number | null;
  receiveWaitingMs: number | null;
  /** The method's limits in force (0 = off); null when the source does not know them (a client). */
  limits: ResolvedLimits | null;
}

/** One ended call in the debug data. */
export interface DebugEnd {
  id: number;
  method: string;
  kind: MethodKind;
  peer: string;
  reason: EndReason;
  code: number;
  /** The status code's name, e.g. "DEADLINE_EXCEEDED". */
  codeName: string;
  startedAt: number;
  endedAt: number;
  durationMs: number;
  endedAgoMs: number;
  messagesIn: number;
  messagesOut: number;
}

/** The open calls of one method. */
export interface DebugMethod {
  method: string;
  kind: MethodKind;
  open: number;
  limits: ResolvedLimits | null;
}

/**
 * The whole of the debug data, as `?format=json` serves it (a stable shape:
 * every field is present, null when unknown).
 */
export interface DebugSnapshot {
  /** When this snapshot was taken, epoch ms; every `…Ms` is counted to it. */
  now: number;
  /** The server's state, or null for a source without one (a client). */
  state: ServerState | null;
  /** The open calls, oldest first. */
  open: DebugOpenCall[];
  /** The open calls counted by method, most first. */
  methods: DebugMethod[];
  /** Ended calls, or null for a source that does not keep them. */
  ends: {
    /** How many calls ended, in all. */
    total: number;
    /** Ends counted by reason since the server was created, most first as object keys. */
    byReason: Partial<Record<EndReason, number>>;
    /** The newest ends, newest first. */
    recent: DebugEnd[];
  } | null;
}

const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** The name of a gRPC status code, or "CODE_<n>" for one outside 0–16. */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `CODE_${code}`;
}

/** Reads `source` once, at `now`. */
export function takeSnapshot(source: DebugSource, now = Date.now()): DebugSnapshot {
  const limitsCache = new Map<string, ResolvedLimits | null>();
  const limitsOf = (path: string): ResolvedLimits | null => {
    let limits = limitsCache.get(path);
    if (limits === undefined) {
      limits = source.limitsOf?.(path) ?? null;
      limitsCache.set(path, limits);
    }
    return limits;
  };
  const since = (at: number | undefined): number | null => (at === undefined ? null : now - at);
  const open = source
    .activeStreams()
    .sort((a, b) => a.startedAt - b.startedAt || a.id - b.id)
    .map(
      (r): DebugOpenCall => ({
        id: r.id,
        method: r.method,
        kind: r.kind,
        peer: r.peer,
        startedAt: r.startedAt,
        ageMs: now - r.startedAt,
        deadline: r.deadline ?? null,
        deadlineInMs: r.deadline === undefined ? null : r.deadline - now,
        messagesIn: r.messagesIn,
        messagesOut: r.messagesOut,
        lastMessageInAt: r.lastMessageInAt ?? null,
        lastMessageOutAt: r.lastMessageOutAt ?? null,
        sinceLastInMs: since(r.lastMessageInAt),
        sinceLastOutMs: since(r.lastMessageOutAt),
        sendBlockedSince: r.sendBlockedSince ?? null,
        sendBlockedMs: since(r.sendBlockedSince),
        receiveWaitingSince: r.receiveWaitingSince ?? null,
        receiveWaitingMs: since(r.receiveWaitingSince),
        limits: limitsOf(r.method),
      }),
    );
  const byMethod = new Map<string, DebugMethod>();
  for (const call of open) {
    const entry = byMethod.get(call.method);
    if (entry === undefined) {
      byMethod.set(call.method, { method: call.method, kind: call.kind, open: 1, limits: call.limits });
    } else {
      entry.open++;
    }
  }
  const methods = [...byMethod.values()].sort((a, b) => b.open - a.open || (a.method < b.method ? -1 : 1));
  return { now, state: source.state ?? null, open, methods, ends: endsOf(source, now) };
}

function endsOf(source: DebugSource, now: number): DebugSnapshot["ends"] {
  if (source.recentEnds === undefined) return null;
  const { byReason, recent } = source.recentEnds();
  const counts = Object.entries(byReason).sort(([, a], [, b]) => (b ?? 0) - (a ?? 0));
  return {
    total: counts.reduce((sum, [, n]) => sum + (n ?? 0), 0),
    byReason: Object.fromEntries(counts),
    recent: recent.map((e) => ({ ...e, codeName: codeName(e.code), endedAgoMs: now - e.endedAt })),
  };
}
