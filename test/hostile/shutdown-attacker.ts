/**
 * A peer that holds a server's shutdown as long as it can (issue 15, "the
 * graceful-shutdown bound under attack"), through raw HTTP/2 frames: its
 * SETTINGS grant no stream any flow-control window, it never reads, never
 * half-closes its Upload and Converse streams and keeps them open after
 * GOAWAY, and its unary calls go to a handler that never answers.
 * test/hostile/shutdown-attacked.test.ts and bench/shutdown.ts use it.
 */
import type http2 from "node:http2";
import net from "node:net";
import { ChatMessage, PostRequest, UploadChunk } from "../../generated-example/example/v1/chat.js";
import { connectRaw, type RawClient } from "./raw-client.js";
import { PATHS } from "./server-attacks.js";

/** What to hold: streams alternate between Upload and Converse. */
export interface HeldLoad {
  /** Upload and Converse streams, each with one message sent and END_STREAM never sent. */
  streams: number;
  /** Post calls, whole requests, to a handler that never answers. */
  unary: number;
  /** Streams and calls a connection, below the server's limit of concurrent streams. Default 500. */
  perConnection?: number | undefined;
}

export interface ShutdownAttacker {
  readonly clients: RawClient[];
  /** Connections whose socket is still open on the attacker's side. */
  openSockets(): number;
  /** Resolves once every connection's socket has closed, whoever closed it. */
  readonly allClosed: Promise<void>;
  /** Destroys whatever is still open. */
  close(): Promise<void>;
}

/** Opens `load` against 127.0.0.1:`port`; resolves once the server has read every frame of it. */
export async function holdForShutdown(port: number, load: HeldLoad): Promise<ShutdownAttacker> {
  const perConnection = load.perConnection ?? 500;
  const clients: RawClient[] = [];
  const sockets: net.Socket[] = [];
  const upload = UploadChunk.encode({ name: "held", data: new Uint8Array(16) }).finish();
  const converse = ChatMessage.encode({ author: "held", text: "an echo the peer never takes" }).finish();
  const post = PostRequest.encode({ author: "held", text: "never answered" }).finish();
  for (let i = 0; i < load.streams + load.unary; i++) {
    if (i % perConnection === 0) {
      // The socket itself, which the session's proxy no longer reaches once it is destroyed.
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => {});
      sockets.push(socket);
      const client = await connectRaw(port, NO_WINDOW, { createConnection: () => socket });
      // A GOAWAY changes nothing here: the streams stay open, and so does the socket.
      client.session.on("goaway", () => {});
      clients.push(client);
    }
    const client = clients.at(-1) as RawClient;
    if (i < load.streams) {
      const call = client.open(i % 2 === 0 ? PATHS.upload : PATHS.converse, { read: false });
      call.writeMessage(i % 2 === 0 ? upload : converse);
    } else {
      const call = client.open(PATHS.post, { read: false });
      call.writeMessage(post);
      call.end();
    }
  }
  // The server reads frames in order: once a PING is acknowledged, it has seen every stream before it.
  await Promise.all(clients.map((c) => new Promise((resolve) => c.session.ping(resolve))));
  return {
    clients,
    openSockets: () => sockets.filter((s) => !s.closed).length,
    // Not events.once, which would reject on the socket's 'error' (a reset) before its 'close'.
    allClosed: Promise.all(
      sockets.map((s) => (s.closed ? undefined : new Promise<void>((resolve) => s.once("close", () => resolve())))),
    ).then(() => undefined),
    async close() {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

/** SETTINGS that grant the server no window on any stream: nothing it sends on a stream can be written. */
const NO_WINDOW: http2.Settings = { initialWindowSize: 0 };
