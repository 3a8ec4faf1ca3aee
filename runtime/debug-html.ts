import type { DebugEnd, DebugOpenCall, DebugSnapshot } from "./debug-view.js";
import type { ResolvedLimits } from "./limits.js";

/** How the page is drawn; `debugHandler` checks these. */
export interface PageSettings {
  title: string;
  /** Seconds between reloads; 0 for none. */
  refreshSeconds: number;
  /** The most open calls listed; the rest are counted. */
  maxRows: number;
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` made safe for HTML text and quoted attribute values. */
export function escapeHtml(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A duration for people: "250 ms", "4.2 s", "3 min 5 s", "2 h 10 min". */
export function formatMs(ms: number): string {
  if (ms < 0) return `-${formatMs(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.floor((ms % 3_600_000) / 60_000)} min`;
}

const limit = (ms: number | undefined): string => (ms === undefined ? "?" : ms === 0 ? "off" : formatMs(ms));
const ago = (ms: number | null, none: string): string => (ms === null ? none : formatMs(ms));

/** A table cell with a class, its text escaped. */
function td(cls: string, text: string | number): string {
  return `<td class="${cls}">${escapeHtml(text)}</td>`;
}

function head(...names: string[]): string {
  return `<thead><tr>${names.map((n) => `<th>${escapeHtml(n)}</th>`).join("")}</tr></thead>`;
}

function limitCells(limits: ResolvedLimits | null): string {
  return (
    td("idle-limit", limit(limits?.idleTimeoutMs)) +
    td("send-timeout", limit(limits?.sendTimeoutMs)) +
    td("total-limit", limit(limits?.timeoutMs))
  );
}

function openRow(c: DebugOpenCall): string {
  const stuck = c.sendBlockedMs !== null ? " blocked" : "";
  return (
    `<tr class="call${stuck}" data-id="${escapeHtml(c.id)}">` +
    td("id", c.id) +
    td("method", c.method) +
    td("kind", c.kind) +
    td("peer", c.peer) +
    td("age", formatMs(c.ageMs)) +
    td("last-in", ago(c.sinceLastInMs, "never")) +
    td("last-out", ago(c.sinceLastOutMs, "never")) +
    td("messages-in num", c.messagesIn) +
    td("messages-out num", c.messagesOut) +
    td("send-blocked", ago(c.sendBlockedMs, "–")) +
    td("receive-waiting", ago(c.receiveWaitingMs, "–")) +
    limitCells(c.limits) +
    td("deadline-in", c.deadlineInMs === null ? "none" : formatMs(c.deadlineInMs)) +
    "</tr>"
  );
}

function endRow(e: DebugEnd): string {
  return (
    `<tr class="end" data-id="${escapeHtml(e.id)}">` +
    td("ended", `${formatMs(e.endedAgoMs)} ago`) +
    td("method", e.method) +
    td("kind", e.kind) +
    td("peer", e.peer) +
    td("reason", e.reason) +
    td("code", `${e.code} ${e.codeName}`) +
    td("duration", formatMs(e.durationMs)) +
    td("messages-in num", e.messagesIn) +
    td("messages-out num", e.messagesOut) +
    "</tr>"
  );
}

function openSection(snap: DebugSnapshot, maxRows: number): string {
  const shown = snap.open.slice(0, maxRows);
  const more =
    snap.open.length > shown.length
      ? `<p class="more">… and ${escapeHtml(snap.open.length - shown.length)} more (all are in the JSON)</p>`
      : "";
  const methods = snap.methods
    .map(
      (m) =>
        `<tr class="method-row">${td("method", m.method)}${td("kind", m.kind)}${td("open num", m.open)}${limitCells(m.limits)}</tr>`,
    )
    .join("");
  return `<section id="open">
<h2>Open calls: <span id="open-count">${escapeHtml(snap.open.length)}</span></h2>
<table id="by-method">${head("Method", "Kind", "Open", "Idle limit", "Send timeout", "Total limit")}<tbody>${methods}</tbody></table>
<table id="open-calls">${head("Id", "Method", "Kind", "Peer", "Age", "Last in", "Last out", "In", "Out", "Send blocked", "Receive waiting", "Idle limit", "Send timeout", "Total limit", "Deadline in")}<tbody>${shown.map(openRow).join("")}</tbody></table>
${more}</section>`;
}

function endsSection(snap: DebugSnapshot): string {
  const ends = snap.ends;
  if (ends === null) return `<section id="ends"><h2>Ended calls</h2><p>This source keeps no ended calls.</p></section>`;
  const counts = Object.entries(ends.byReason)
    .map(
      ([reason, n]) => `<tr data-reason="${escapeHtml(reason)}">${td("reason", reason)}${td("count num", n ?? 0)}</tr>`,
    )
    .join("");
  const groups = Object.keys(ends.byReason)
    .map((reason) => {
      const rows = ends.recent.filter((e) => e.reason === reason);
      if (rows.length === 0) return "";
      return `<section class="reason" data-reason="${escapeHtml(reason)}"><h3>${escapeHtml(reason)}: the newest ${escapeHtml(rows.length)}</h3>
<table class="ends">${head("Ended", "Method", "Kind", "Peer", "Reason", "Code", "Duration", "In", "Out")}<tbody>${rows.map(endRow).join("")}</tbody></table></section>`;
    })
    .join("\n");
  return `<section id="ends">
<h2>Ended calls: <span id="ended-count">${escapeHtml(ends.total)}</span></h2>
<table id="ends-by-reason">${head("Reason", "Calls")}<tbody>${counts}</tbody></table>
${groups}</section>`;
}

const STYLE = `body{font:13px/1.4 system-ui,sans-serif;margin:1em 1.5em;color:#1d2330;background:#fff}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.2em 0 .4em}h3{font-size:1em;margin:1em 0 .3em}
table{border-collapse:collapse;margin-bottom:.6em}th,td{border:1px solid #d4d8e0;padding:2px 7px;text-align:left;white-space:nowrap}
th{background:#eef1f6;font-weight:600}td.num{text-align:right}td.method,td.peer{font-family:ui-monospace,monospace}td.method{white-space:pre-wrap;word-break:break-all;max-width:32em}
tr.blocked td{background:#fff1e0}.meta{color:#5a6170}.state{font-weight:600}a{color:#2456b8}`;

/** The debug page: a whole HTML document with nothing external, every printed value escaped. */
export function renderPage(snap: DebugSnapshot, settings: PageSettings): string {
  const refresh =
    settings.refreshSeconds > 0 ? `<meta http-equiv="refresh" content="${escapeHtml(settings.refreshSeconds)}">` : "";
  const state = snap.state ?? "unknown";
  const every = settings.refreshSeconds > 0 ? `, refreshed every ${escapeHtml(settings.refreshSeconds)} s` : "";
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">${refresh}
<meta name="viewport" content="width=device-width">
<title>${escapeHtml(settings.title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(settings.title)}</h1>
<p class="meta">Server: <span id="state" class="state" data-state="${escapeHtml(state)}">${escapeHtml(state)}</span>. Taken at ${escapeHtml(new Date(snap.now).toISOString())}${every}. <a href="?format=json">JSON</a></p>
${openSection(snap, settings.maxRows)}
${endsSection(snap)}
</body></html>
`;
}
