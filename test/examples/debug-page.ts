/**
 * An example: a gRPC server with a live debug page on its own admin port.
 * The admin server listens on 127.0.0.1 only (the page shows peers'
 * addresses), and mounts the page at /debug/leaksafe beside whatever else
 * it serves; /debug/leaksafe?format=json is the same data as JSON.
 *
 *     npx tsx test/examples/debug-page.ts [grpcPort] [adminPort]
 */
import { realpathSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { fileURLToPath } from "node:url";
import { createServer, type LeaksafeServer } from "leaksafe";
import { debugHandler } from "leaksafe/debug";
import { type ChatImplementation, ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";

/** A small room: Post counts, Watch holds until its call ends, Converse echoes. */
const chat: ChatImplementation = {
  async post() {
    return { revision: 1 };
  },
  async *watch(_request, ctx) {
    yield { revision: 1, at: new Date() };
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  },
  async upload(chunks) {
    let count = 0;
    for await (const _ of chunks) count++;
    return { name: "upload", bytes: 0, chunks: count };
  },
  async *converse(messages) {
    for await (const message of messages) yield message;
  },
};

export interface Running {
  server: LeaksafeServer;
  /** The gRPC server's address, host:port. */
  target: string;
  /** The debug page's URL. */
  page: string;
  /** Stops the gRPC server, then the admin server and its connections. */
  stop(): Promise<void>;
}

/** Starts the gRPC server on `grpcPort` (0: any free port) and the admin server on 127.0.0.1:`adminPort`. */
export async function start(grpcPort = 0, adminPort = 0): Promise<Running> {
  const server = createServer().add(ChatService, chat);
  const port = await server.listen(`127.0.0.1:${grpcPort}`);
  const debug = debugHandler(server, { refreshSeconds: 2 });
  const admin = createHttpServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/debug/leaksafe") {
      debug(req, res);
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve) => admin.listen(adminPort, "127.0.0.1", resolve));
  const address = admin.address();
  if (address === null || typeof address !== "object") throw new Error("the admin server has no port");
  return {
    server,
    target: `127.0.0.1:${port}`,
    page: `http://127.0.0.1:${address.port}/debug/leaksafe`,
    async stop() {
      await server.shutdown({ graceMs: 5000 });
      await new Promise<void>((resolve) => {
        admin.close(() => resolve());
        admin.closeAllConnections();
      });
    },
  };
}

// Run as a script (not imported by the test).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [grpcPort, adminPort] = process.argv.slice(2).map(Number);
  const running = await start(grpcPort, adminPort);
  console.log(`gRPC on ${running.target}; the debug page is ${running.page} (Ctrl-C stops both)`);
  process.once("SIGINT", () => void running.stop());
}
