/**
 * Every reach of leaksafe beyond the public APIs of grpc-js and of Node's
 * `node:http2`, in one file (issue 18): private fields and methods,
 * undocumented behaviour, and matches on grpc-js's message texts and
 * timings. The logic that uses them lives elsewhere and calls the accessors
 * here; nothing else in the runtime names a private field of grpc-js or
 * Node.
 *
 * Each accessor says what it relies on: the field or method, the grpc-js
 * source file (`src/…` in the grpc-js package), and the versions it was
 * checked in. Checked in grpc-js 1.10.0 to 1.14.7, and Node 20, 22, 24 and
 * 25, unless a comment says otherwise.
 *
 * The accessors are plain functions, with no closure or allocation of their
 * own: several run on every call.
 *
 * The startup self-check that probes them is in grpc-internals-check.ts.
 * Where a reach fails later anyway, at a call, the runtime falls back to
 * plain grpc-js behaviour and notes it ({@link noteMissing}).
 */

import { readFileSync } from "node:fs";
import type { Http2SecureServer, Http2Server, Http2Session, Http2Stream } from "node:http2";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { addAbortSignal, type Duplex, PassThrough } from "node:stream";
import type { Client, Server } from "@grpc/grpc-js";

type AnyHttp2Server = Http2Server | Http2SecureServer;

// --- Which grpc-js, and what is missing ---------------------------------------

const requireHere = createRequire(import.meta.url);

let version: string | undefined;

/**
 * The version of the grpc-js this runtime loads, from its package.json:
 * through `@grpc/grpc-js/package.json` (grpc-js has no `exports` map, so it
 * is reachable), or, should a release add a map that leaves it out, read
 * from the package folder above its main file.
 */
function grpcJsVersion(): string {
  if (version === undefined) {
    version = readGrpcJsVersion();
  }
  return version;
}

function readGrpcJsVersion(): string {
  try {
    const manifest = requireHere("@grpc/grpc-js/package.json") as { version?: unknown };
    if (typeof manifest.version === "string") return manifest.version;
  } catch {
    // not exported: read it from the file system below
  }
  try {
    let dir = dirname(requireHere.resolve("@grpc/grpc-js"));
    for (let depth = 0; depth < 8; depth++) {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
          name?: unknown;
          version?: unknown;
        };
        if (manifest.name === "@grpc/grpc-js" && typeof manifest.version === "string") return manifest.version;
      } catch {
        // no package.json here: go up
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  } catch {
    // not resolvable from here
  }
  return "unknown version";
}

/** An Error for an internal that this grpc-js does not have, naming it and the version. */
export function grpcInternalsError(what: string): Error {
  return new Error(
    `leaksafe cannot run on this grpc-js (@grpc/grpc-js ${grpcJsVersion()}, Node ${process.version}): ` +
      `it relies on internals that are missing: ${what}; ` +
      "leaksafe supports the grpc-js versions its package.json names (see runtime/grpc-internals.ts)",
  );
}

/** Internals found missing while the runtime ran, by name. */
const noted = new Set<string>();

/** Records an internal found missing at a call, where the runtime carried on without it. */
export function noteMissing(what: string): void {
  noted.add(what);
}

/** What {@link noteMissing} recorded. */
export function notedMissing(): string[] {
  return [...noted];
}

// --- grpc-js's message decoder ------------------------------------------------

/**
 * grpc-js's message decoder (its private `StreamDecoder`, src/stream-decoder.ts,
 * the same file in 1.10.0 to 1.14.7), as leaksafe reads it on both sides.
 * grpc-js drops the bytes of a message left unfinished when a stream ends,
 * so such an end would look normal; its private `readState` tells: 0
 * between messages, 1 in the 5-byte length prefix, 2 in the message, with
 * `readMessageSize` and `readMessageRemaining` for the latter.
 */
export interface DecoderState {
  readState?: unknown;
  readMessageSize?: unknown;
  readMessageRemaining?: unknown;
}

/** Whether a decoder has the state {@link cutShort} reads. */
export function hasDecoderState(decoder: DecoderState | undefined): boolean {
  return typeof decoder?.readState === "number";
}

