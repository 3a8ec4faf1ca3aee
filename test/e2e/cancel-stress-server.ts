/**
 * The server side of the cancel stress test: a leaksafe Chat server whose
 * Upload and Converse handlers record, per call id, how their request loop
 * ended: "end" when `for await` finished normally, "cancel" when it threw.
 * The first outcome recorded wins, so a cancel that arrives after the loop
 * ended normally (the handler is then returning) does not rewrite it.
 *
 * It also records each call's connection, and the connections that ended
 * with an error of their own: a client that breaks HTTP/2 (Python grpcio
 * 1.51 sends RST_STREAM for a stream it never opened when it cancels a call
 * at once, grpc/grpc#38758, and RFC 9113 §6.4 makes that a connection error)
 * loses every call on that connection, and their handlers rightly see a cancel.
 */
import type { ServerHttp2Session } from "node:http2";
import { createServer, type LeaksafeServer, type ServerContext } from "leaksafe";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { http2ServersOf } from "../../runtime/grpc-internals.js";
import { ID_HEADER } from "./cancel-stress-plan.js";
import { unimplemented } from "./harness.js";

export type Seen = "end" | "cancel";

export interface StressServer {
  server: LeaksafeServer;
  port: number;
  /** How each call's handler saw the end of its request stream, by call id. */
  seen: Map<string, Seen>;
  /** Each call's connection (its peer address), by call id. */
  peers: Map<string, string>;
  /** The connections that ended with an error, by peer address, with that error. */
  brokenConnections: Map<string, string>;
}

function callId(ctx: ServerContext): string {
  const value = ctx.metadata.get(ID_HEADER)[0];
  return typeof value === "string" ? value : "(no id)";
}

export async function startStressServer(): Promise<StressServer> {
  const seen = new Map<string, Seen>();
  const peers = new Map<string, string>();
  const record = (id: string, how: Seen) => {
    if (!seen.has(id)) seen.set(id, how);
  };
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    async upload(requests, ctx) {
      const id = callId(ctx);
      peers.set(id, ctx.peer);
      let chunks = 0;
      try {
        for await (const _ of requests) chunks++;
      } catch (error) {
        record(id, "cancel");
        throw error;
      }
      record(id, "end");
      return { name: id, bytes: 0, chunks };
    },
    async *converse(requests, ctx) {
      const id = callId(ctx);
      peers.set(id, ctx.peer);
      try {
        for await (const message of requests) yield message;
      } catch (error) {
        record(id, "cancel");
        throw error;
      }
      record(id, "end");
    },
  });
  const port = await server.listen("127.0.0.1:0");
  return { server, port, seen, peers, brokenConnections: watchConnectionErrors(server) };
}

/**
 * Records the HTTP/2 sessions that end with an error, by peer address in
 * grpc-js's `getPeer()` form; called after listen() and before any client
 * connects.
 */
function watchConnectionErrors(server: LeaksafeServer): Map<string, string> {
  const broken = new Map<string, string>();
  for (const http2Server of http2ServersOf(server.grpcServer)) {
    http2Server.on("session", (session: ServerHttp2Session) => {
      const peer = `${session.socket.remoteAddress}:${session.socket.remotePort}`;
      session.once("error", (error: Error & { code?: string }) => broken.set(peer, `${error.code}: ${error.message}`));
    });
  }
  return broken;
}
