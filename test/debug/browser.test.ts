/**
 * The debug page in a real browser, Debian's headless Chromium, against a
 * server with open streams: the DOM has the rows, the hostile service name
 * is text and never ran, the page reloads itself and shows what changed.
 * Without Chromium this test fails, naming the package to install.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { eventually } from "../e2e/harness.js";
import { Browser, findChromium } from "./chromium.js";
import { HOLD_PATH, IDLE_PATH, OPEN_CALLS, startScene } from "./scene.js";

/** A hang guard for a page load or a reload, not a speed bound. */
const LOAD_BOUND_MS = 30_000;

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Chromium: ${what} did not happen within ${LOAD_BOUND_MS} ms`)),
      LOAD_BOUND_MS,
    );
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

test("Chromium shows the open calls and the ends by reason, runs nothing it was given, and reloads itself", async () => {
  findChromium(); // fails first, with the package's name, when there is none
  const scene = await startScene({ refreshSeconds: 1 });
  const browser = await Browser.open();
  try {
    await within(browser.load(scene.url), "the first load");
    const page = await browser.evaluate<{
      title: string;
      pwned: string | null;
      scripts: number;
      images: number;
      state: string;
      rows: number;
      methods: string[];
      reasons: Record<string, string>;
      idleMethods: string[];
      converseLimits: string[];
      openCount: string;
    }>(`(() => {
      const text = (el) => el.textContent;
      const converse = [...document.querySelectorAll("#open-calls tr.call")].find((tr) => tr.querySelector(".method").textContent === "/example.v1.Chat/Converse");
      return {
        title: document.title,
        pwned: document.documentElement.getAttribute("data-pwned"),
        scripts: document.scripts.length,
        images: document.images.length,
        state: document.getElementById("state").textContent,
        rows: document.querySelectorAll("#open-calls tr.call").length,
        methods: [...document.querySelectorAll("#open-calls tr.call .method")].map(text),
        reasons: Object.fromEntries([...document.querySelectorAll("#ends-by-reason tbody tr")].map((tr) => [tr.dataset.reason, tr.querySelector(".count").textContent])),
        idleMethods: [...document.querySelectorAll('section.reason[data-reason="idle"] tr.end .method')].map(text),
        converseLimits: [".idle-limit", ".send-timeout", ".total-limit", ".messages-in", ".messages-out"].map((c) => converse.querySelector(c).textContent),
        openCount: document.getElementById("open-count").textContent,
      };
    })()`);
    assert.equal(page.title, "leaksafe debug", "no injected script set the title");
    assert.equal(page.pwned, null, "no injected script ran");
    assert.equal(page.scripts, 0, "no script element was made from the service name");
    assert.equal(page.images, 0, "no image element was made from the service name");
    assert.equal(page.state, "listening");
    assert.equal(page.rows, OPEN_CALLS);
    assert.equal(page.openCount, String(OPEN_CALLS));
    assert.deepEqual(
      page.methods.slice().sort(),
      [HOLD_PATH, "/example.v1.Chat/Converse", "/example.v1.Chat/Watch", "/example.v1.Chat/Watch"].sort(),
      "the hostile name is shown as the very text it is",
    );
    assert.deepEqual(page.reasons, { ok: "3", "peer-gone": "1", idle: "1" });
    assert.deepEqual(page.idleMethods, [IDLE_PATH]);
    assert.deepEqual(page.converseLimits, ["1 min 0 s", "10.0 s", "10 min 0 s", "2", "2"]);

    mkdirSync(".tmp", { recursive: true });
    const png = await browser.screenshot();
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
    writeFileSync(".tmp/debug-page-test.png", png);

    // A Post ends; the page reloads by itself and counts it.
    await scene.chat.post({ author: "d", text: "after the first load" });
    await eventually(() => scene.server.recentEnds().byReason.ok === 4, "the fourth Post to end");
    let ok = "3";
    for (let reloads = 0; ok !== "4"; reloads++) {
      assert.ok(reloads < 5, "the page reloaded 5 times without the fourth Post");
      await within(browser.nextEvent("Page.loadEventFired"), "a reload by the meta refresh");
      ok = await browser.evaluate<string>(
        `document.querySelector('#ends-by-reason tr[data-reason="ok"] .count').textContent`,
      );
    }
  } finally {
    await browser.close();
    await scene.close();
  }
});
