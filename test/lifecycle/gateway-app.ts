/**
 * One process with a leaksafe gRPC server and a node:http gateway that
 * serves HTTP by calling that same server through a leaksafe client:
 *   GET /watch   a streaming response, one line per room event
 *   GET /poll    a long poll, answered when a post arrives (here: never)
 * Usage: gateway-app.ts MODE ORDER GRACE_MS
 *   MODE  leaksafe: SIGTERM runs shutdownOnSignals; raw: tryShutdown and server.close, as without leaksafe
 *   ORDER grpc-first or gateway-first
 * Prints "ready <http port>", "post: waiting" each time the gRPC server
 * starts holding a long poll, then the shutdown log.
 */
import { createServer as createHttpServer } from "node:http";
import { createClient, createServer, shutdownOnSignals } from "leaksafe";
import { ChatService } from "../../generated-example/example/v1/chat_leaksafe.js";
import { aborted, sleep, unimplemented } from "../e2e/harness.js";

const [mode, order, graceArg] = process.argv.slice(2);
const graceMs = Number(graceArg);

const grpc = createServer().add(ChatService, {
  ...unimplemented(),
  async *watch(_request, ctx) {
    for (let r = 1; !ctx.signal.aborted; r++) {
      yield { revision: r, at: undefined };
      await sleep(100);
    }
  },
  async post(_request, ctx) {
    console.log("post: waiting");
    await aborted(ctx.signal); // a long poll: nothing ever arrives
    return { revision: 0 };
  },
});
const grpcPort = await grpc.listen("127.0.0.1:0");
const client = createClient(ChatService, `127.0.0.1:${grpcPort}`);

const gateway = createHttpServer(async (req, res) => {
  // When the HTTP client goes, so does the gRPC call made for it.
  const done = new AbortController();
  res.on("close", () => done.abort());
  try {
    if (req.url === "/watch") {
      res.writeHead(200, { "content-type": "text/plain" });
      for await (const event of client.watch({ afterRevision: 0 }, { signal: done.signal })) {
        res.write(`event ${event.revision}\n`);
      }
      res.end();
    } else if (req.url === "/poll") {
      const posted = await client.post({ author: "poll", text: "" }, { signal: done.signal });
      res.end(JSON.stringify(posted));
    } else {
      res.writeHead(404).end();
    }
  } catch (error) {
    if (!res.headersSent) res.writeHead(503);
    res.end(`gateway: ${(error as Error).message}\n`);
  }
});
await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));

const grpcStep = { name: "grpc", target: grpc, graceMs };
const gatewayStep = { name: "gateway", target: gateway, graceMs };
if (mode === "leaksafe") {
  const steps = order === "grpc-first" ? [grpcStep, gatewayStep] : [gatewayStep, grpcStep];
  shutdownOnSignals([...steps, { name: "grpc client", target: { stop: () => client.close() }, graceMs: 100 }], {
    log: (line) => console.log(line),
  });
} else {
  process.on("SIGTERM", () => {
    console.log("raw: SIGTERM");
    const closeGrpc = (then: () => void) => grpc.grpcServer.tryShutdown(then);
    const closeGateway = (then: () => void) => gateway.close(then);
    const exit = () => process.exit(0);
    if (order === "grpc-first") closeGrpc(() => closeGateway(exit));
    else closeGateway(() => closeGrpc(exit));
  });
}
console.log(`ready ${(gateway.address() as { port: number }).port}`);
