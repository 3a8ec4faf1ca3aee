/** The prom-client example, run against real calls. */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { RpcError, Status } from "leaksafe";
import { Registry } from "prom-client";
import { aborted, eventually, type Harness, startChat } from "../e2e/harness.js";
import { prometheusHooks } from "./prometheus.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

test("the gauge counts open streams and the counter ends by reason", async () => {
  const registry = new Registry();
  let opened = 0;
  harness = await startChat(
    {
      async post(request) {
        if (request.text === "") throw new RpcError(Status.INVALID_ARGUMENT, "empty");
        return { revision: 1 };
      },
      async *watch(_request, ctx) {
        opened++;
        yield { revision: 1, at: undefined };
        await aborted(ctx.signal);
      },
    },
    { serverOptions: { hooks: prometheusHooks(registry) } },
  );
  const { client } = harness;
  await client.post({ author: "a", text: "hi" });
  await client.post({ author: "a", text: "" }).catch(() => undefined);
  const controller = new AbortController();
  const watch = client.watch({ afterRevision: 0 }, { signal: controller.signal })[Symbol.asyncIterator]();
  await watch.next();
  await eventually(() => opened === 1, "the watch to open");
  const during = await registry.getSingleMetricAsString("leaksafe_active_streams");
  assert.match(during, /leaksafe_active_streams\{method="\/example\.v1\.Chat\/Watch"\} 1/);
  controller.abort();
  await watch.next().catch(() => undefined);
  await eventually(() => harness?.server.activeStreams().length === 0, "the watch to end");
  const after = await registry.metrics();
  assert.match(after, /leaksafe_active_streams\{method="\/example\.v1\.Chat\/Watch"\} 0/);
  assert.match(after, /leaksafe_calls_ended_total\{method="\/example\.v1\.Chat\/Post",reason="ok",code="OK"\} 1/);
  assert.match(
    after,
    /leaksafe_calls_ended_total\{method="\/example\.v1\.Chat\/Post",reason="remote",code="INVALID_ARGUMENT"\} 1/,
  );
  assert.match(
    after,
    /leaksafe_calls_ended_total\{method="\/example\.v1\.Chat\/Watch",reason="peer-gone",code="CANCELLED"\} 1/,
  );
});
