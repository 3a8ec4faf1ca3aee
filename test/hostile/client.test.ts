/**
 * A leaksafe client against hostile servers: raw HTTP/2 peers that send
 * what no well-behaved gRPC server sends (issue 15, client side). Each call
 * must end at once with a valid status and a message, never as a success,
 * and leave nothing behind.
 */
import assert from "node:assert/strict";
import { constants } from "node:http2";
import { test } from "node:test";
import { createClient, RpcError, Status } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { ChatMessage, PostResponse, RoomEvent, UploadSummary } from "../../generated-example/example/v1/chat.js";
import { type ChatClient, ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { missingGrpcInternals } from "../../runtime/grpc-internals-check.js";
import { type RawCall, startRawServer } from "./raw-server.js";

/** A call that has not ended by then is taken as hanging: far below any built-in limit. */
const HANG_MS = 3000;

/** Runs `call` against a raw server scripted by `script`, then checks that nothing leaked. */
async function against(
  script: (call: RawCall) => void | Promise<void>,
  call: (client: ChatClient) => Promise<unknown> | AsyncIterable<unknown>,
): Promise<{ error: RpcError; received: number }> {
  const leaks = createLeakChecker();
  const server = await startRawServer(script);
  const client = createClient(ChatService, `127.0.0.1:${server.port}`);
  leaks.track({ registries: [client] });
  try {
    return await settled(call(client));
  } finally {
    assert.equal(client.activeStreams().length, 0, "the client's registry is empty once the call ended");
    client.close();
    await server.close();
    await leaks.assertNoLeaks();
  }
}

/** The RpcError a call ends with, and how many messages it gave first; fails if it succeeds or hangs. */
async function settled(
  call: Promise<unknown> | AsyncIterable<unknown>,
): Promise<{ error: RpcError; received: number }> {
  let received = 0;
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the call did not end within ${HANG_MS} ms`)), HANG_MS);
  });
  const run = async (): Promise<void> => {
    if (Symbol.asyncIterator in call) {
      for await (const _ of call) {
        received++;
      }
    } else {
      await call;
      received++;
    }
  };
  try {
    await Promise.race([run(), hung]);
  } catch (error) {
    assert.ok(error instanceof RpcError, `expected an RpcError, got ${String(error)}`);
    assert.ok(Status[error.code] !== undefined, `code ${error.code} is a valid status`);
    assert.equal(typeof error.details, "string");
    assert.ok(error.details.length > 0, "the error has a message");
    return { error, received };
  } finally {
    clearTimeout(timer);
  }
  return assert.fail(`expected the call to fail, but it ended normally after ${received} messages`);
}

const post = (client: ChatClient) => client.post({ author: "ann", text: "hi" });
const watch = (client: ChatClient) => client.watch({ afterRevision: 0 });
const upload = (client: ChatClient) => client.upload([{ name: "a", data: new Uint8Array(1) }]);
const converse = (client: ChatClient) => client.converse([{ author: "ann", text: "hi" }]);

/** One valid response message for the called method. */
function response(path: string): Uint8Array {
  if (path.endsWith("/Post")) return PostResponse.encode({ revision: 1 }).finish();
  if (path.endsWith("/Watch")) return RoomEvent.encode(RoomEvent.fromPartial({ revision: 1 })).finish();
  if (path.endsWith("/Upload")) return UploadSummary.encode(UploadSummary.fromPartial({})).finish();
  return ChatMessage.encode(ChatMessage.fromPartial({ author: "bob", text: "hello" })).finish();
}

const kinds = { post, watch, upload, converse };

// 8. Status parsing: only a decimal code from 0 to 16 is a status, whatever
// grpc-js's Number() makes of the value ("" and "0x0" are 0 to it, an OK),
// in trailers and in a trailers-only response alike. The message names the
// value as the server sent it.
const BAD_STATUSES = ["abc", "99", "-1", "17", "1.5", "", "0x0", "+0", "0e0", "0, 0"];
for (const raw of BAD_STATUSES) {
  for (const [kind, call] of Object.entries(kinds)) {
    test(`${kind}: grpc-status ${JSON.stringify(raw)} is UNKNOWN, with the value sent in the message`, async () => {
      const { error } = await against((c) => {
        c.respond();
        c.writeMessage(response(c.path));
        c.trail({ "grpc-status": raw, "grpc-message": "hostile" });
      }, call);
      assert.equal(error.code, Status.UNKNOWN, `${Status[error.code]}: ${error.details}`);
      assert.ok(
        error.details.includes("grpc-status") && error.details.includes(JSON.stringify(raw)),
        `${JSON.stringify(raw)} is in "${error.details}"`,
      );
    });
  }
}
// nghttp2 drops a header value with whitespace at either end before Node
// sees it: no status arrived, which grpc-js reports as UNKNOWN.
for (const [kind, call] of Object.entries(kinds)) {
  test(`${kind}: grpc-status " 0" arrives as no status, and is UNKNOWN`, async () => {
    const { error } = await against((c) => {
      c.respond();
      c.writeMessage(response(c.path));
      c.trail({ "grpc-status": " 0" });
    }, call);
    assert.equal(error.code, Status.UNKNOWN, `${Status[error.code]}: ${error.details}`);
  });
}
for (const raw of ["", "0x0", "abc"]) {
  for (const [kind, call] of Object.entries({ watch, converse })) {
    test(`${kind}: a trailers-only response with grpc-status ${JSON.stringify(raw)} is UNKNOWN`, async () => {
      const { error } = await against((c) => c.trailersOnly({ "grpc-status": raw }), call);
      assert.equal(error.code, Status.UNKNOWN, `${Status[error.code]}: ${error.details}`);
      assert.ok(error.details.includes(JSON.stringify(raw)), `${JSON.stringify(raw)} is in "${error.details}"`);
    });
  }
}

// 9. A compressed message when the server named no grpc-encoding.
for (const [kind, call] of Object.entries(kinds)) {
  test(`${kind}: a compressed message with no grpc-encoding is INTERNAL, with a message`, async () => {
    const { error } = await against((c) => {
      c.respond();
      c.writeMessage(response(c.path), { compressed: true });
      c.trail({ "grpc-status": "0" });
    }, call);
    assert.equal(error.code, Status.INTERNAL, `${Status[error.code]}: ${error.details}`);
  });
}

// 11. A single-response call that receives two messages, with or without a status after them.
for (const [kind, call] of Object.entries({ post, upload })) {
  for (const ends of [false, true]) {
    test(`${kind}: two responses${ends ? ", then status 0," : " and no status"} fail at once`, async () => {
      const { error } = await against((c) => {
        c.respond();
        c.writeMessage(response(c.path));
        c.writeMessage(response(c.path));
        if (ends) {
          c.trail({ "grpc-status": "0" });
        }
      }, call);
      // gRPC's status codes document: a cardinality violation is UNIMPLEMENTED.
      assert.equal(error.code, Status.UNIMPLEMENTED, `${Status[error.code]}: ${error.details}`);
    });
  }
}

// 10. A response stream cut short inside a message, then status 0: grpc-js
// dropped the partial bytes and ended normally.
const cuts = {
  "inside the length prefix": (c: RawCall) => c.stream.write(Buffer.from([0, 0, 0])),
  "inside the message": (c: RawCall) => c.writeMessage(response(c.path), { length: response(c.path).length + 10 }),
};
for (const [where, cut] of Object.entries(cuts)) {
  for (const [kind, call] of Object.entries(kinds)) {
    test(`${kind}: a message cut short ${where}, then status 0, is INTERNAL`, async () => {
      const { error } = await against((c) => {
        c.respond();
        cut(c);
        c.trail({ "grpc-status": "0" });
      }, call);
      assert.equal(error.code, Status.INTERNAL, `${Status[error.code]}: ${error.details}`);
      assert.match(error.details, /the response stream ended inside a message/);
    });
  }
}
for (const [kind, call] of Object.entries({ watch, converse })) {
  test(`${kind}: a whole message, then one cut short, then status 0, is INTERNAL`, async () => {
    const { error, received } = await against((c) => {
      c.respond();
      c.writeMessage(response(c.path));
      c.writeMessage(response(c.path), { length: 1000 });
      c.trail({ "grpc-status": "0" });
    }, call);
    assert.equal(error.code, Status.INTERNAL, `${Status[error.code]}: ${error.details}`);
    assert.ok(received <= 1, `${received} messages before the error`);
    assert.match(error.details, /inside a message: \d+ of its 1000 bytes arrived/);
  });
}

// A stream reset inside a message is reported from the reset, as grpc-js
// does, not as a message cut short: only a status is a claim that the
// stream ended whole. (Node ends a reset stream's readable side too.)
for (const [kind, call] of Object.entries({ watch, converse })) {
  test(`${kind}: a message cut short, then RST_STREAM CANCEL, is CANCELLED`, async () => {
    const { error } = await against((c) => {
      c.respond();
      c.writeMessage(response(c.path));
      c.writeMessage(response(c.path), { length: 1000 });
      setTimeout(() => c.stream.close(constants.NGHTTP2_CANCEL), 50);
    }, call);
    assert.equal(error.code, Status.CANCELLED, `${Status[error.code]}: ${error.details}`);
  });
}

// 12. Oversized trailers. One field of 512 KiB is more than nghttp2's HPACK
// decoder takes (64 KiB once compressed): it ends the session by itself
// with GOAWAY and Node stops reading, reporting nothing, so the call hung.
// 512 KiB in many fields was already refused (Node's limits on header
// pairs and on CONTINUATION frames reset the stream or the session).
// nghttp2 1.61 (Node 20) ends the session, which the runtime names; 1.69 and
// later (Node 22, 24) reset the stream alone with PROTOCOL_ERROR, which
// grpc-js reports itself. Either way the call ends at once, with INTERNAL.
const BIG = 512 * 1024;
const UNDECODABLE_TRAILERS = /nghttp2 ended the session|Received RST_STREAM with code 2 .*Protocol error/;
const bigTrailers: Record<string, { send: (c: RawCall) => void; code: Status; details: RegExp }> = {
  "one 512 KiB field": {
    send: (c) => c.trail({ "grpc-status": "0", "x-big": "a".repeat(BIG) }),
    code: Status.INTERNAL,
    details: UNDECODABLE_TRAILERS,
  },
  "512 fields of 1 KiB": {
    send: (c) => c.trail({ "grpc-status": "0", ...manyFields(512, 1024) }),
    code: Status.RESOURCE_EXHAUSTED,
    details: /./,
  },
  "100 fields of 5 KiB": {
    send: (c) => c.trail({ "grpc-status": "0", ...manyFields(100, BIG / 100) }),
    code: Status.INTERNAL,
    details: /CONTINUATION/,
  },
};
function manyFields(count: number, size: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-big-${i}`, "a".repeat(size)]));
}
for (const [what, { send, code, details }] of Object.entries(bigTrailers)) {
  for (const [kind, call] of Object.entries(kinds)) {
    test(`${kind}: trailers of ${what} end the call at once with ${Status[code]}`, async () => {
      const { error } = await against((c) => {
        c.respond();
        c.writeMessage(response(c.path));
        send(c);
      }, call);
      assert.equal(error.code, code, `${Status[error.code]}: ${error.details}`);
      assert.match(error.details, details);
    });
  }
}