/**
 * Why a `side` stream that has ended was cut short inside a message, or
 * undefined when it ended between messages, or when the decoder's state is
 * missing. Relies on grpc-js having written every DATA frame to the decoder
 * when the stream's end reaches leaksafe (its 'data' handlers decode
 * synchronously).
 */
export function cutShort(decoder: DecoderState | undefined, side: "request" | "response"): string | undefined {
  switch (decoder?.readState) {
    case 1:
      return `the ${side} stream ended inside a message's 5-byte length prefix`;
    case 2: {
      const size = Number(decoder.readMessageSize);
      const got = size - Number(decoder.readMessageRemaining);
      return `the ${side} stream ended inside a message: ${got} of its ${size} bytes arrived`;
    }
    default:
      return undefined;
  }
}

// --- grpc-js server -----------------------------------------------------------

/**
 * The `node:http2` servers under a grpc-js server.
 *
 * Relies on `Server.http2Servers` (private, src/server.ts): a Map whose keys
 * are the `Http2Server`s made in `bindAsync`, filled before its callback
 * runs. Throws rather than leave every connection limit silently off.
 */
export function http2ServersOf(server: Server): AnyHttp2Server[] {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) {
    throw grpcInternalsError("Server.http2Servers (a Map of its node:http2 servers)");
  }
  return [...servers.keys()] as AnyHttp2Server[];
}

/** grpc-js's innermost server call: the one that owns the HTTP/2 stream and the message decoder. */
interface BaseCall {
  stream: Http2Stream;
  decoder?: DecoderState;
}

/**
 * The innermost call under a handler's call or an intercepting call.
 *
 * Relies on the surface calls of src/server-call.ts (`ServerUnaryCallImpl`
 * and the stream classes) keeping their intercepting call in the private
 * field `call`; each `ServerInterceptingCall` (src/server-interceptors.ts)
 * the next one in `nextCall`; and the last, `BaseServerInterceptingCall`,
 * its Node stream in `stream` and its `StreamDecoder` in `decoder`. The
 * same since 1.10.0, when server interceptors came.
 */
