/**
 * The startup self-check of runtime/grpc-internals.ts: the first
 * `createServer()` and the first `createClient()` each probe, once, every
 * internal their side needs, and throw an Error naming what is missing and
 * the grpc-js version loaded. {@link missingGrpcInternals} reports the
 * probes' findings and what the runtime noted missing at its calls.
 */

import { type ClientHttp2Session, connect } from "node:http2";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Duplex, PassThrough } from "node:stream";
import { Channel, credentials, Metadata, Server, ServerInterceptingCall } from "@grpc/grpc-js";
import {
  boundStreamBuffers,
  type DecoderState,
  disconnectTransport,
  findHttp2Stream,
  grpcInternalsError,
  type InternalChannel,
  LOAD_BALANCING_CALL_CHILD,
  loadBalancingCallChannel,
  nodeAbortError,
  notedMissing,
  requestDecoder,
  type SessionHandle,
  STREAM_BUFFER_BYTES,
  type SubchannelCall,
  sessionHandle,
  streamHandle,
  subchannelCallDecoder,
  subchannelCallStream,
} from "./grpc-internals.js";

const requireHere = createRequire(import.meta.url);

function ignore(): void {}

/**
 * Every internal missing in the loaded grpc-js and Node: the self-check's
 * probes of both sides, run afresh, then what the runtime noted at its
 * calls. Empty when everything is in place; the tests assert it.
 */
export function missingGrpcInternals(): string[] {
  return [...new Set([...probeServer(), ...probeClient(), ...notedMissing()])];
}

const checked = { server: false, client: false };

/**
 * The startup self-check of one side, run at each `createServer()` or
 * `createClient()` until it has passed once: throws an Error naming every
 * internal missing and the grpc-js version. Only a pass is kept, so a fixed
 * environment is checked again.
 */
export function assertGrpcInternals(side: "server" | "client"): void {
  if (checked[side]) return;
  const missing = side === "server" ? probeServer() : probeClient();
  if (missing.length > 0) {
    throw grpcInternalsError(missing.join("; "));
  }
  checked[side] = true;
}

// --- The self-check's probes ----------------------------------------------------
//
// Each runs once per side at startup, on objects made for it and dropped:
// nothing here runs per call.

type Constructor = new (...args: unknown[]) => object;

let grpcJsDir: string | null | undefined;

/**
 * A class from one of grpc-js's own files, next to its main file
 * (build/src/), by absolute path; `"not on disk"` when grpc-js cannot be
 * resolved from here at all (bundled into one file, say): the probes that
 * need such a class are then skipped, since the runtime's reaches, on live
 * objects, may still work.
 */
function grpcJsClass(file: string, name: string): Constructor | undefined | "not on disk" {
  if (grpcJsDir === undefined) {
    try {
      grpcJsDir = dirname(requireHere.resolve("@grpc/grpc-js"));
    } catch {
      grpcJsDir = null;
    }
  }
  if (grpcJsDir === null) return "not on disk";
  const exported = (requireHere(join(grpcJsDir, file)) as Record<string, unknown>)[name];
  return typeof exported === "function" ? (exported as Constructor) : undefined;
}

/** Runs each probe; a probe that throws counts as its internal missing. */
function runProbes(probes: Array<[string, () => boolean]>): string[] {
  const missing: string[] = [];
  for (const [name, probe] of probes) {
    try {
      if (!probe()) missing.push(name);
    } catch (thrown) {
      missing.push(`${name} (${thrown instanceof Error ? thrown.message : String(thrown)})`);
    }
  }
  return missing;
}

/** A stand-in for a Node HTTP/2 stream, enough for grpc-js's constructors to attach their listeners. */
function fakeStream(): PassThrough {
  const stream = new PassThrough();
  return Object.assign(stream, { rstCode: undefined, session: undefined, close: ignore });
}

function probeDecoder(decoder: DecoderState | undefined): boolean {
  return (
    decoder?.readState === 0 &&
    typeof decoder.readMessageSize === "number" &&
    typeof decoder.readMessageRemaining === "number"
  );
}

