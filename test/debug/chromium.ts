/**
 * A real browser for the debug page's tests: Debian's headless Chromium,
 * driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
 * JSON messages ended by a NUL byte, commands on fd 3, answers on fd 4), so
 * no WebSocket client is needed. Its profile lives under .tmp/, which git
 * ignores, and is removed when the browser closes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdirSync, rmSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";

/** Where Chromium is: $CHROMIUM, or `chromium` on the PATH. Fails, naming the package, when it is not installed. */
export function findChromium(): string {
  const named = process.env.CHROMIUM;
  if (named !== undefined && named !== "") {
    try {
      accessSync(named, constants.X_OK);
      return named;
    } catch {
      throw new Error(`CHROMIUM is ${JSON.stringify(named)}, which is not an executable file`);
    }
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "chromium");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new Error(
    "the debug page's browser test needs Chromium and found none: install Debian's package (apt-get install chromium), or set CHROMIUM to its path",
  );
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** One page in a headless Chromium. */
export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: Array<{ method: string; resolve: () => void }> = [];
  private buffer = "";
  private stderr = "";
  private sessionId: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const output = child.stdio[4] as Readable;
    output.setEncoding("utf8");
    output.on("data", (chunk: string) => this.take(chunk));
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.exited = new Promise((done) => child.once("exit", () => done()));
    void this.exited.then(() => {
      for (const { reject } of this.pending.values())
        reject(new Error(`Chromium exited; its last words: ${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Starts Chromium with one blank page, `width` × `height` CSS pixels. */
  static async open(width = 1400, height = 900): Promise<Browser> {
    const profile = resolve(".tmp", `chromium-${process.pid}-${Date.now()}`);
    mkdirSync(profile, { recursive: true });
    const child = spawn(
      findChromium(),
      [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--remote-debugging-pipe",
        `--user-data-dir=${profile}`,
        `--window-size=${width},${height}`,
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "about:blank",
      ],
      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
    );
    const browser = new Browser(child, profile);
    const spawned = new Promise<void>((ok, fail) => {
      child.once("spawn", ok);
      child.once("error", fail);
    });
    await spawned;
    const { targetInfos } = (await browser.command("Target.getTargets")) as {
      targetInfos: Array<{ type: string; targetId: string }>;
    };
    const page = targetInfos.find((t) => t.type === "page");
    const { targetId } =
      page ?? ((await browser.command("Target.createTarget", { url: "about:blank" })) as { targetId: string });
    const { sessionId } = (await browser.command("Target.attachToTarget", { targetId, flatten: true })) as {
      sessionId: string;
    };
    browser.sessionId = sessionId;
    await browser.command("Page.enable");
    await browser.command("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
    return browser;
  }

  /** Sends a DevTools command (to the page once attached) and resolves with its result. */
  command(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const message = JSON.stringify({
      id,
      method,
      params,
      ...(this.sessionId === undefined ? {} : { sessionId: this.sessionId }),
    });
    return new Promise((ok, fail) => {
      this.pending.set(id, { resolve: ok, reject: fail });
      (this.child.stdio[3] as Writable).write(`${message}\0`);
    });
  }

  /** Resolves at the page's next `method` event, e.g. "Page.loadEventFired". */
  nextEvent(method: string): Promise<void> {
    return new Promise((ok) => this.waiters.push({ method, resolve: ok }));
  }

  /** Loads `url` and resolves when its load event fired. */
  async load(url: string): Promise<void> {
    const loaded = this.nextEvent("Page.loadEventFired");
    const result = (await this.command("Page.navigate", { url })) as { errorText?: string };
    if (result.errorText !== undefined) throw new Error(`Chromium could not load ${url}: ${result.errorText}`);
    await loaded;
  }

  /** Evaluates `expression` in the page and returns its value (JSON-able). */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = (await this.command("Runtime.evaluate", {
      expression,
      returnByValue: true,
    })) as { result: { value: T }; exceptionDetails?: unknown };
    if (exceptionDetails !== undefined) throw new Error(`${expression} threw: ${JSON.stringify(exceptionDetails)}`);
    return result.value;
  }

  /** A PNG of the whole page, as tall as its content. */
  async screenshot(width = 1400): Promise<Buffer> {
    const height = await this.evaluate<number>("document.documentElement.scrollHeight");
    await this.command("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
    const { data } = (await this.command("Page.captureScreenshot", { format: "png" })) as { data: string };
    return Buffer.from(data, "base64");
  }

  /** Ends Chromium, waits for it to exit, and removes its profile. */
  async close(): Promise<void> {
    this.command("Browser.close").catch(() => {});
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(killer);
    for (const stream of [this.child.stdio[3], this.child.stdio[4], this.child.stderr]) stream?.destroy();
    rmSync(this.profile, { recursive: true, force: true });
  }

  private take(chunk: string): void {
    this.buffer += chunk;
    let end = this.buffer.indexOf("\0");
    while (end !== -1) {
      const message = JSON.parse(this.buffer.slice(0, end)) as {
        id?: number;
        method?: string;
        result?: Record<string, unknown>;
        error?: { message: string };
      };
      this.buffer = this.buffer.slice(end + 1);
      end = this.buffer.indexOf("\0");
      if (message.id !== undefined) {
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error !== undefined) pending?.reject(new Error(`DevTools: ${message.error.message}`));
        else pending?.resolve(message.result ?? {});
      } else if (message.method !== undefined) {
        const at = this.waiters.findIndex((w) => w.method === message.method);
        if (at !== -1) this.waiters.splice(at, 1)[0]?.resolve();
      }
    }
  }
}
