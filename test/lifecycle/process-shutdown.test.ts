/**
 * `shutdownOnSignals` stops any server that closes like a node:net server:
 * https, http2 (cleartext and TLS) and plain net servers, not only
 * node:http. Open work finishes within the grace period, idle connections
 * go at once, and what is still open when the grace period ends is closed.
 * The steps run through `handle.run()`, with no signal handlers installed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type ClientHttp2Session, connect, createServer as createH2c, createSecureServer } from "node:http2";
import { Agent, createServer as createHttps, request } from "node:https";
import { createConnection, createServer as createNet, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Stoppable, shutdownOnSignals } from "leaksafe";
import { createLeakChecker } from "leaksafe/testing";
import { assertFiredOnTime, HEADROOM } from "../support/bounds.js";

/** How long a slow request or stream takes to finish, in ms. */
const SLOW_MS = 150;
/** HEADROOM times the slow work: a step that waits for it ends well inside. */
const GRACE = SLOW_MS * HEADROOM;
/** The grace of the steps that must force a connection; it is the feature those tests time. */
const SHORT_GRACE = 300;

/** A self-signed certificate for 127.0.0.1, made for this run. */
let tls: { key: Buffer; cert: Buffer };
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "leaksafe-shutdown-"));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"];
  const subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"];
  const made = spawnSync("openssl", ["req", "-x509", ...ec, ...subject, "-keyout", key, "-out", cert], {
    encoding: "utf8",
  });
  assert.equal(made.status, 0, `these tests need openssl to make a certificate: ${made.error ?? made.stderr}`);
  tls = { key: readFileSync(key), cert: readFileSync(cert) };
});
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Puts `target` under `shutdownOnSignals`, with no signal handlers. For a
 * net or http2 server this comes before `listen`, as the docs say, so every
 * connection is known. `stop()` runs the step, as a signal would.
 */
function guard(target: Stoppable, graceMs = GRACE) {
  const lines: string[] = [];
  const handle = shutdownOnSignals([{ name: "server", target, graceMs }], { signals: [], log: (l) => lines.push(l) });
  return {
    async stop() {
      try {
        const [result] = await handle.run();
        assert.ok(result !== undefined);
        return { ...result, log: lines.join("\n") };
      } finally {
        handle.dispose();
      }
    },
  };
}

/** Runs the step and asserts that it finished in time. */
async function stopInTime(guarded: ReturnType<typeof guard>) {
  const result = await guarded.stop();
  assert.equal(result.error, undefined, result.log);
  return result;
}

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as { port: number }).port;
}

test("an https server: the open request finishes within the grace period, the idle keep-alive connection goes at once", async () => {
  const leaks = createLeakChecker();
  let slowArrived!: () => void;
  const slowStarted = new Promise<void>((resolve) => (slowArrived = resolve));
  const server = createHttps(tls, (req, res) => {
    if (req.url === "/slow") {
      slowArrived();
      setTimeout(() => res.end("slow done"), SLOW_MS);
    } else res.end("quick");
  });
  const guarded = guard(server);
  const port = await listen(server);
  const agent = new Agent({ keepAlive: true, ca: tls.cert, maxSockets: 2 });
  const get = (path: string) =>
    new Promise<string>((resolve, reject) => {
      request({ host: "127.0.0.1", port, path, agent }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => {
          body += d.toString();
        });
        res.on("end", () => resolve(body));
      })
        .on("error", reject)
        .end();
    });
  assert.equal(await get("/quick"), "quick"); // leaves an idle keep-alive connection
  const slow = get("/slow");
  await slowStarted;

  const result = await stopInTime(guarded);
  assert.equal(await slow, "slow done");
  assert.equal(server.listening, false);
  assert.ok(result.durationMs < GRACE, `took ${result.durationMs} ms; it should end when the slow request did`);
  agent.destroy();
  await leaks.assertNoLeaks();
});

