/**
 * Keeps a Node HTTP/2 session's native object alive until the native
 * objects of its streams that closed abnormally have been freed, so that
 * garbage collection cannot abort the process on Node 20.
 *
 * The abort: `Assertion failed: (current_nghttp2_memory_) == (0)` in
 * `node::http2::Http2Session::~Http2Session()`, from a garbage collection.
 * A stream whose header block is refused part-way (more fields than
 * `maxHeaderListPairs`, or over `maxHeaderListSize`, or the session's
 * memory limit: RST_STREAM ENHANCE_YOUR_CALM, and then perhaps nghttp2
 * ending the session on the rest of the block) keeps the fields it had
 * accepted, in buffers counted against its session, until its native
 * object is deleted. Node deletes a destroyed stream's native object on
 * the next turn of the loop, unless DATA of that stream is still being
 * written to the socket then (a write the kernel did not take whole): it
 * then leaves it to the garbage collector. When one collection finds both
 * the session and that stream unreachable, and runs the session's weak
 * callback first, the session's destructor sees those buffers still
 * counted and aborts. A peer can bring that about at will: stop reading,
 * then send trailers with too many fields
 * (test/hostile/refused-trailers-gc.test.ts). Node 20.20 aborts; Node
 * 22.23 and 24.22 do not, so the guard runs on Node 20 (and 21) only.
 *
 * The guard: at each stream's start its native handle and its session's
 * are noted; when the stream closes abnormally (reset, or destroyed before
 * its readable side ended) the stream's handle is registered with a
 * FinalizationRegistry whose held value is the session's handle. The
 * registry holds that value strongly, so the native session lives until
 * the stream's handle has been collected, which happens only once its
 * native object was deleted. A stream that closes normally registers
 * nothing. The handles come through `streamHandle` and `sessionHandle`
 * (grpc-internals.ts).
 *
 * The handles must not stay reachable from the stream once it closed:
 * Node roots a session's JS object from native code while a SETTINGS frame
 * of it waits for its ACK (a peer that never reads never sends one), and a
 * listener of the session may reach the stream, so a stream listener
 * holding the stream's handle would keep it, and with it the session, for
 * ever. So the listener below drops them as it registers. Even so, a
 * listener of the session that reaches the stream, and a path from the
 * stream to its handle, would keep both for ever: Node 24 keeps one
 * (`writeErr` in the stream's state holds the failed write's request,
 * whose `handle` is the stream's), one more reason to leave the Node
 * versions that do not abort alone.
 */

import type { Http2Stream } from "node:http2";
import { constants } from "node:http2";
import { noteMissing, sessionHandle, streamHandle } from "./grpc-internals.js";

/** Node 22 and later delete such a stream without aborting (checked on 22.23.5 and 24.22.3). */
const NEEDED = Number(process.versions.node.split(".")[0]) < 22;

/**
 * Each entry: a stream's native handle (weak), holding its session's native
 * handle (strong) until the stream's has been collected; the callback has
 * nothing to do but let the entry go.
 */
const sessionsPastStreams = new FinalizationRegistry<object>(() => {});

/** The two native handles of a stream, noted at its start. */
interface Handles {
  stream: object;
  session: object;
}

/**
 * Watches one HTTP/2 stream: if it closes abnormally, its session's native
 * object is kept until the stream's native object has been freed. Costs a
 * 'close' listener per stream, and nothing more unless the stream closes
 * abnormally. A client stream still pending (no id yet) is watched from
 * its 'ready'.
 */
export function holdSessionPastStream(stream: Http2Stream): void {
  if (!NEEDED) {
    return;
  }
  let handles: Handles | undefined;
  const note = (): void => {
    handles = nativeHandles(stream);
  };
  if (stream.pending) {
    stream.once("ready", note);
  } else {
    note();
  }
  // `on`, not `once`: a stream closes once, and `once` costs a wrapper per stream.
  stream.on("close", () => {
    const noted = handles;
    handles = undefined;
    if (noted === undefined || closedCleanly(stream)) {
      return;
    }
    sessionsPastStreams.register(noted.stream, noted.session);
  });
}

/** A stream that ended both ways with no reset has no header block left half-read. */
function closedCleanly(stream: Http2Stream): boolean {
  return stream.rstCode === constants.NGHTTP2_NO_ERROR && stream.readableEnded;
}

function nativeHandles(stream: Http2Stream): Handles | undefined {
  const own = streamHandle(stream);
  const session = stream.session === undefined ? undefined : sessionHandle(stream.session);
  if (own === "no symbol" || session === "no symbol") {
    noteMissing("Http2Stream[kHandle]");
    return undefined;
  }
  if (own === undefined || session === undefined) {
    return undefined;
  }
  return { stream: own, session };
}
