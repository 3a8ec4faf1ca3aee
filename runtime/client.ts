import {
  type Channel,
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  credentials,
  type Interceptor,
} from "@grpc/grpc-js";
import type { ChannelCall } from "./client-call.js";
import { callBidi, callClientStream, callServerStream, callUnary } from "./client-calls.js";
import { guardChannel } from "./client-internals.js";
import { closedInFlight } from "./client-status.js";
import type { HooksOption } from "./combine-hooks.js";
import { assertGrpcInternals } from "./grpc-internals-check.js";
import { CLIENT_KEEPALIVE, type KeepaliveOptions, keepaliveOptions } from "./keepalive.js";
import { MAX_TIMER_MS, type StreamLimits } from "./limits.js";
import { type CallRecord, Registry } from "./registry.js";
import { guardResponses } from "./response-guard.js";
import type { ClientOf, MethodDescriptor, ServiceDescriptor } from "./service.js";
import { type LoadBalancing, serviceConfigOption, type UnaryRetry } from "./service-config.js";

/** Options for `createClient`. */
export interface ClientOptions {
  /** Default: insecure (plaintext), as for a loopback or mesh-internal peer. */
  credentials?: ChannelCredentials | undefined;
  /**
   * Keepalive pings while calls are open; default {@link CLIENT_KEEPALIVE}
   * (every 5 min, 20 s to answer). `false` turns them off.
   */
  keepalive?: KeepaliveOptions | false | undefined;
  /** grpc-js channel options (`grpc.*` keys); they override everything else. */
  channelOptions?: ChannelOptions | undefined;
  /**
   * How calls spread over the addresses the target resolves to; default
   * `"pick_first"`, grpc-js's. See {@link LoadBalancing}.
   */
  loadBalancing?: LoadBalancing | undefined;
  /**
   * Retries of the service's unary calls that fail with `UNAVAILABLE` (or
   * the given codes) before the server answered: `true` for
   * `UNARY_RETRY_DEFAULTS`, or settings over them. Default: none
   * beyond grpc-js's transparent retry of calls that never left the client.
   */
  unaryRetry?: UnaryRetry | boolean | undefined;
  /**
   * grpc-js client interceptors; they see every call. leaksafe's own
   * response guard runs inside them, so they see only valid statuses.
   */
  interceptors?: Interceptor[] | undefined;
  /**
   * Hooks for every call this client makes (`onCallStart`, `onCallEnd`,
   * `onMessage`, `onRetry`, `onResumedEnd`): one hooks object, or an array
   * of them, each run in order. Default: none, which costs nothing.
   */
  hooks?: HooksOption | undefined;
  /**
   * How long a call that starts while the channel is not connected waits for
   * a connection before it fails with UNAVAILABLE (reason `peer-gone`),
   * `waitForReady` or not; default {@link CONNECT_TIMEOUT_MS} (20 s), `0`
   * waits for ever, as grpc-js does. Calls on a connected channel pay nothing.
   */
  connectTimeoutMs?: number | undefined;
  /**
   * Defaults for every call of this client where neither the call's options
   * nor the method's .proto policy set a limit; above the built-in defaults.
   */
  limits?: StreamLimits | undefined;
}

/**
 * Until a call commits, grpc-js keeps every message it sends in a buffer for
 * transparent retry (1 MiB by default) and reports each write as done at
 * once, so a client stream gets no backpressure until that buffer is full;
 * past it, each send re-slices the buffer, a quadratic cost. With 1 KiB the
 * call commits after its first messages, and from then on sends wait for the
 * peer. What it gives up: transparent retry of a call that already sent more
 * than 1 KiB when its connection failed before the server answered. Set
 * `channelOptions: { "grpc.per_rpc_retry_buffer_size": … }` to choose otherwise.
 */
const RETRY_BUFFER: ChannelOptions = { "grpc.per_rpc_retry_buffer_size": 1024 };

/** The default `connectTimeoutMs`: gRPC's minimum connect timeout in its C core and grpc-go. */
export const CONNECT_TIMEOUT_MS = 20_000;

/** What every generated client has besides its rpcs. */
export interface ClientBase {
  /**
   * Ends every call in flight, then closes the channel. Before `close()`
   * returns, each pending call has failed with `RpcError` `CANCELLED`
   * (reason `cancelled`): a promise rejects, a stream's reader gets the error
   * on its next read, a resumed stream stops retrying, and each call's
   * RST_STREAM is queued, so its server's `ctx.signal` aborts a round trip
   * later. A call made after `close()` fails with `FAILED_PRECONDITION` and
   * opens nothing. Calling it again does nothing.
   */
  close(): void;
  /** This client's live calls: method, start, messages in and out, deadline. */
  activeStreams(): CallRecord[];
  /** The grpc-js channel underneath, as grpc-js's `Client#getChannel()` gives it (connectivity state, target). */
  getChannel(): Channel;
}

/**
 * Creates a typed client for a generated service descriptor:
 * `createClient(ChatService, "127.0.0.1:50051")` returns a `ChatClient`.
 * Call `close()` when done with it.
 */
export function createClient<S extends ServiceDescriptor>(
  service: S,
  address: string,
  options: ClientOptions = {},
): ClientOf<S> {
  assertGrpcInternals("client");
  const channelOptions: ChannelOptions = {
    ...keepaliveOptions(CLIENT_KEEPALIVE, options.keepalive),
    ...RETRY_BUFFER,
    ...serviceConfigOption(service, options.loadBalancing, options.unaryRetry),
    ...options.channelOptions,
  };
  // The guard goes last, innermost: it sees the channel's status first.
  channelOptions.interceptors = [...(options.interceptors ?? channelOptions.interceptors ?? []), guardResponses];
  const channel = new Client(address, options.credentials ?? credentials.createInsecure(), channelOptions);
  guardChannel(channel);
  const registry = new Registry(options.hooks, "client", "createClient's hooks");
  registry.channelTarget = channel.getChannel().getTarget();
  const target: ChannelCall = {
    channel,
    registry,
    peer: address,
    defaults: options.limits,
    inFlight: new Set(),
    closed: false,
    connectTimeoutMs: connectTimeout(options.connectTimeoutMs),
  };
  const client: Record<string, unknown> = {
    close: () => closeClient(target),
    activeStreams: () => registry.snapshot(),
    getChannel: () => channel.getChannel(),
  };
  for (const [name, method] of Object.entries(service)) {
    client[name] = bindMethod(target, method);
  }
  return client as ClientOf<S>;
}

function connectTimeout(ms: number | undefined): number {
  if (ms === undefined) {
    return CONNECT_TIMEOUT_MS;
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS) {
    throw new RangeError(`connectTimeoutMs must be a number of milliseconds from 0 to ${MAX_TIMER_MS}, not ${ms}`);
  }
  return ms;
}

function closeClient(target: ChannelCall): void {
  if (target.closed) {
    return;
  }
  target.closed = true;
  // Each call cancels its grpc-js call as it fails, before the channel closes.
  for (const call of [...target.inFlight]) {
    call.end(closedInFlight());
  }
  target.channel.close();
}

function bindMethod(target: ChannelCall, method: MethodDescriptor): unknown {
  switch (method.kind) {
    case "unary":
      return callUnary.bind(undefined, target, method);
    case "server-streaming":
      return callServerStream.bind(undefined, target, method);
    case "client-streaming":
      return callClientStream.bind(undefined, target, method);
    case "bidi":
      return callBidi.bind(undefined, target, method);
  }
}
