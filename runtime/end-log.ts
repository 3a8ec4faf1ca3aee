import type { LiveCall } from "./registry.js";
import type { RpcErrorReason, Status } from "./rpc-error.js";
import type { MethodKind } from "./service.js";

/** Why a call ended, as the end log counts it: an {@link RpcErrorReason}, or "ok" for a call that succeeded. */
export type EndReason = RpcErrorReason | "ok";

/** How many ended calls a registry keeps for `recentEnds()`: the newest 100. */
export const RECENT_ENDS = 100;

/** One call that ended, as `recentEnds()` lists it. Times are epoch milliseconds. */
export interface EndRecord {
  readonly id: number;
  /** The gRPC path, e.g. "/example.v1.Chat/Watch". */
  readonly method: string;
  readonly kind: MethodKind;
  /** The other side: the client's address on a server, the target on a client. */
  readonly peer: string;
  readonly reason: EndReason;
  /** The gRPC status code the call ended with (0, OK, for reason "ok"). */
  readonly code: Status;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly durationMs: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
}

/** What `recentEnds()` returns. */
export interface RecentEnds {
  /** How many calls ended for each reason since the server (or client) was created; a reason never seen is absent. */
  readonly byReason: Partial<Record<EndReason, number>>;
  /** The newest ends, newest first: at most {@link RECENT_ENDS}. */
  readonly recent: EndRecord[];
}

/**
 * The calls that ended: a count per reason, and a ring of the newest
 * {@link RECENT_ENDS}. Recording one costs O(1) and allocates nothing: the
 * ring keeps the registry's own record of the call, which nothing changes
 * once the call ended, beside its reason, code and end time.
 */
export class EndLog {
  private readonly counts = new Map<EndReason, number>();
  // Parallel rings; they grow by appending until they hold RECENT_ENDS, so
  // a registry that sees few calls (a short-lived client) holds little.
  private readonly calls: LiveCall[] = [];
  private readonly reasons: EndReason[] = [];
  private readonly codes: Status[] = [];
  private readonly endedAt: number[] = [];
  /** How many ends were recorded in all; the next one goes to `written % RECENT_ENDS`. */
  private written = 0;

  record(call: LiveCall, reason: EndReason, code: Status, now: number): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    const slot = this.written % RECENT_ENDS;
    this.calls[slot] = call;
    this.reasons[slot] = reason;
    this.codes[slot] = code;
    this.endedAt[slot] = now;
    this.written++;
  }

  /** A copy: the counts, and the newest ends, newest first. */
  snapshot(): RecentEnds {
    const recent: EndRecord[] = [];
    const kept = Math.min(this.written, RECENT_ENDS);
    for (let back = 1; back <= kept; back++) {
      const slot = (this.written - back) % RECENT_ENDS;
      const call = this.calls[slot];
      if (call === undefined) continue;
      const endedAt = this.endedAt[slot] ?? 0;
      recent.push({
        id: call.id,
        method: call.method,
        kind: call.kind,
        peer: call.peer,
        reason: this.reasons[slot] ?? "ok",
        code: this.codes[slot] ?? 0,
        startedAt: call.startedAt,
        endedAt,
        durationMs: endedAt - call.startedAt,
        messagesIn: call.messagesIn,
        messagesOut: call.messagesOut,
      });
    }
    return { byReason: Object.fromEntries(this.counts), recent };
  }
}
