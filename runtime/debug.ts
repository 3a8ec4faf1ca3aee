/**
 * `leaksafe/debug`: a live page of a server's calls, for the user's own
 * admin port. It imports nothing at run time but Node's own modules, and
 * the core `leaksafe` never imports it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type PageSettings, renderPage } from "./debug-html.js";
import { type DebugSource, takeSnapshot } from "./debug-view.js";

export type { DebugEnd, DebugMethod, DebugOpenCall, DebugSnapshot, DebugSource } from "./debug-view.js";
export { takeSnapshot } from "./debug-view.js";

/** Options for {@link debugHandler}. */
export interface DebugHandlerOptions {
  /** The page's title; default "leaksafe debug". */
  title?: string | undefined;
  /** Seconds between the page's reloads (a meta refresh); default 2, 0 for none, at most 3600. */
  refreshSeconds?: number | undefined;
  /** The most open calls the HTML page lists (the JSON has all); default 500. */
  maxRows?: number | undefined;
}

/** An HTTP request handler, as `node:http` and express call one; it ends every response it is given. */
export type DebugHandler = (req: IncomingMessage, res: ServerResponse) => void;

const SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
  "Referrer-Policy": "no-referrer",
};

/**
 * A request handler that serves the live registry of `server` (a leaksafe
 * server, or anything with `activeStreams()`, such as a client), wherever
 * it is mounted: it reads only the query.
 * - `GET` (or `HEAD`): an HTML page of the open calls (method, peer, age,
 *   time since the last message in and out, messages in and out, since
 *   when a send is blocked or a receive waits, and the limits in force),
 *   the ended calls counted and grouped by reason, with the newest of
 *   each, and the server's state. It reloads itself every
 *   `refreshSeconds`, loads nothing external, and escapes every value.
 * - `GET ?format=json`: the same data as JSON, a {@link DebugSnapshot}.
 * - another `format`: 400; another method: 405 with `Allow: GET, HEAD`.
 * Every answer has `Cache-Control: no-store`, `X-Content-Type-Options:
 * nosniff` and a Content-Security-Policy that allows only inline style.
 * Serve it on an admin address only: it shows peers' addresses.
 * Throws a TypeError for a `server` or options it cannot use.
 */
export function debugHandler(server: DebugSource, options: DebugHandlerOptions = {}): DebugHandler {
  if (typeof server !== "object" || server === null || typeof server.activeStreams !== "function") {
    throw new TypeError(
      `debugHandler needs a leaksafe server (an object with activeStreams()), got ${describe(server)}`,
    );
  }
  const settings = checkOptions(options);
  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, req, 405, "text/plain", `the debug page answers GET and HEAD, not ${req.method}\n`, {
        Allow: "GET, HEAD",
      });
      return;
    }
    const formats = new URL(req.url ?? "/", "http://debug.invalid").searchParams.getAll("format");
    const format = formats.length === 0 ? "html" : formats.length === 1 ? formats[0] : undefined;
    if (format !== "html" && format !== "json") {
      const got =
        formats.length > 1 ? `format given ${formats.length} times` : `unknown format ${JSON.stringify(format)}`;
      send(res, req, 400, "text/plain", `${got}: use format=html (the default) or format=json\n`);
      return;
    }
    let body: string;
    try {
      const snapshot = takeSnapshot(server);
      body = format === "json" ? `${JSON.stringify(snapshot, null, 2)}\n` : renderPage(snapshot, settings);
    } catch (error) {
      send(res, req, 500, "text/plain", `could not read the registry: ${String(error)}\n`);
      return;
    }
    send(res, req, 200, format === "json" ? "application/json" : "text/html", body);
  };
}

function send(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    "Content-Type": `${type}; charset=utf-8`,
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

function checkOptions(options: DebugHandlerOptions): PageSettings {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`debugHandler's options must be an object, got ${describe(options)}`);
  }
  const { title = "leaksafe debug", refreshSeconds = 2, maxRows = 500 } = options;
  if (typeof title !== "string") {
    throw new TypeError(`title must be a string, got ${describe(title)}`);
  }
  if (
    typeof refreshSeconds !== "number" ||
    !Number.isFinite(refreshSeconds) ||
    refreshSeconds < 0 ||
    refreshSeconds > 3600
  ) {
    throw new TypeError(`refreshSeconds must be a number from 0 (no refresh) to 3600, got ${describe(refreshSeconds)}`);
  }
  if (typeof maxRows !== "number" || !Number.isInteger(maxRows) || maxRows < 1) {
    throw new TypeError(`maxRows must be a whole number from 1, got ${describe(maxRows)}`);
  }
  return { title, refreshSeconds, maxRows };
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "function") return "a function";
  return String(value);
}
