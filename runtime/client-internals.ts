/**
 * The checks a leaksafe client adds under grpc-js, on each attempt's HTTP/2
 * stream. The reaches into grpc-js's and Node's internals that they need
 * are accessors in grpc-internals.ts, which says what each relies on, and
 * whose self-check `createClient()` runs first. If one is missing at a call
 * anyway, that check is skipped and the client works as plain grpc-js
 * would, never crashing; `missingGrpcInternals()` names what was missing,
 * and the hostile-peer tests fail loudly.
 *
 * What it adds to each call, per HTTP/2 stream and never per message:
 * - a `grpc-status` that is not a decimal code from 0 to 16 becomes
 *   `UNKNOWN` before grpc-js reads it (grpc-js reads it with `Number()`, so
 *   `""` and `0x0` were an OK);
 * - a response stream that ends inside a message fails with `INTERNAL`
 *   (grpc-js dropped the partial bytes and ended normally);
 * - a stream on an HTTP/2 session that nghttp2 has ended by itself fails
 *   with `INTERNAL` at once, and the session is destroyed, so that the
 *   channel connects again (nothing told grpc-js, and every call on it hung);
 * - a cancel before the request stream ended sends RST_STREAM alone, as the
 *   session promised the server (reset-only.ts), so that a leaksafe server
 *   need not wait two PING round trips to trust an END_STREAM;
 * - a stream that closes abnormally keeps its session's native object alive
 *   until its own is freed (session-hold.ts): on Node 20 a garbage
 *   collection could otherwise abort the process.
 */

import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type Http2Session,
  type IncomingHttpHeaders,
} from "node:http2";
import type { Client } from "@grpc/grpc-js";
import {
  boundStreamBuffers,
  cutShort,
  disconnectTransport,
  hasDecoderState,
  internalChannelOf,
  LOAD_BALANCING_CALL_CHILD,
  loadBalancingCallChannel,
  noteMissing,
  replaceLoadBalancingCall,
  type SubchannelCall,
  sessionHasPendingData,
  subchannelCallDecoder,
  subchannelCallStream,
} from "./grpc-internals.js";
import { cancelWithResetOnly, madeResetOnlyPromise, promiseResetOnly } from "./reset-only.js";
import { Status } from "./rpc-error.js";
import { holdSessionPastStream } from "./session-hold.js";

/** The internal channels already guarded. */
const guarded = new WeakSet<object>();

/**
 * Installs the checks on every call of a grpc-js client's channel. A channel
 * without these internals (a `channelOverride` of another kind, or a grpc-js
 * release that moved them) is left as it is, and named by
 * {@link missingClientInternals}.
 *
 * Relies on: `ChannelImplementation.internalChannel` (private), the
 * `InternalChannel` behind a `Client`, and its method
 * `createLoadBalancingCall`, through which grpc-js's `RetryingCall` makes
 * every attempt of every call. The wrapper is an own property of this
 * channel's object. The first call it makes puts an accessor for `child` on
 * grpc-js's `LoadBalancingCall.prototype` (see {@link watchChildren}); a
 * call of a channel not guarded here only stores its child through it.
 * (`internalChannelOf`, `replaceLoadBalancingCall` and
 * `LOAD_BALANCING_CALL_CHILD`, grpc-internals.ts.)
 */
export function guardChannel(client: Client): void {
  const internal = internalChannelOf(client);
  const create = internal?.createLoadBalancingCall;
  if (internal === undefined || typeof create !== "function") {
    noteMissing("ChannelImplementation.internalChannel.createLoadBalancingCall");
    return;
  }
  // A channel given to several clients (a `channelOverride`) is guarded once.
  if (guarded.has(internal)) {
    return;
  }
  guarded.add(internal);
  replaceLoadBalancingCall(internal, function createGuardedCall(this: unknown, ...args: unknown[]): unknown {
    const call: unknown = create.apply(this, args);
    if (typeof call === "object" && call !== null) {
      const prototype = Object.getPrototypeOf(call) as object;
      if (!watchedPrototypes.has(prototype)) {
        // The first call of its class, made before the accessor existed: watched on its own.
        const hasChild = Object.hasOwn(call, LOAD_BALANCING_CALL_CHILD);
        watchChild(call);
        if (hasChild) watchChildren(prototype);
      }
    }
    return call;
  });
}

