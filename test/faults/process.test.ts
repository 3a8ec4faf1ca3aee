/**
 * Process faults, with the peer in its own process: a server frozen by
 * SIGSTOP (its sockets stay open), a server killed by SIGKILL, and a client
 * killed by SIGKILL, for every streaming kind.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connectivityState } from "@grpc/grpc-js";
import { createClient, RpcError } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import type { UploadChunk } from "../../generated-example/example/v1/chat.js";
import { type ChatClient, ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { startPeer } from "../e2e/child.js";
import { eventually, sleep, startChat } from "../e2e/harness.js";
import { HEADROOM, NOTICE_MS } from "../support/bounds.js";
import { KEEPALIVE, KINDS, type Kind } from "./live-stream.js";
import { describeError, recordRow } from "./report.js";

/** Keepalive's verdict comes a ping's interval plus its timeout after the fault; a slow machine gets 10× that. */
const KEEPALIVE_BOUND = HEADROOM * (KEEPALIVE.timeMs + KEEPALIVE.timeoutMs);

/** Runs one call of `kind` against a client, forever; resolves with how it ended. */
function runForever(client: ChatClient, kind: Kind, onMessage: () => void): Promise<{ error: unknown; at: number }> {
  async function* forever<T>(make: () => T): AsyncGenerator<T> {
    for (;;) {
      yield make();
      onMessage();
      await sleep(10);
    }
  }
  const chunk = (): UploadChunk => ({ name: "c", data: new Uint8Array(16) });
  const call = async (): Promise<void> => {
    if (kind === "server-streaming") {
      for await (const _ of client.watch({ afterRevision: 0 })) onMessage();
    } else if (kind === "client-streaming") {
      await client.upload(forever(chunk));
    } else {
      for await (const _ of client.converse(forever(() => ({ author: "c", text: "t" })))) onMessage();
    }
  };
  return call().then(
    () => ({ error: undefined, at: Date.now() }),
    (error: unknown) => ({ error, at: Date.now() }),
  );
}

describe("the server's process", () => {
  // A frozen server is found by the client's keepalive. A killed one closes its socket: the client keeps
  // its built-in keepalive there, so that no timer can find it within the bound, only the closed socket.
  for (const [fault, bound, code, keepalive] of [
    ["SIGSTOP", KEEPALIVE_BOUND, "UNAVAILABLE/peer-gone", KEEPALIVE],
    ["SIGKILL", NOTICE_MS, "UNAVAILABLE/peer-gone", undefined],
  ] as const) {
    for (const kind of KINDS) {
      test(`${fault}, ${kind}: the leaksafe client detects it`, async () => {
        const leaks = createLeakChecker();
        const peer = await startPeer(["server"]);
        const client = createClient(ChatService, `127.0.0.1:${peer.line.split(" ")[1]}`, { keepalive });
        leaks.track({ registries: [client] });
        let messages = 0;
        const ended = runForever(client, kind, () => messages++);
        // Sends count before the call has a connection (grpc-js buffers the
        // first ones), and a server frozen before it answered the handshake
        // leaves nothing for keepalive to ping. So: connected first, then
        // three messages more.
        const channel = client.getChannel();
        await eventually(() => channel.getConnectivityState(false) === connectivityState.READY, "the connection");
        const connectedAt = messages;
        await eventually(() => messages >= connectedAt + 3, "the stream to carry messages");
        const faultAt = Date.now();
        if (fault === "SIGSTOP") peer.stop();
        const killed = fault === "SIGKILL" ? peer.kill() : undefined;
        const { error, at } = await ended;
        const took = at - faultAt;
        assert.ok(error instanceof RpcError, String(error));
        assert.equal(describeError(error), code, error.message);
        assert.ok(took <= bound, `detected after ${took} ms, bound ${bound} ms`);
        await (killed ?? peer.kill());
        client.close();
        await leaks.assertNoLeaks();
        recordRow({
          scenario: `server ${fault}, ${kind}`,
          outcome: `client ${describeError(error)}`,
          detectMs: took,
          boundMs: bound,
          leaked: "none",
        });
      });
    }
  }
});

describe("the client's process", () => {
  for (const kind of KINDS) {
    test(`SIGKILL, ${kind}: the leaksafe server detects it`, async () => {
      const server: { error?: unknown; at?: number } = {};
      const ended = (error: unknown): void => {
        server.error ??= error;
        server.at ??= Date.now();
      };
      const harness = await startChat({
        async *watch(_request, ctx) {
          try {
            for (let r = 1; ; r++) {
              yield { revision: r, at: undefined };
              await sleep(10);
            }
          } finally {
            ended(ctx.signal.reason);
          }
        },
        async upload(chunks) {
          try {
            for await (const _ of chunks) {
            }
          } catch (error) {
            ended(error);
          }
          return { name: "", bytes: 0, chunks: 0 };
        },
        async *converse(messages) {
          try {
            for await (const m of messages) yield m;
          } catch (error) {
            ended(error);
          }
        },
      });
      const mode = { "server-streaming": "watch", "client-streaming": "upload", bidi: "converse" }[kind];
      const peer = await startPeer(["client", String(harness.port), mode]);
      assert.equal(peer.line, "sending");
      // The child's "sending" comes from its generator, which may run before
      // its call reached this server: the fault counts from when it did.
      await eventually(
        () => harness.server.activeStreams().some((call) => call.messagesIn + call.messagesOut >= 3),
        "the child's call to carry messages here",
      );
      const faultAt = Date.now();
      await peer.kill();
      await eventually(() => server.at !== undefined, "the server to notice", NOTICE_MS);
      const took = (server.at as number) - faultAt;
      assert.equal(describeError(server.error), "CANCELLED/peer-gone");
      // The server keeps its built-in keepalive, so only the closed socket can be found this soon.
      assert.ok(took <= NOTICE_MS, `detected after ${took} ms, bound ${NOTICE_MS} ms`);
      await harness.close();
      recordRow({
        scenario: `client SIGKILL, ${kind}`,
        outcome: `server ${describeError(server.error)}`,
        detectMs: took,
        boundMs: NOTICE_MS,
        leaked: "none",
      });
    });
  }
});
