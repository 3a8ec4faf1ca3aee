/**
 * The startup self-check of the internals of grpc-js and Node that leaksafe
 * relies on (runtime/grpc-internals.ts): it passes on the grpc-js installed
 * here; with an internal missing, createServer() and createClient() throw
 * an Error that names it and the grpc-js version loaded.
 *
 * The check keeps a pass for the rest of the process, one per side, so the
 * cases with an internal missing run first, before anything in this file
 * (each test file is a process of its own) made a server or a client.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { Channel, Server } from "@grpc/grpc-js";
import { createClient, createServer } from "leaksafe";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { missingGrpcInternals } from "../../runtime/grpc-internals-check.js";

const { version } = createRequire(import.meta.url)("@grpc/grpc-js/package.json") as { version: string };

/**
 * Runs `run` while every object made from `prototype` drops its stores to
 * `field`, as if a grpc-js release had renamed that private field; restores
 * the prototype after.
 */
function withoutField(prototype: object, field: string, run: () => void): void {
  assert.equal(Object.hasOwn(prototype, field), false, `grpc-js assigns ${field} in its constructor`);
  Object.defineProperty(prototype, field, { configurable: true, get: () => undefined, set: () => {} });
  try {
    run();
  } finally {
    delete (prototype as Record<string, unknown>)[field];
  }
}

/** Asserts that `create` throws an Error naming `internal` and the grpc-js version. */
function assertNamesMissing(create: () => unknown, internal: string): void {
  assert.throws(create, (error: unknown) => {
    assert.ok(error instanceof Error, "an Error");
    assert.ok(error.message.includes(internal), `names ${internal}: ${error.message}`);
    assert.ok(error.message.includes(`@grpc/grpc-js ${version}`), `names grpc-js ${version}: ${error.message}`);
    return true;
  });
}

test("without grpc-js's Server.http2Servers, createServer() throws naming it and the grpc-js version", () => {
  withoutField(Server.prototype, "http2Servers", () => {
    assert.deepEqual(missingGrpcInternals(), ["Server.http2Servers"]);
    assertNamesMissing(() => createServer(), "Server.http2Servers");
  });
});

test("without grpc-js's ChannelImplementation.internalChannel, createClient() throws naming it and the grpc-js version", () => {
  const internal = "ChannelImplementation.internalChannel.createLoadBalancingCall";
  withoutField(Channel.prototype, "internalChannel", () => {
    assert.deepEqual(missingGrpcInternals(), [internal]);
    assertNamesMissing(() => createClient(ChatService, "127.0.0.1:1"), internal);
  });
});

test("the self-check passes on the installed grpc-js, and servers and clients are made", () => {
  assert.deepEqual(missingGrpcInternals(), [], "grpc-js or Node moved an internal; see runtime/grpc-internals.ts");
  const server = createServer();
  assert.ok(server.grpcServer instanceof Server);
  const client = createClient(ChatService, "127.0.0.1:1");
  client.close();
});