function findBaseCall(call: object): BaseCall | undefined {
  let current: unknown = (call as { call?: unknown }).call ?? call;
  for (let depth = 0; depth < 16 && typeof current === "object" && current !== null; depth++) {
    if (isHttp2Stream((current as { stream?: unknown }).stream)) {
      return current as BaseCall;
    }
    current = (current as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

function isHttp2Stream(value: unknown): value is Http2Stream {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Http2Stream).close === "function" &&
    "rstCode" in (value as object)
  );
}

/**
 * The HTTP/2 stream under a grpc-js server call (a handler's call object) or
 * under a server intercepting call, or undefined if a grpc-js release moved
 * it (see {@link findBaseCall}).
 */
export function findHttp2Stream(call: object): Http2Stream | undefined {
  return findBaseCall(call)?.stream;
}

/** A grpc-js server handler's message functions, as its innermost call holds them. */
export interface ServerCodec {
  serialize: (value: unknown) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
}

/**
 * Replaces, for one server call only, the serializer and deserializer its
 * innermost call uses: `wrap` gets the method's own and returns the
 * replacements. Returns false, changing nothing, if they are not found.
 *
 * Relies on `BaseServerInterceptingCall` (src/server-interceptors.ts)
 * keeping its method's handler in the private field `handler`, and reading
 * `handler.serialize` in `serializeMessage` for each response and
 * `handler.deserialize` in `decompressAndMaybePush` for each request, at
 * that moment (not copied at construction). A handler object is shared by
 * every call of a method, so the call gets a copy. Must run before the
 * call's first message is read: a handler runs, and the request wait opens
 * a call, when its HEADERS are read.
 */
export function replaceServerCodec(call: object, wrap: (codec: ServerCodec) => ServerCodec): boolean {
  const base = findBaseCall(call) as (BaseCall & { handler?: Partial<ServerCodec> }) | undefined;
  const handler = base?.handler;
  if (
    base === undefined ||
    typeof handler !== "object" ||
    handler === null ||
    typeof handler.serialize !== "function" ||
    typeof handler.deserialize !== "function"
  ) {
    return false;
  }
  base.handler = { ...handler, ...wrap(handler as ServerCodec) };
  return true;
}

/** The `stream` field of grpc-js's innermost server call, read directly: any value, unchecked. */
export function ownStream(call: object): unknown {
  return (call as { stream?: unknown }).stream;
}

/** The request's `StreamDecoder` under a grpc-js server call (see {@link findBaseCall}). */
export function requestDecoder(call: object): DecoderState | undefined {
  return findBaseCall(call)?.decoder;
}

/**
 * Ends a streaming server call with `status`, after the messages already
 * queued.
 *
 * Relies on the `'error'` listener that grpc-js's writable and duplex
 * surface calls (src/server-call.ts) add in their constructors: it turns
 * the emitted object into the call's status and ends the stream. Not typed;
 * grpc-node's examples use it.
 */
export function sendStatusByError(call: NodeJS.EventEmitter, status: object): void {
  call.emit("error", status);
}

/**
 * A client whose own deadline passes cancels the call (RST_STREAM, CANCEL)
 * and the server cannot tell that from any other cancel. grpc-js's server
 * deadline is the time it received the call plus `grpc-timeout`
 * (`getDeadline()`, src/server-interceptors.ts), later than the client's by
 * the request's one-way latency, so a cancel this close to it is the
 * deadline. A heuristic on timing.
 */
export const DEADLINE_SKEW_MS = 100;

// --- grpc-js client -----------------------------------------------------------

/** What leaksafe uses of grpc-js's private `InternalChannel` (src/internal-channel.ts). */
export interface InternalChannel {
  createLoadBalancingCall?: unknown;
}

/**
 * The `InternalChannel` behind a client, or undefined.
 *
 * Relies on `ChannelImplementation.internalChannel` (private, src/channel.ts),
 * a plain field set in its constructor; a `channelOverride` of another kind
 * has none.
 */
export function internalChannelOf(client: Client): InternalChannel | undefined {
  const internal = (client.getChannel() as { internalChannel?: unknown }).internalChannel;
  return typeof internal === "object" && internal !== null ? (internal as InternalChannel) : undefined;
}

/**
 * Replaces `InternalChannel.createLoadBalancingCall` on one channel object,
 * with an own property.
 *
 * Relies on grpc-js making every attempt of every call through a property
 * lookup of that name: `this.channel.createLoadBalancingCall(…)` in
 * `RetryingCall` (src/retrying-call.ts), and, in 1.10 to 1.12 with retries
 * off, `this.createLoadBalancingCall(…)` in `createInnerCall`. 1.14 adds an
 * optional sixth argument; a wrapper must pass every argument on.
 */
export function replaceLoadBalancingCall(internal: InternalChannel, create: (...args: unknown[]) => unknown): void {
  internal.createLoadBalancingCall = create;
}

/**
 * The private field of grpc-js's `LoadBalancingCall`
 * (src/load-balancing-call.ts) that holds an attempt's `Http2SubchannelCall`:
 * null until the pick completes, then stored synchronously after
 * `session.request()`. The compiled class assigns it (`this.child = null`
 * in the constructor; build/src/load-balancing-call.js in 1.10.0 to 1.14.7),
 * rather than defining it as a class field, so an accessor on the prototype
 * sees every store; the self-check probes that.
 */
export const LOAD_BALANCING_CALL_CHILD = "child";

/**
 * The `InternalChannel` of a `LoadBalancingCall`: its private readonly
 * `channel` (src/load-balancing-call.ts), assigned before `child`.
 */
export function loadBalancingCallChannel(call: object): unknown {
  return (call as { channel?: unknown }).channel;
}

/** What leaksafe uses of grpc-js's `Http2SubchannelCall` (src/subchannel-call.ts). */
export interface SubchannelCall {
  /** Public on grpc-js's `SubchannelCall` interface: ends the call with this status unless one other than OK is set. */
  cancelWithStatus(code: number, details: string): void;
}

/**
 * The Node stream of an `Http2SubchannelCall`: its private `http2Stream`
 * (src/subchannel-call.ts), unchecked. grpc-js adds its own listeners to it
 * in the constructor, so a listener prepended later runs first, and cancels
 * with `this.http2Stream.close(code)`, a property lookup, so a `close` put
 * on the stream object takes effect.
 */
export function subchannelCallStream(call: SubchannelCall): unknown {
  return (call as { http2Stream?: unknown }).http2Stream;
}

/**
 * Tells the transport under an attempt that its connection is gone, as
 * grpc-js does itself on the session's 'close' and 'error' and the socket's
 * 'close': the private `transport` of an `Http2SubchannelCall`
 * (src/subchannel-call.ts) and the private `handleDisconnect()` of
 * `Http2Transport` (src/transport.ts), which reports the loss once
 * (`disconnectHandled`), so a second call does nothing. False when either
 * is missing.
 */
export function disconnectTransport(call: SubchannelCall): boolean {
  const transport = (call as { transport?: { handleDisconnect?: unknown } }).transport;
  if (typeof transport?.handleDisconnect !== "function") return false;
  transport.handleDisconnect();
  return true;
}

/** The response's `StreamDecoder` of an `Http2SubchannelCall`: its private `decoder` (src/subchannel-call.ts). */
export function subchannelCallDecoder(call: SubchannelCall): DecoderState | undefined {
  return (call as { decoder?: DecoderState }).decoder;
}

/**
 * Whether a status a grpc-js client reported is one grpc-js made up for a
 * lost connection, by its text: `Connection dropped`, `Call cancelled`,
 * `Received RST_STREAM…` and `Stream refused` (src/subchannel-call.ts), and
 * Node's socket errors it passes on (`ECONNRESET`, `EPIPE`, …). Below 1.12.4
 * a dropped connection gives `Call cancelled`; from 1.12.4 `Connection
 * dropped`, and `Call cancelled` is a server's RST_STREAM(CANCEL).
 */
export function grpcJsLostConnection(details: string): boolean {
  return CONNECTION_LOST.test(details);
}

const CONNECTION_LOST =
  /Connection dropped|ECONNRESET|ECONNREFUSED|EPIPE|Received RST_STREAM|socket hang up|GOAWAY|Call cancelled|Stream refused/i;

/**
 * How much earlier than the deadline grpc-js's client may report
 * DEADLINE_EXCEEDED: its deadline timer (`runDeadlineTimer`,
 * src/resolving-call.ts, with src/deadline.ts) is a `setTimeout` of the
 * time left, which Node may fire a little early. A heuristic on timing.
 */
export const CLIENT_DEADLINE_EARLY_MS = 5;

// --- Node's http2 and streams -------------------------------------------------

/**
 * What leaksafe uses of the native handle behind a Node `Http2Session`
 * (src/node_http2.cc).
 */
export interface SessionHandle {
  /** Whether nghttp2 still wants to read or write (`HasPendingData`). */
  hasPendingData?: unknown;
  /**
   * Sends a PING (`Http2Session::Ping`); `ondone(ack)` runs at its ACK, or
   * with `false` when it cannot be sent or the session ends first.
   */
  ping?: unknown;
}

let handleKey: symbol | undefined;

/**
 * The native handle of `session`: `"no symbol"` when this Node has no
 * `kHandle` on its sessions, undefined once the session has let it go.
 *
 * Relies on Node's private `kHandle` symbol (lib/internal/http2/core.js,
 * `this[kHandle] = handle`), one own symbol of an `Http2Session` with that
 * description.
 */
export function sessionHandle(session: Http2Session): SessionHandle | "no symbol" | undefined {
  handleKey ??= Object.getOwnPropertySymbols(session).find((key) => key.description === "kHandle");
  if (handleKey === undefined) {
    return "no symbol";
  }
  return (session as unknown as Record<symbol, SessionHandle | undefined>)[handleKey];
}

/**
 * Whether nghttp2 still wants to read or write on this session, by the
 * native `hasPendingData()` (what Node's own `kMaybeDestroy` asks); undefined
 * if that cannot be known. Notes a missing internal.
 */
export function sessionHasPendingData(session: Http2Session): boolean | undefined {
  const handle = sessionHandle(session);
  if (handle === "no symbol") {
    noteMissing("Http2Session[kHandle]");
    return undefined;
  }
  if (handle === undefined) {
    return undefined;
  }
  if (typeof handle.hasPendingData !== "function") {
    noteMissing("Http2Session[kHandle].hasPendingData");
    return undefined;
  }
  return Boolean(handle.hasPendingData());
}

/**
 * Sends a PING through the session's native handle, as Node's own `ping()`
 * does (`this[kHandle].ping(payload, cb)`) but also on a `closed` session,
 * where `ping()` refuses; `done(ack)` runs with the native callback's first
 * argument. Returns false, and never calls `done`, when the handle or its
 * `ping` is missing.
 */
export function pingThroughHandle(session: Http2Session, done: (acknowledged: unknown) => void): boolean {
  const handle = sessionHandle(session);
  if (typeof handle !== "object" || typeof handle.ping !== "function") {
    return false;
  }
  handle.ping(undefined, done);
  return true;
}

let streamHandleKey: symbol | undefined;

/**
 * The native handle of an HTTP/2 stream (a `node::http2::Http2Stream`'s JS
 * object): `"no symbol"` when this Node has no `kHandle` on its streams,
 * undefined before the stream has one (a client stream still pending) and
 * once it was destroyed.
 *
 * Relies on the same private `kHandle` symbol as {@link sessionHandle}
 * (lib/internal/http2/core.js: `this[kHandle] = handle` in
 * `Http2Stream[kInit]`, set when the stream gets its id, and
 * `this[kHandle] = undefined` in `_destroy`), one own symbol of an
 * `Http2Stream` with that description. Node 20 to 25.
 */
export function streamHandle(stream: Http2Stream): object | "no symbol" | undefined {
  streamHandleKey ??= Object.getOwnPropertySymbols(stream).find((key) => key.description === "kHandle");
  if (streamHandleKey === undefined) {
    return "no symbol";
  }
  const handle = (stream as unknown as Record<symbol, unknown>)[streamHandleKey];
  return typeof handle === "object" && handle !== null ? handle : undefined;
}

let abortError: (new () => Error) | null | undefined;

/**
 * Node's internal `AbortError`, the class that `Http2Stream._destroy` maps
 * to NGHTTP2_CANCEL (`err instanceof AbortError`, lib/internal/http2/core.js);
 * null if this Node does not make one where expected. `addAbortSignal` with
 * a signal already aborted destroys its stream with one, synchronously.
 */
export function nodeAbortError(): (new () => Error) | null {
  if (abortError === undefined) {
    const probe = new PassThrough();
    probe.on("error", ignore);
    addAbortSignal(AbortSignal.abort(), probe);
    const made = probe.errored;
    abortError = made instanceof Error && made.name === "AbortError" ? (made.constructor as new () => Error) : null;
  }
  return abortError;
}

function ignore(): void {}

/**
 * How many bytes an HTTP/2 stream buffers on each side before it holds its
 * peer back, the same on every Node. Node 22 raised the default high-water
 * mark of byte streams from 16 KiB to 64 KiB (nodejs/node#52037), which let
 * a producer run 48 KiB further ahead of a slow reader on each side, beyond
 * HTTP/2's own window; "receives are bounded" then rested on a default that
 * changed. So every stream the runtime serves or calls gets Node 20's value.
 */
export const STREAM_BUFFER_BYTES = 16 * 1024;

interface StreamStates {
  _readableState?: { highWaterMark: number };
  _writableState?: { highWaterMark: number };
}

/**
 * Sets both sides' high-water mark of a stream that http2 made. Node has no
 * option for it there, so this writes the field that Readable and Writable
 * read on each push and write (`_readableState.highWaterMark`,
 * `_writableState.highWaterMark`, lib/internal/streams/*.js, Node 20 to 25);
 * `readableHighWaterMark` reads it back.
 */
export function boundStreamBuffers(stream: Duplex): void {
  if (stream.readableHighWaterMark === STREAM_BUFFER_BYTES && stream.writableHighWaterMark === STREAM_BUFFER_BYTES) {
    return;
  }
  const states = stream as unknown as StreamStates;
  if (states._readableState !== undefined && states._writableState !== undefined) {
    states._readableState.highWaterMark = STREAM_BUFFER_BYTES;
    states._writableState.highWaterMark = STREAM_BUFFER_BYTES;
  }
}