/** Where a `LoadBalancingCall` keeps its child once the accessor below is in place. */
const CHILD = Symbol("leaksafe.child");
const watchedPrototypes = new WeakSet<object>();

/**
 * Puts an accessor for `child` on `LoadBalancingCall.prototype`, once. grpc-js
 * assigns the field (`this.child = null` in the constructor, after
 * `this.channel`), so from then on each new call stores its child through
 * the setter, which guards it when the call's `channel` is guarded. A
 * prototype accessor keeps every call object in its fast shape, where
 * redefining a field on each object ({@link watchChild}) costs two
 * `defineProperty` calls and a dictionary-mode object per call.
 */
function watchChildren(prototype: object): void {
  if (Object.hasOwn(prototype, LOAD_BALANCING_CALL_CHILD)) {
    return;
  }
  watchedPrototypes.add(prototype);
  Object.defineProperty(prototype, LOAD_BALANCING_CALL_CHILD, {
    configurable: true,
    get(this: { [CHILD]?: unknown }): unknown {
      return this[CHILD];
    },
    set(this: { [CHILD]?: unknown }, value: unknown) {
      this[CHILD] = value;
      if (typeof value !== "object" || value === null) {
        return;
      }
      if (guarded.has(loadBalancingCallChannel(this) as object)) {
        guardChild(value as SubchannelCall);
      } else {
        keepResetOnlyPromise(value as SubchannelCall);
      }
    },
  });
}

/**
 * Catches the moment grpc-js opens an attempt's HTTP/2 stream: a
 * `LoadBalancingCall` stores its `Http2SubchannelCall` in its private field
 * `child` (null until the pick completes), synchronously after
 * `session.request()`, so no response event can have fired yet. The field
 * becomes an accessor until that store, then a plain field again. The
 * redefinition leaves that one object in V8's dictionary mode, so grpc-js's
 * reads of its fields on the message path cost a little more (tens of
 * nanoseconds a message in a micro-benchmark); this file adds no work per
 * message.
 */
function watchChild(call: object): void {
  if (!(LOAD_BALANCING_CALL_CHILD in call)) {
    noteMissing("LoadBalancingCall.child");
    return;
  }
  Object.defineProperty(call, LOAD_BALANCING_CALL_CHILD, {
    configurable: true,
    enumerable: true,
    get: () => null,
    set(value: unknown) {
      Object.defineProperty(call, LOAD_BALANCING_CALL_CHILD, {
        value,
        writable: true,
        configurable: true,
        enumerable: true,
      });
      if (typeof value === "object" && value !== null) {
        guardChild(value as SubchannelCall);
      }
    },
  });
}

/**
 * Guards an attempt's subchannel call. This runs inside grpc-js's pick
 * callback, where a throw would become an unhandled rejection: a surprise
 * here only disarms.
 */
function guardChild(call: SubchannelCall): void {
  try {
    guardStream(call);
  } catch (thrown) {
    noteMissing(`guarding an Http2SubchannelCall (${String(thrown)})`);
  }
}

function guardStream(call: SubchannelCall): void {
  const stream = subchannelCallStream(call);
  if (!isClientStream(stream) || typeof call.cancelWithStatus !== "function") {
    noteMissing("Http2SubchannelCall.http2Stream");
    return;
  }
  boundStreamBuffers(stream);
  holdSessionPastStream(stream);
  // Prepended, so that grpc-js's own listeners, added when it made the call,
  // read the headers after the check and see the end after it.
  let statusArrived = false;
  stream.prependListener("response", (headers: IncomingHttpHeaders, flags: number) => {
    if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
      statusArrived = true;
      checkStatusHeader(headers);
    }
  });
  stream.prependListener("trailers", (headers: IncomingHttpHeaders) => {
    statusArrived = true;
    checkStatusHeader(headers);
  });
  if (hasDecoderState(subchannelCallDecoder(call))) {
    // Only a stream that the server ended with a status is judged: one that
    // it reset ends inside a message too (when its reader had stopped, say),
    // and grpc-js reports that from the reset.
    stream.prependOnceListener("end", () => {
      const cut = statusArrived ? responseCutShort(call) : undefined;
      if (cut !== undefined) {
        call.cancelWithStatus(Status.INTERNAL, cut);
      }
    });
  } else {
    noteMissing("Http2SubchannelCall.decoder.readState");
  }
  watchSession(stream, call);
  if (stream.session !== undefined && promiseResetOnly(stream.session as ClientHttp2Session)) {
    cancelWithResetOnly(stream);
  }
}