function probeServer(): string[] {
  let chain: "ok" | "no decoder" | "no stream" | undefined;
  const probeChain = () => (chain ??= probeServerChain());
  return runProbes([
    ["Server.http2Servers", () => probeHttp2Servers()],
    [
      "the server call chain: ServerDuplexStreamImpl.call → ServerInterceptingCall.nextCall → " +
        "BaseServerInterceptingCall.stream",
      () => probeChain() !== "no stream",
    ],
    [
      "BaseServerInterceptingCall.decoder (a StreamDecoder with readState, readMessageSize, readMessageRemaining)",
      () => probeChain() !== "no decoder",
    ],
    ["the 'error' listener of ServerWritableStreamImpl and ServerDuplexStreamImpl", () => probeErrorListeners()],
    ["Http2Session[kHandle].ping", () => probeSessionHandle("ping")],
    ["Http2Stream[kHandle]", () => probeStreamHandle()],
    ["Duplex _readableState/_writableState.highWaterMark", () => probeStreamBuffers()],
  ]);
}

function probeStreamBuffers(): boolean {
  const stream = new Duplex({ readableHighWaterMark: 1, writableHighWaterMark: 1 });
  boundStreamBuffers(stream);
  return stream.readableHighWaterMark === STREAM_BUFFER_BYTES && stream.writableHighWaterMark === STREAM_BUFFER_BYTES;
}

function probeClient(): string[] {
  let channel: "ok" | "no child" | "no channel" | undefined;
  const probeChannelOnce = () => (channel ??= probeChannel());
  return runProbes([
    ["ChannelImplementation.internalChannel.createLoadBalancingCall", () => probeChannelOnce() !== "no channel"],
    [
      "LoadBalancingCall.child (assigned by its constructor, not a class field) and LoadBalancingCall.channel",
      () => probeChannelOnce() !== "no child",
    ],
    ["Http2SubchannelCall.http2Stream, .decoder (a StreamDecoder) and .cancelWithStatus", () => probeSubchannelCall()],
    ["Http2SubchannelCall.transport", () => probeTransport()],
    ["Http2Session[kHandle].hasPendingData", () => probeSessionHandle("hasPendingData")],
    ["Http2Stream[kHandle]", () => probeStreamHandle()],
    ["Node's AbortError (from stream.addAbortSignal)", () => nodeAbortError() !== null],
    ["Duplex _readableState/_writableState.highWaterMark", () => probeStreamBuffers()],
  ]);
}

function probeHttp2Servers(): boolean {
  const server = new Server({ "grpc.enable_channelz": 0 });
  return (server as unknown as { http2Servers?: unknown }).http2Servers instanceof Map;
}

/** Builds grpc-js's chain of server calls over a stand-in stream, and walks it as the runtime does. */
function probeServerChain(): "ok" | "no decoder" | "no stream" {
  const Base = grpcJsClass("server-interceptors.js", "BaseServerInterceptingCall");
  const Surface = grpcJsClass("server-call.js", "ServerDuplexStreamImpl");
  if (Base === "not on disk" || Surface === "not on disk") return "ok";
  if (Base === undefined || Surface === undefined) return "no stream";
  const stream = fakeStream();
  const base = new Base(stream, {}, null, { path: PROBE_PATH }, {});
  const surface = new Surface(PROBE_PATH, new ServerInterceptingCall(base as never), new Metadata());
  if (findHttp2Stream(surface) !== (stream as unknown)) return "no stream";
  return probeDecoder(requestDecoder(surface)) ? "ok" : "no decoder";
}

function probeErrorListeners(): boolean {
  const Writable = grpcJsClass("server-call.js", "ServerWritableStreamImpl");
  const Surface = grpcJsClass("server-call.js", "ServerDuplexStreamImpl");
  if (Writable === "not on disk" || Surface === "not on disk") return true;
  if (Writable === undefined || Surface === undefined) return false;
  const call = {};
  const writable = new Writable(PROBE_PATH, call, new Metadata(), undefined) as NodeJS.EventEmitter;
  const duplex = new Surface(PROBE_PATH, call, new Metadata()) as NodeJS.EventEmitter;
  return writable.listenerCount("error") > 0 && duplex.listenerCount("error") > 0;
}

