/**
 * The Node clients of the cancel stress test, each driving Chat's Upload
 * and Converse through its own API: raw grpc-js (generic client with
 * ts-proto's codecs), leaksafe's client, and connect-node speaking gRPC.
 * `run` resolves with the status name the client saw ("OK", "CANCELLED", ...).
 */

import { createClient as createConnectClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { credentials, status as grpcStatus, Metadata, Client as RawClient } from "@grpc/grpc-js";
import { createClient, RpcError, Status } from "leaksafe";
import { ChatMessage, UploadChunk, UploadSummary } from "../../generated-example/example/v1/chat.js";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { chatDescriptor } from "./cancel-stress-connect.js";
import { drive, requestsOf } from "./cancel-stress-drive.js";
import { ID_HEADER, type PlannedCall } from "./cancel-stress-plan.js";

export type ClientKind = "grpc-js" | "leaksafe" | "connect-node";
export const NODE_CLIENTS: readonly ClientKind[] = ["grpc-js", "leaksafe", "connect-node"];

export interface StressClient {
  run(call: PlannedCall): Promise<string>;
  /** Calls the client still holds (its registry, for leaksafe; 0 for the others). */
  active(): number;
  close(): void;
}

const chunk = (call: PlannedCall, i: number) => ({ name: call.id, data: new Uint8Array([i]) });
const chat = (call: PlannedCall, i: number) => ({ author: call.id, text: `message ${i}` });
const errorName = (code: number) => grpcStatus[code] ?? `code ${code}`;

export function makeClient(kind: ClientKind, address: string): StressClient {
  if (kind === "grpc-js") return grpcJsClient(address);
  if (kind === "leaksafe") return leaksafeClient(address);
  return connectClient(address);
}

function grpcJsClient(address: string): StressClient {
  const client = new RawClient(address, credentials.createInsecure());
  const serializeChunk = (m: UploadChunk) => Buffer.from(UploadChunk.encode(m).finish());
  const serializeChat = (m: ChatMessage) => Buffer.from(ChatMessage.encode(m).finish());
  return {
    run(call) {
      const metadata = new Metadata();
      metadata.set(ID_HEADER, call.id);
      return new Promise((resolve) => {
        if (call.method === "upload") {
          const stream = client.makeClientStreamRequest(
            "/example.v1.Chat/Upload",
            serializeChunk,
            (b: Buffer) => UploadSummary.decode(b),
            metadata,
            {},
            (error) => resolve(error ? errorName(error.code) : "OK"),
          );
          void drive(call, {
            write: (i) => stream.write(chunk(call, i)),
            halfClose: () => stream.end(),
            cancel: () => stream.cancel(),
          });
        } else {
          const stream = client.makeBidiStreamRequest(
            "/example.v1.Chat/Converse",
            serializeChat,
            (b: Buffer) => ChatMessage.decode(b),
            metadata,
            {},
          );
          stream.on("data", () => {});
          stream.on("error", () => {});
          stream.on("status", (s) => resolve(errorName(s.code)));
          void drive(call, {
            write: (i) => stream.write(chat(call, i)),
            halfClose: () => stream.end(),
            cancel: () => stream.cancel(),
          });
        }
      });
    },
    active: () => 0,
    close: () => client.close(),
  };
}

function leaksafeClient(address: string): StressClient {
  const client = createClient(ChatService, address);
  return {
    run: (call) =>
      runIterable(
        call,
        client,
        (signal) => ({ signal, metadata: { [ID_HEADER]: call.id } }),
        (error) => (error instanceof RpcError ? (Status[error.code] ?? errorName(error.code)) : String(error)),
      ),
    active: () => client.activeStreams().length,
    close: () => client.close(),
  };
}

function connectClient(address: string): StressClient {
  const transport = createGrpcTransport({ baseUrl: `http://${address}` });
  const client = createConnectClient(chatDescriptor(), transport) as unknown as IterableChat;
  return {
    run: (call) =>
      runIterable(
        call,
        client,
        (signal) => ({ signal, headers: { [ID_HEADER]: call.id } }),
        (error) => {
          const code = (error as { code?: number }).code;
          return typeof code === "number" ? errorName(code) : String(error);
        },
      ),
    active: () => 0,
    close: () => {},
  };
}

/** Chat's Upload and Converse as a client that takes async iterables has them (leaksafe's, connect-node's). */
interface IterableChat {
  upload(requests: AsyncIterable<never>, options: never): Promise<unknown>;
  converse(requests: AsyncIterable<never>, options: never): AsyncIterable<unknown>;
}

/** Makes one planned call through such a client; resolves with the status name it saw. */
async function runIterable(
  call: PlannedCall,
  client: IterableChat,
  options: (signal: AbortSignal) => object,
  statusOf: (error: unknown) => string,
): Promise<string> {
  const controller = new AbortController();
  const cancel = () => controller.abort();
  let settle = () => {};
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const given = options(controller.signal) as never;
  try {
    if (call.method === "upload") {
      await client.upload(requestsOf(call, (i) => chunk(call, i), cancel, settled) as AsyncIterable<never>, given);
    } else {
      for await (const _ of client.converse(
        requestsOf(call, (i) => chat(call, i), cancel, settled) as AsyncIterable<never>,
        given,
      )) {
      }
    }
    return "OK";
  } catch (error) {
    return statusOf(error);
  } finally {
    settle();
  }
}
