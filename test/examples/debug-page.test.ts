/** The debug-page example: its admin server shows a Watch opened against its gRPC server, then the Watch's end. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "leaksafe";
import type { DebugSnapshot } from "leaksafe/debug";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { start } from "./debug-page.js";

test("the example's page lists an open Watch with its limits, as HTML and JSON, then counts its end; other paths are 404", async () => {
  const leaks = createLeakChecker();
  const running = await start();
  const client = createClient(ChatService, running.target);
  leaks.track({ registries: [running.server, client] });
  const stop = new AbortController();
  try {
    const watching = (async () => {
      for await (const _ of client.watch({ afterRevision: 0 }, { signal: stop.signal }));
    })().catch(() => {});
    await eventually(() => running.server.activeStreams().length === 1, "the Watch to open");

    const page = await fetch(running.page);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<td class="method">\/example\.v1\.Chat\/Watch<\/td><td class="kind">server-streaming<\/td>/);
    assert.match(html, /<meta http-equiv="refresh" content="2">/);
    const json = (await (await fetch(`${running.page}?format=json`)).json()) as DebugSnapshot;
    assert.deepEqual(
      json.open.map((c) => [c.method, c.limits]),
      [["/example.v1.Chat/Watch", { timeoutMs: 0, idleTimeoutMs: 0, sendTimeoutMs: 10_000 }]],
    );
    assert.equal((await fetch(running.page.replace("/debug/leaksafe", "/other"))).status, 404);

    stop.abort();
    await watching;
    await eventually(() => running.server.activeStreams().length === 0, "the Watch to end");
    const after = (await (await fetch(`${running.page}?format=json`)).json()) as DebugSnapshot;
    assert.deepEqual(after.open, []);
    assert.deepEqual(after.ends?.byReason, { "peer-gone": 1 });
  } finally {
    client.close();
    await running.stop();
    await leaks.assertNoLeaks();
  }
});
