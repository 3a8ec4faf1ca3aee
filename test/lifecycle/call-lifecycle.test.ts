/**
 * `CallLifecycle` ends a call exactly once, and ending it is exception-safe:
 * a fail hook or a cleanup that throws does not stop the others, the
 * caller's signal listener is removed all the same, and the first error is
 * raised once, afterwards, as an uncaught exception.
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { afterEach, test } from "node:test";
import { Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { CallLifecycle, FAILED, RELEASE } from "../../runtime/call-lifecycle.js";
import { RpcError } from "../../runtime/rpc-error.js";

/** Collects uncaught exceptions instead of letting them end the test run. */
function captureUncaught(): { errors: unknown[]; settled(): Promise<void> } {
  const errors: unknown[] = [];
  process.setUncaughtExceptionCaptureCallback((error) => errors.push(error));
  return {
    errors,
    // Whatever is reported is reported by then: a microtask, or at worst a tick.
    settled: () => new Promise((resolve) => setImmediate(resolve)),
  };
}
afterEach(() => {
  if (process.hasUncaughtExceptionCaptureCallback()) process.setUncaughtExceptionCaptureCallback(null);
});

const aborted = (signal: AbortSignal) => new RpcError(Status.CANCELLED, String(signal.reason), { reason: "cancelled" });

test("fail() runs every hook and cleanup and removes the signal listener when a hook and a cleanup throw", async () => {
  const uncaught = captureUncaught();
  const controller = new AbortController();
  const leaks = createLeakChecker({ signals: [controller.signal] });
  const life = new CallLifecycle();
  const ran: string[] = [];
  const hookError = new Error("the second fail hook broke");
  life.follow(controller.signal, aborted);
  assert.equal(getEventListeners(controller.signal, "abort").length, 1);
  life.onFail(() => ran.push("hook 1"));
  life.onFail(() => {
    ran.push("hook 2");
    throw hookError;
  });
  life.onFail({ [FAILED]: () => ran.push("hook 3") });
  life.defer({
    [RELEASE]() {
      ran.push("cleanup 1");
      throw new Error("the first cleanup broke");
    },
  });
  life.defer(() => ran.push("cleanup 2"));

  const error = new RpcError(Status.INTERNAL, "boom");
  assert.equal(life.fail(error), true, "fail() returns normally");
  assert.deepEqual(ran, ["hook 1", "hook 2", "hook 3", "cleanup 1", "cleanup 2"]);
  assert.equal(life.failure, error);
  assert.equal(getEventListeners(controller.signal, "abort").length, 0, "the signal listener is removed");

  // The call has ended: nothing runs twice, and a late abort is not heard.
  assert.equal(life.fail(new RpcError(Status.UNKNOWN, "again")), false);
  assert.equal(life.finish(), false);
  controller.abort();
  assert.equal(ran.length, 5);

  await uncaught.settled();
  assert.deepEqual(uncaught.errors, [hookError], "the first error, and only it, is raised");
  await leaks.assertNoLeaks();
});

test("finish() runs every cleanup and removes the signal listener when a cleanup throws", async () => {
  const uncaught = captureUncaught();
  const controller = new AbortController();
  const leaks = createLeakChecker({ signals: [controller.signal] });
  const life = new CallLifecycle();
  const ran: string[] = [];
  life.follow(controller.signal, aborted);
  life.onFail(() => ran.push("fail hook"));
  life.defer(() => {
    ran.push("cleanup 1");
    throw "a string, not an Error";
  });
  life.defer(() => {
    ran.push("cleanup 2");
    throw new Error("a later error");
  });
  life.defer(() => ran.push("cleanup 3"));

  assert.equal(life.finish(), true, "finish() returns normally");
  assert.deepEqual(ran, ["cleanup 1", "cleanup 2", "cleanup 3"], "fail hooks do not run on success");
  assert.equal(life.failure, undefined);
  assert.equal(getEventListeners(controller.signal, "abort").length, 0, "the signal listener is removed");
  controller.abort();
  assert.equal(ran.length, 3);

  await uncaught.settled();
  assert.deepEqual(uncaught.errors, ["a string, not an Error"]);
  await leaks.assertNoLeaks();
});

test("a cleanup deferred after the end runs at once, and its error is raised the same way", async () => {
  const uncaught = captureUncaught();
  const life = new CallLifecycle();
  life.finish();
  const late = new Error("late cleanup broke");
  let ran = false;
  assert.doesNotThrow(() =>
    life.defer(() => {
      ran = true;
      throw late;
    }),
  );
  assert.ok(ran);
  await uncaught.settled();
  assert.deepEqual(uncaught.errors, [late]);
});

test("an abort of the followed signal fails the call through the same exception-safe path", async () => {
  const uncaught = captureUncaught();
  const controller = new AbortController();
  const life = new CallLifecycle();
  const ran: string[] = [];
  life.follow(controller.signal, aborted);
  life.onFail(() => {
    throw new Error("hook broke");
  });
  life.defer(() => ran.push("cleanup"));
  controller.abort(new Error("stop"));
  assert.deepEqual(ran, ["cleanup"]);
  assert.equal(life.failure?.code, Status.CANCELLED);
  assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  await uncaught.settled();
  assert.equal(uncaught.errors.length, 1);
  assert.match(String(uncaught.errors[0]), /hook broke/);
});
