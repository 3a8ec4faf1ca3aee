/** The HTML page over HTTP: headers, rows, escaping of untrusted text, refresh, and the answers to bad requests and options. */
import assert from "node:assert/strict";
import { createServer as createHttpServer, request } from "node:http";
import { test } from "node:test";
import type { CallRecord } from "leaksafe";
import { type DebugSource, debugHandler } from "leaksafe/debug";
import { createLeakChecker } from "leaksafe/testing";
import { closeHttp, HOLD_PATH, IDLE_PATH, OPEN_CALLS, startScene } from "./scene.js";

const ESCAPED = (text: string) =>
  text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");

test("the page lists the open calls and the ends by reason, with the security headers and a refresh", async () => {
  const scene = await startScene();
  try {
    const response = await fetch(scene.url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.match(
      response.headers.get("content-security-policy") ?? "",
      /^default-src 'none'; style-src 'unsafe-inline'/,
    );
    const html = await response.text();
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<meta http-equiv="refresh" content="2">/, "refreshes every 2 s by default");
    assert.equal(html.match(/<tr class="call/g)?.length, OPEN_CALLS);
    assert.match(html, /<span id="state" class="state" data-state="listening">listening<\/span>/);
    assert.match(html, /<tr data-reason="ok"><td class="reason">ok<\/td><td class="count num">3<\/td><\/tr>/);
    assert.match(html, /<tr data-reason="idle"><td class="reason">idle<\/td><td class="count num">1<\/td><\/tr>/);
    assert.match(
      html,
      /<tr data-reason="peer-gone"><td class="reason">peer-gone<\/td><td class="count num">1<\/td><\/tr>/,
    );
    assert.match(html, /<td class="method">\/example\.v1\.Chat\/Converse<\/td><td class="kind">bidi<\/td>/);
    assert.match(
      html,
      /<td class="idle-limit">1 min 0 s<\/td><td class="send-timeout">10\.0 s<\/td><td class="total-limit">10 min 0 s<\/td>/,
    );
    assert.match(html, /<td class="code">4 DEADLINE_EXCEEDED<\/td>/);
    assert.doesNotMatch(html, /https?:\/\/|src="|href="\//, "nothing external");
    // The hostile service name, open (Hold) and ended (Idle), appears only escaped.
    assert.ok(html.includes(`<td class="method">${ESCAPED(HOLD_PATH)}</td>`));
    assert.ok(html.includes(`<td class="method">${ESCAPED(IDLE_PATH)}</td>`));
    assert.doesNotMatch(html, /<script|<img/i);

    const quiet = await fetch(`${scene.url}?format=html`);
    assert.equal(quiet.status, 200);
    assert.match(await quiet.text(), /<tr class="call/, "format=html is the page");
  } finally {
    await scene.close();
  }
});

test("every text a source gives is escaped: method, peer and reason with markup, quotes and ampersands", async () => {
  const evil = `"><script>alert('x')</script>&amp;<b onmouseover='y'>`;
  const record: CallRecord = {
    id: 1,
    method: `/a.${evil}/M`,
    kind: "bidi",
    peer: `peer${evil}`,
    startedAt: Date.now() - 1500,
    deadline: undefined,
    messagesIn: 0,
    messagesOut: 0,
    lastMessageInAt: undefined,
    lastMessageOutAt: undefined,
    sendBlockedSince: Date.now() - 500,
    receiveWaitingSince: undefined,
  };
  const source: DebugSource = {
    activeStreams: () => [record],
    recentEnds: () => ({
      byReason: { [evil]: 1 } as never,
      recent: [{ ...record, reason: evil as never, code: 99 as never, endedAt: Date.now(), durationMs: 3 }],
    }),
    limitsOf: () => undefined,
    state: evil as never,
  };
  const html = await serveOnce(debugHandler(source, { title: `t${evil}` }), "/");
  assert.equal(html.status, 200);
  assert.doesNotMatch(html.body, /<script|<b |onmouseover='/);
  const safe = ESCAPED(evil);
  assert.ok(html.body.includes(`<title>t${safe}</title>`));
  assert.ok(html.body.includes(`<td class="peer">peer${safe}</td>`), "the peer");
  assert.ok(html.body.includes(`<td class="method">/a.${safe}/M</td>`), "the method");
  assert.ok(
    html.body.includes(`<tr data-reason="${safe}"><td class="reason">${safe}</td>`),
    "the reason, text and attribute",
  );
  assert.ok(html.body.includes(`data-state="${safe}">${safe}</span>`), "the state");
  assert.ok(html.body.includes(`<td class="code">99 CODE_99</td>`));
  assert.match(html.body, /<tr class="call blocked"/, "a blocked send is marked");
  assert.match(html.body, /<td class="send-blocked">\d+ ms<\/td>/);
});

test("other methods get 405, an unknown or repeated format 400, HEAD the headers alone; no refresh when refreshSeconds is 0", async () => {
  const source: DebugSource = { activeStreams: () => [] };
  const handler = debugHandler(source, { refreshSeconds: 0 });
  const post = await serveOnce(handler, "/", "POST");
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, "GET, HEAD");
  assert.equal(post.body, "the debug page answers GET and HEAD, not POST\n");
  const xml = await serveOnce(handler, "/debug?format=xml");
  assert.equal(xml.status, 400);
  assert.equal(xml.body, 'unknown format "xml": use format=html (the default) or format=json\n');
  const twice = await serveOnce(handler, "/?format=json&format=html");
  assert.equal(twice.status, 400);
  assert.equal(twice.body, "format given 2 times: use format=html (the default) or format=json\n");
  const head = await serveOnce(handler, "/?format=json", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-type"], "application/json; charset=utf-8");
  assert.equal(head.body, "");
  const page = await serveOnce(handler, "/");
  assert.doesNotMatch(page.body, /http-equiv="refresh"/);
  assert.match(page.body, /<span id="open-count">0<\/span>/);
  assert.match(page.body, /data-state="unknown"/);
  assert.match(page.body, /This source keeps no ended calls/);
  const broken = await serveOnce(
    debugHandler({
      activeStreams: () => {
        throw new Error("boom");
      },
    }),
    "/",
  );
  assert.equal(broken.status, 500);
  assert.equal(broken.body, "could not read the registry: Error: boom\n");
});

test("the HTML lists at most maxRows open calls and counts the rest; the JSON has all", async () => {
  const now = Date.now();
  const calls = Array.from(
    { length: 5 },
    (_, i): CallRecord => ({
      id: i + 1,
      method: "/m.S/M",
      kind: "unary",
      peer: "p",
      startedAt: now - i,
      deadline: undefined,
      messagesIn: 0,
      messagesOut: 0,
      lastMessageInAt: undefined,
      lastMessageOutAt: undefined,
      sendBlockedSince: undefined,
      receiveWaitingSince: undefined,
    }),
  );
  const handler = debugHandler({ activeStreams: () => calls }, { maxRows: 2 });
  const page = await serveOnce(handler, "/");
  assert.equal(page.body.match(/<tr class="call/g)?.length, 2);
  assert.match(page.body, /… and 3 more \(all are in the JSON\)/);
  const json = JSON.parse((await serveOnce(handler, "/?format=json")).body) as { open: Array<{ id: number }> };
  assert.deepEqual(
    json.open.map((c) => c.id),
    [5, 4, 3, 2, 1],
    "oldest first",
  );
});

test("a server or options it cannot use are refused with a TypeError that names them", () => {
  assert.throws(
    () => debugHandler(undefined as never),
    /debugHandler needs a leaksafe server \(an object with activeStreams\(\)\), got undefined/,
  );
  assert.throws(() => debugHandler({} as never), /got an object$/);
  const source = { activeStreams: () => [] };
  assert.throws(
    () => debugHandler(source, { refreshSeconds: -1 }),
    /refreshSeconds must be a number from 0 \(no refresh\) to 3600, got -1/,
  );
  assert.throws(() => debugHandler(source, { refreshSeconds: Number.NaN }), /got NaN/);
  assert.throws(() => debugHandler(source, { refreshSeconds: "2" as never }), /refreshSeconds .* got "2"/);
  assert.throws(() => debugHandler(source, { maxRows: 0 }), /maxRows must be a whole number from 1, got 0/);
  assert.throws(() => debugHandler(source, { maxRows: 1.5 }), /got 1\.5/);
  assert.throws(() => debugHandler(source, { title: 3 as never }), /title must be a string, got 3/);
  assert.throws(() => debugHandler(source, null as never), /options must be an object, got null/);
});

/** Serves one request with `handler` on a real HTTP server, then closes it and checks that nothing is left open. */
async function serveOnce(
  handler: ReturnType<typeof debugHandler>,
  path: string,
  method = "GET",
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const leaks = createLeakChecker();
  const server = createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  try {
    return await new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: address.port, path, method, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on("error", reject);
      req.end();
    });
  } finally {
    await closeHttp(server);
    await leaks.assertNoLeaks();
  }
}