/**
 * A call of a channel that is not guarded may share a session with guarded
 * ones (grpc-js pools subchannels across channels): once the session
 * carries leaksafe's promise (reset-only.ts), its cancels keep it too.
 */
function keepResetOnlyPromise(call: SubchannelCall): void {
  const stream = subchannelCallStream(call);
  if (isClientStream(stream) && madeResetOnlyPromise(stream.session)) {
    cancelWithResetOnly(stream);
  }
}

function isClientStream(value: unknown): value is ClientHttp2Stream {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ClientHttp2Stream).prependListener === "function" &&
    "rstCode" in value
  );
}

/** The gRPC spec's `grpc-status`: 1*DIGIT; and a code is at most 16. */
const STATUS_DIGITS = /^[0-9]+$/;

/**
 * Rewrites, in place, trailers whose `grpc-status` is not a decimal code
 * from 0 to 16 into `UNKNOWN` with a `grpc-message` that quotes the value
 * sent, and the server's own message. Relies on grpc-js's
 * `Http2SubchannelCall.handleTrailers` reading the same headers object
 * (Node passes one object to every listener of 'trailers', and of
 * 'response' for a trailers-only response), and decoding `grpc-message`
 * with `decodeURI`, which reverses `encodeURI`.
 */
function checkStatusHeader(headers: IncomingHttpHeaders): void {
  const raw: unknown = headers["grpc-status"];
  if (raw === undefined || (typeof raw === "string" && STATUS_DIGITS.test(raw) && Number(raw) <= 16)) {
    return;
  }
  const sent = Array.isArray(raw) ? raw.join(", ") : String(raw);
  const message = headers["grpc-message"];
  const said = typeof message === "string" && message !== "" ? `; its grpc-message: ${decodeMessage(message)}` : "";
  const details = `the server sent a grpc-status that is not a decimal code from 0 to 16: ${JSON.stringify(sent)}`;
  headers["grpc-status"] = String(Status.UNKNOWN);
  try {
    headers["grpc-message"] = encodeURI(details + said);
  } catch {
    // A lone surrogate cannot be percent-encoded; JSON.stringify escaped any in `sent`.
    headers["grpc-message"] = encodeURI(details);
  }
}

function decodeMessage(message: string): string {
  try {
    return decodeURI(message);
  } catch {
    return message;
  }
}

/**
 * Why a response stream that has ended was cut short inside a message, or
 * undefined when it ended between messages. At 'end' grpc-js has written
 * every DATA frame to its decoder, which holds a partial message's bytes
 * and would drop them.
 */
function responseCutShort(call: SubchannelCall): string | undefined {
  return cutShort(subchannelCallDecoder(call), "response");
}

/**
 * How often a session with guarded streams open is checked. The state it
 * finds never heals, so this bounds how long such a call waits.
 */
const SESSION_CHECK_MS = 200;

/** The details of a call on a session that nghttp2 ended by itself. */
const SESSION_ENDED =
  "the HTTP/2 connection is dead: nghttp2 ended the session on a frame from the server that it could not accept " +
  "(a header field over 64 KiB once compressed, in the trailers for one), sent GOAWAY and stopped reading, " +
  "and neither Node nor grpc-js reports that";

/** A session's guarded streams that are open, and whether its peer sent GOAWAY. */
interface SessionStreams {
  session: Http2Session;
  streams: Map<ClientHttp2Stream, SubchannelCall>;
  goaway: boolean;
  /** Whether grpc-js's transport was told that the session is destroyed. */
  transportTold: boolean;
}

