import type { MethodKind } from "./service.js";

/** One live call, as `activeStreams()` shows it. Times are epoch milliseconds. */
export interface CallRecord {
  readonly id: number;
  /** The gRPC path, e.g. "/example.v1.Chat/Watch". */
  readonly method: string;
  readonly kind: MethodKind;
  readonly peer: string;
  readonly startedAt: number;
  /** The total deadline, or undefined when there is none. */
  deadline: number | undefined;
  messagesIn: number;
  messagesOut: number;
  lastMessageInAt: number | undefined;
  lastMessageOutAt: number | undefined;
}

/** The live calls of one server or client. */
export class Registry {
  private nextId = 1;
  private readonly live = new Map<number, CallRecord>();

  open(method: string, kind: MethodKind, peer: string, deadline: number | undefined): CallRecord {
    const record: CallRecord = {
      id: this.nextId++,
      method,
      kind,
      peer,
      startedAt: Date.now(),
      deadline,
      messagesIn: 0,
      messagesOut: 0,
      lastMessageInAt: undefined,
      lastMessageOutAt: undefined,
    };
    this.live.set(record.id, record);
    return record;
  }

  close(record: CallRecord): void {
    this.live.delete(record.id);
  }

  get size(): number {
    return this.live.size;
  }

  /** A snapshot: copies, so a caller holding them keeps nothing alive. */
  snapshot(): CallRecord[] {
    return [...this.live.values()].map((r) => ({ ...r }));
  }
}