test("after trailers nghttp2 cannot decode, the next call on the client connects again and succeeds", async () => {
  const leaks = createLeakChecker();
  const server = await startRawServer((c) => {
    c.respond();
    c.writeMessage(response(c.path));
    c.trail(server.calls() === 1 ? { "grpc-status": "0", "x-big": "a".repeat(BIG) } : { "grpc-status": "0" });
  });
  const client = createClient(ChatService, `127.0.0.1:${server.port}`);
  leaks.track({ registries: [client] });
  try {
    const { error } = await settled(post(client));
    assert.equal(error.code, Status.INTERNAL, `${Status[error.code]}: ${error.details}`);
    assert.match(error.details, UNDECODABLE_TRAILERS);
    let timer: NodeJS.Timeout | undefined;
    const second = await Promise.race([
      post(client),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the second call hung")), HANG_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(second.revision, 1);
    assert.equal(server.calls(), 2);
  } finally {
    assert.equal(client.activeStreams().length, 0, "the client's registry is empty once the calls ended");
    client.close();
    await server.close();
    await leaks.assertNoLeaks();
  }
});

// Last: every grpc-js and Node internal that the checks above rely on was found.
test("every client internal the checks rely on is in place", () => {
  assert.deepEqual(missingGrpcInternals(), [], "grpc-js or Node moved an internal; see runtime/grpc-internals.ts");
});
