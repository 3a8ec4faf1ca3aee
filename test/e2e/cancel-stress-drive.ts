/**
 * What every Node client of the cancel stress test shares: the order of a
 * call's sends, half-close and cancel, and a pool that keeps a number of
 * calls in flight.
 */
import { inContext, type PlannedCall } from "./cancel-stress-plan.js";

/** The three things a client can do to a call's request stream. */
export interface CallControl {
  write(index: number): void;
  halfClose(): void;
  cancel(): void;
}

/**
 * Sends the planned messages, then cancels (before or after the
 * half-close) or just half-closes, as the plan says. For a call that
 * cancels before its half-close, the half-close is never made.
 */
export async function drive(call: PlannedCall, control: CallControl): Promise<void> {
  for (let i = 0; i < call.sentBeforeCancel; i++) control.write(i);
  if (call.point === "none") {
    control.halfClose();
    return;
  }
  if (call.point === "after-half-close") control.halfClose();
  await inContext(call.context, () => control.cancel());
}

/**
 * The same order for a client whose requests are an async iterable that it
 * pulls: the cancel runs once the client asks for the message after the
 * last one planned, so every planned message was handed over. A call that
 * cancels before its half-close ends the iterable only once the call has
 * settled on the client, so that no client can take the iterable's end for
 * a half-close. After a half-close the cancel waits one more macrotask at
 * least, so that the client had its turn to send the END_STREAM.
 */
export async function* requestsOf<T>(
  call: PlannedCall,
  message: (index: number) => T,
  cancel: () => void,
  settled: Promise<unknown>,
): AsyncGenerator<T> {
  for (let i = 0; i < call.sentBeforeCancel; i++) yield message(i);
  if (call.point === "none") return;
  if (call.point === "after-half-close") {
    setImmediate(() => void inContext(call.context, cancel));
    return;
  }
  await inContext(call.context, cancel);
  await settled;
}

/** Runs `run` for every call, `concurrency` at a time; resolves with each call's client outcome by id. */
export async function pool(
  calls: PlannedCall[],
  concurrency: number,
  run: (call: PlannedCall) => Promise<string>,
): Promise<Record<string, string>> {
  const outcomes: Record<string, string> = {};
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const call = calls[next++] as PlannedCall;
      outcomes[call.id] = await run(call);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return outcomes;
}
