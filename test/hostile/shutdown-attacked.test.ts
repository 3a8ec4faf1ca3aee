/**
 * Shutdown's bound under attack (issue 15): a raw HTTP/2 peer holds 631
 * Upload and Converse streams (no window granted, nothing read, no
 * half-close, GOAWAY ignored) and one unary call whose handler never
 * answers. Shutdown still resolves within its bound, which counts every
 * HTTP/2 stream still open when the grace runs out, with every attacker
 * socket closed by the server, the registry empty and nothing leaked.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createServer } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { eventually } from "../e2e/harness.js";
import { assertNoticedAtOnce, assertShutdownOnTime } from "../support/bounds.js";
import { stuckPostChat } from "./chat-service.js";
import { holdForShutdown } from "./shutdown-attacker.js";

const GRACE_MS = 1000;
const HELD_STREAMS = 631;

test(`${HELD_STREAMS} streams held by a peer that reads nothing and ignores GOAWAY, and a stuck unary call: shutdown keeps its bound and closes every socket`, async () => {
  const leaks = createLeakChecker();
  const server = createServer().add(ChatService, stuckPostChat);
  leaks.track({ registries: [server] });
  const port = await server.listen("127.0.0.1:0");
  const attacker = await holdForShutdown(port, { streams: HELD_STREAMS, unary: 1 });
  try {
    // Every held call's handler has its first message.
    await eventually(
      () => server.activeStreams().filter((call) => call.messagesIn > 0).length === HELD_STREAMS + 1,
      "every held call to reach its handler",
    );
    const started = Date.now();
    const report = await server.shutdown({ graceMs: GRACE_MS });
    const took = Date.now() - started;
    const reportedAt = Date.now();
    assert.deepEqual(
      report.forced.map((call) => call.method),
      ["/example.v1.Chat/Post"],
    );
    assert.equal(report.finished, HELD_STREAMS);
    assert.deepEqual(server.activeStreams(), [], "the registry is empty when the report is returned");
    // The ended streams stay open on the wire until the grace runs out: each is one more to tear down.
    assertShutdownOnTime(took, GRACE_MS, report.forced.length, HELD_STREAMS);
    // The attacker never closes a socket itself: the server closed them all, at shutdown.
    await attacker.allClosed;
    assertNoticedAtOnce(Date.now() - reportedAt, "the attacker's sockets closing after the report");
    assert.equal(attacker.openSockets(), 0);
  } finally {
    await attacker.close();
    await server.shutdown();
  }
  await leaks.assertNoLeaks();
});
