/**
 * The server side of the cancel stress test: a leaksafe Chat server whose
 * Upload and Converse handlers record, per call id, how their request loop
 * ended: "end" when `for await` finished normally, "cancel" when it threw.
 * The first outcome recorded wins, so a cancel that arrives after the loop
 * ended normally (the handler is then returning) does not rewrite it.
 */
import { createServer, type LeaksafeServer, type ServerContext } from "leaksafe";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { ID_HEADER } from "./cancel-stress-plan.js";
import { unimplemented } from "./harness.js";

export type Seen = "end" | "cancel";

export interface StressServer {
  server: LeaksafeServer;
  port: number;
  /** How each call's handler saw the end of its request stream, by call id. */
  seen: Map<string, Seen>;
}

function callId(ctx: ServerContext): string {
  const value = ctx.metadata.get(ID_HEADER)[0];
  return typeof value === "string" ? value : "(no id)";
}

export async function startStressServer(): Promise<StressServer> {
  const seen = new Map<string, Seen>();
  const record = (id: string, how: Seen) => {
    if (!seen.has(id)) seen.set(id, how);
  };
  const server = createServer().add(ChatService, {
    ...unimplemented(),
    async upload(requests, ctx) {
      const id = callId(ctx);
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
  return { server, port, seen };
}
