/**
 * Makes the README's picture of the debug page, docs/debug-page.png: the
 * test scene (open streams, ends by several reasons, a hostile service
 * name) in Debian's headless Chromium. Tests never write it; run this by
 * hand after changing the page:
 *
 *     npm run build && npx tsx test/debug/screenshot.ts
 */
import { writeFileSync } from "node:fs";
import { Browser } from "./chromium.js";
import { startScene } from "./scene.js";

const OUT = "docs/debug-page.png";

const scene = await startScene({ refreshSeconds: 0 });
const browser = await Browser.open(1500, 900);
try {
  await browser.load(scene.url);
  writeFileSync(OUT, await browser.screenshot(1500));
  console.log(`wrote ${OUT}`);
} finally {
  await browser.close();
  await scene.close();
}