/**
 * Makes a channel (channelz off, never connected) and one `LoadBalancingCall`
 * through its `InternalChannel`, never started; then checks, on a throwaway
 * subclass, that the constructor assigns `child` rather than defining it.
 */
function probeChannel(): "ok" | "no child" | "no channel" {
  const channel = new Channel("localhost:1", credentials.createInsecure(), { "grpc.enable_channelz": 0 });
  const internal = (channel as unknown as { internalChannel?: InternalChannel }).internalChannel;
  const create = internal?.createLoadBalancingCall;
  // Closing the channel closes its internal channel, so only one that has it.
  if (internal === undefined || typeof create !== "function") return "no channel";
  try {
    const args = [{}, PROBE_PATH, "localhost", credentials.createEmpty(), Number.POSITIVE_INFINITY];
    const call = create.apply(internal, args) as object;
    if (!(LOAD_BALANCING_CALL_CHILD in call) || loadBalancingCallChannel(call) !== internal) return "no child";
    const LoadBalancingCall = call.constructor as Constructor;
    let stored = false;
    function Probe(): void {}
    Probe.prototype = Object.create(LoadBalancingCall.prototype, {
      [LOAD_BALANCING_CALL_CHILD]: {
        configurable: true,
        get: () => null,
        set: () => {
          stored = true;
        },
      },
    });
    const probe = Reflect.construct(LoadBalancingCall, [internal, ...args, 0], Probe) as object;
    return stored && !Object.hasOwn(probe, LOAD_BALANCING_CALL_CHILD) ? "ok" : "no child";
  } finally {
    channel.close();
  }
}

function probeSubchannelCall(): boolean {
  const SubchannelCallClass = grpcJsClass("subchannel-call.js", "Http2SubchannelCall");
  if (SubchannelCallClass === "not on disk") return true;
  if (SubchannelCallClass === undefined) return false;
  const stream = fakeStream();
  const transport = { getOptions: () => ({}) };
  const call = new SubchannelCallClass(stream, null, null, transport, 0) as SubchannelCall;
  return (
    subchannelCallStream(call) === stream &&
    probeDecoder(subchannelCallDecoder(call)) &&
    typeof call.cancelWithStatus === "function"
  );
}

/**
 * The transport a subchannel call keeps, on a stand-in. grpc-js does not
 * export its `Http2Transport` class, so `handleDisconnect` itself is checked
 * where it is used, and noted if missing.
 */
function probeTransport(): boolean {
  const SubchannelCallClass = grpcJsClass("subchannel-call.js", "Http2SubchannelCall");
  if (SubchannelCallClass === "not on disk") return true;
  if (SubchannelCallClass === undefined) return false;
  let disconnected = false;
  const transport = { getOptions: () => ({}), handleDisconnect: () => (disconnected = true) };
  const call = new SubchannelCallClass(fakeStream(), null, null, transport, 0) as SubchannelCall;
  return disconnectTransport(call) && disconnected;
}

/** Makes an HTTP/2 client session over a stream that goes nowhere, and looks at its native handle. */
function probeSessionHandle(method: keyof SessionHandle): boolean {
  return withProbeSession((session) => {
    const handle = sessionHandle(session);
    return typeof handle === "object" && typeof handle[method] === "function";
  });
}

/**
 * Opens a stream on such a session (it has its id and handle at once: the
 * session is ready as soon as it is made over a stream that is not
 * connecting), and looks at the stream's native handle.
 */
function probeStreamHandle(): boolean {
  return withProbeSession((session) => {
    const stream = session.request({ ":path": PROBE_PATH });
    stream.on("error", ignore);
    try {
      return typeof streamHandle(stream) === "object";
    } finally {
      stream.destroy();
    }
  });
}

function withProbeSession(probe: (session: ClientHttp2Session) => boolean): boolean {
  const socket = new Duplex({
    read: ignore,
    write: (_chunk, _encoding, callback) => callback(),
  });
  const session = connect("http://leaksafe.invalid", { createConnection: () => socket });
  session.on("error", ignore);
  try {
    return probe(session);
  } finally {
    session.destroy();
    socket.destroy();
  }
}

const PROBE_PATH = "/leaksafe.Probe/Probe";