for (const secure of [false, true]) {
  test(`an http2 server (${secure ? "TLS" : "cleartext"}): sessions get GOAWAY, an open stream finishes, an idle session closes`, async () => {
    const leaks = createLeakChecker();
    const server = secure ? createSecureServer(tls) : createH2c();
    let slowArrived!: () => void;
    const slowStarted = new Promise<void>((resolve) => (slowArrived = resolve));
    server.on("stream", (stream, headers) => {
      stream.respond({ ":status": 200 });
      if (headers[":path"] === "/slow") {
        slowArrived();
        setTimeout(() => stream.end("slow done"), SLOW_MS);
      } else stream.end("quick");
    });
    const guarded = guard(server);
    const port = await listen(server);
    const open = (): ClientHttp2Session =>
      connect(`${secure ? "https" : "http"}://127.0.0.1:${port}`, secure ? { ca: tls.cert } : {});
    const fetch = (session: ClientHttp2Session, path: string) =>
      new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":path": path });
        let body = "";
        stream.on("data", (d: Buffer) => {
          body += d.toString();
        });
        stream.on("end", () => resolve(body));
        stream.on("error", reject);
        stream.end();
      });
    const idle = open();
    const busy = open();
    assert.equal(await fetch(idle, "/quick"), "quick");
    const slow = fetch(busy, "/slow");
    await slowStarted;
    const closed = [once(idle, "close"), once(busy, "close")];

    const result = await stopInTime(guarded);
    assert.equal(await slow, "slow done");
    await Promise.all(closed);
    assert.equal(server.listening, false);
    assert.ok(result.durationMs < GRACE, `took ${result.durationMs} ms; it should end when the slow stream did`);
    await leaks.assertNoLeaks();
  });
}

test("an http2 server whose stream never ends is closed when the grace period runs out", async () => {
  const leaks = createLeakChecker();
  const server = createH2c();
  server.on("stream", (stream) => stream.respond({ ":status": 200 })); // never ends
  const guarded = guard(server, SHORT_GRACE);
  const port = await listen(server);
  const session = connect(`http://127.0.0.1:${port}`);
  session.on("error", () => undefined);
  const stream = session.request({ ":path": "/forever" });
  stream.on("error", () => undefined);
  stream.end();
  await once(stream, "response");
  const closed = once(session, "close");

  const result = await stopInTime(guarded);
  await closed;
  assertFiredOnTime(result.durationMs, SHORT_GRACE, "the forced close");
  await leaks.assertNoLeaks();
});

test("a net server: a connection that ends within the grace period ends, one that does not is closed", async () => {
  const leaks = createLeakChecker();
  const server = createNet((socket) => socket.on("error", () => undefined));
  const guarded = guard(server, SHORT_GRACE);
  const port = await listen(server);
  const dial = async (): Promise<Socket> => {
    const socket = createConnection(port, "127.0.0.1");
    socket.on("error", () => undefined);
    await once(socket, "connect");
    return socket;
  };
  const leaving = await dial();
  const staying = await dial();
  const ended = [once(leaving, "close"), once(staying, "close")];
  setTimeout(() => leaving.destroy(), 100);

  const result = await stopInTime(guarded);
  await Promise.all(ended);
  assert.equal(server.listening, false);
  assertFiredOnTime(result.durationMs, SHORT_GRACE, "the forced close");
  await leaks.assertNoLeaks();
});

test("a server that is not listening stops at once", async () => {
  const result = await stopInTime(guard(createNet()));
  assert.ok(result.durationMs < GRACE, `took ${result.durationMs} ms: it waited out its grace`);
});

test("a net connection accepted before shutdownOnSignals was called is waited for, and the step is reported late", async () => {
  const server = createNet((socket) => socket.on("error", () => undefined));
  const port = await listen(server);
  const socket = createConnection(port, "127.0.0.1");
  await once(socket, "connect");
  const result = await guard(server, 100).stop();
  assert.equal(result.error, "did not stop within 100 ms");
  const closed = once(server, "close");
  socket.destroy();
  await closed; // the close that the step began ends once the connection does
});