/** Each session's state, made once, with its one 'goaway' listener. */
const states = new WeakMap<Http2Session, SessionStreams>();
/** The sessions that have guarded streams open: only these are checked. */
const watched = new Set<SessionStreams>();
let checking: NodeJS.Timeout | undefined;

/**
 * Watches the session under a guarded stream while the stream is open.
 *
 * nghttp2 ends a session by itself, without telling Node, when it cannot
 * decode a header block: a header field over 64 KiB once compressed
 * (NGHTTP2_HD_MAX_NV) is a COMPRESSION_ERROR, and so are 512 KiB of
 * trailers in one field. It sends GOAWAY, then wants neither to read nor to
 * write; Node then stops reading the socket and emits nothing, on the
 * session or the stream, so grpc-js waits for trailers that never come, its
 * subchannel stays READY, and every later call on it hangs too.
 *
 * Relies on the native `hasPendingData()` of the session
 * (`sessionHasPendingData`, grpc-internals.ts), which is false once nghttp2
 * wants neither to read nor to write. With a guarded stream open and no
 * GOAWAY received, that is the state after nghttp2 ended the session.
 */
function watchSession(stream: ClientHttp2Stream, call: SubchannelCall): void {
  const session = stream.session;
  if (session === undefined) {
    return;
  }
  const open = states.get(session) ?? sessionStreams(session);
  open.streams.set(stream, call);
  watched.add(open);
  stream.once("close", () => {
    open.streams.delete(stream);
    if (session.destroyed) {
      tellTransport(open, call);
    }
    if (open.streams.size === 0) {
      // The interval stops at its next tick if nothing is watched then:
      // calls made one after another do not each start and stop a timer.
      watched.delete(open);
    }
  });
  if (checking === undefined) {
    checking = setInterval(checkSessions, SESSION_CHECK_MS);
    checking.unref();
  }
}

/**
 * Makes a session's state and its 'goaway' listener, in a function of its
 * own: a listener made in {@link watchSession} would keep that call's
 * stream reachable from the session for as long as the session lives.
 */
function sessionStreams(session: Http2Session): SessionStreams {
  const created: SessionStreams = { session, streams: new Map(), goaway: false, transportTold: false };
  session.once("goaway", () => {
    created.goaway = true;
  });
  states.set(session, created);
  return created;
}

function stopChecking(): void {
  if (watched.size === 0 && checking !== undefined) {
    clearInterval(checking);
    checking = undefined;
  }
}

function checkSessions(): void {
  for (const open of watched) {
    try {
      endIfDead(open);
    } catch (thrown) {
      // A timer callback that throws would end the process: a surprise here only disarms.
      watched.delete(open);
      noteMissing(`checking an HTTP/2 session (${String(thrown)})`);
    }
  }
  stopChecking();
}

function endIfDead(open: SessionStreams): void {
  const { session } = open;
  if (open.goaway || session.closed || session.destroyed || sessionHasPendingData(session) !== false) {
    return;
  }
  watched.delete(open);
  // The status first, so that it is the one each call ends with, then the
  // session: destroying it closes its streams and socket, and grpc-js's
  // transport, told by its 'close', connects again for the next call.
  const calls = [...open.streams.values()];
  for (const call of calls) {
    call.cancelWithStatus(Status.INTERNAL, SESSION_ENDED);
  }
  session.destroy();
  if (calls[0] !== undefined) tellTransport(open, calls[0]);
}

/**
 * Tells grpc-js's transport at once that a session is destroyed, when Node
 * destroyed it (on an error of nghttp2's, say) or the check above did.
 * grpc-js learns it from the session's 'close' or 'error', which Node emits
 * only once the socket has closed. Until then grpc-js keeps the subchannel
 * READY, and since Node 24 `session.request()` on a destroyed session no
 * longer throws (grpc-js caught that and reconnected) but returns a stream
 * that fails: a call made meanwhile, even one started from the previous
 * call's error, failed with INTERNAL "The session has been destroyed"
 * instead of connecting again. Once per session.
 */
function tellTransport(open: SessionStreams, call: SubchannelCall): void {
  if (open.transportTold) return;
  open.transportTold = true;
  if (!disconnectTransport(call)) {
    noteMissing("Http2Transport.handleDisconnect");
  }
}
