import {
  ServerCredentials as Credentials,
  type ServerOptions as GrpcServerOptions,
  Server,
  type ServerCredentials,
  type ServerInterceptor,
} from "@grpc/grpc-js";
import type { HooksOption } from "./combine-hooks.js";
import { type ConnectionLimits, checked, connectionOptions } from "./connection-limits.js";
import type { RecentEnds } from "./end-log.js";
import { assertGrpcInternals } from "./grpc-internals-check.js";
import { type Health, HealthStatuses, serviceNames } from "./health.js";
import { type KeepaliveOptions, keepaliveOptions, SERVER_KEEPALIVE } from "./keepalive.js";
import { MAX_TIMER_MS, type ResolvedLimits, resolveLimits, type StreamLimits } from "./limits.js";
import { type CallRecord, Registry } from "./registry.js";
import { RequestWaits } from "./request-wait.js";
import { RpcError, Status } from "./rpc-error.js";
import { adaptMethod } from "./server-handlers.js";
import type { ServerCallLimits, ServerScope } from "./server-open.js";
import { ServerSessions } from "./server-sessions.js";
import type { ImplementationOf, MethodKind, ServiceDescriptor } from "./service.js";
import { UnservedCalls } from "./unserved-calls.js";

/**
 * Options for `createServer`. `idleConnectionMs` and `maxConcurrentStreams`
 * are described in {@link ConnectionLimits}, with their defaults in
 * {@link CONNECTION_DEFAULTS}.
 */
export interface ServerOptions extends ConnectionLimits {
  /**
   * Keepalive pings to clients; default {@link SERVER_KEEPALIVE} (every 30 s,
   * 10 s to answer). `false` turns them off.
   */
  keepalive?: KeepaliveOptions | false | undefined;
  /**
   * Hooks for every call this server serves (`onCallStart`, `onCallEnd`,
   * `onMessage`), and for calls to methods it does not serve
   * (`onUnservedCall`): one hooks object, or an array of them, each run in
   * order. Default: none, which costs nothing.
   */
  hooks?: HooksOption | undefined;
  /** grpc-js server interceptors; they see every call before leaksafe does. */
  interceptors?: ServerInterceptor[] | undefined;
  /** grpc-js server options (`grpc.*` keys); they override everything else. */
  grpcOptions?: GrpcServerOptions | undefined;
  /**
   * Ends each server-streaming call once it is this old, in ms (±10 %),
   * with UNAVAILABLE (reason `shutdown` on this side); `0` never does.
   * Default 0. A leaksafe client resumes a resumable stream at once, with
   * nothing lost, and its new attempt is balanced afresh: with several
   * replicas behind `loadBalancing: "round_robin"`, long-lived watches
   * spread evenly again after a restart within about one age. A client
   * that does not resume sees the UNAVAILABLE, so set it for services
   * whose streams are resumable. The health service's Watch is exempt.
   */
  maxStreamAgeMs?: number | undefined;
  /**
   * Serves `grpc.health.v1` (Check, Watch and List) from `server.health`.
   * Needs `@bufbuild/protobuf`, loaded when the server listens.
   */
  health?: boolean | undefined;
  /**
   * Serves server reflection, `grpc.reflection.v1` and `v1alpha`, for every
   * service added (health and reflection included), from the descriptors
   * the plugin writes into the generated code. Default false. Needs
   * `@bufbuild/protobuf`, loaded when the server listens.
   */
  reflection?: boolean | undefined;
}

/**
 * Stream limits for every method of one service, in milliseconds; `0`
 * disables one. They take precedence over the .proto policy and the
 * built-in defaults. `timeoutMs` is capped by the client's own deadline.
 */
export type ServiceLimits = StreamLimits;

/** A call that shutdown had to force, as the report lists it. */
export interface ForcedCall {
  method: string;
  peer: string;
  /** How long the call had been open when it was forced, in ms. */
  ageMs: number;
}

/** What `shutdown` resolves to. */
export interface ShutdownReport {
  /**
   * Calls in flight when shutdown began that ended within the grace period,
   * those of handlers added on `grpcServer` directly included.
   */
  finished: number;
  /** Calls still open when the grace period ran out; they were cancelled. */
  forced: ForcedCall[];
  /** How long shutdown took, in ms. */
  durationMs: number;
}

/**
 * Where a server is in its life: "created" until `listen` binds, then
 * "listening"; "draining" from the call to `shutdown` until it resolves,
 * then "stopped".
 */
export type ServerState = "created" | "listening" | "draining" | "stopped";

/** A leaksafe server. */
export interface LeaksafeServer {
  /** Serves a generated service with `implementation`. Returns the server, for chaining. */
  add<S extends ServiceDescriptor>(service: S, implementation: ImplementationOf<S>, limits?: ServiceLimits): this;
  /** Binds `address` ("127.0.0.1:0" picks a free port) and resolves to the bound port. */
  listen(address: string, credentials?: ServerCredentials): Promise<number>;
  /**
   * Stops the server, and always finishes: the grace period (`graceMs`,
   * default 5000) counts from this call, and it resolves within `graceMs`
   * + 10 ms + 0.1 ms for each call, and each HTTP/2 stream a peer holds,
   * still open when the grace runs out (a peer that never reads or never
   * half-closes keeps its streams open after their calls ended; each is
   * torn down then). With source maps enabled (tsx, --enable-source-maps),
   * the first forced shutdown in a process can take up to about 100 ms
   * more, parsing source maps to format a Node error's stack:
   * - new calls are refused with UNAVAILABLE, and clients get GOAWAY;
   * - streaming calls end at once: `ctx.signal` aborts with reason
   *   `shutdown`, and the client gets UNAVAILABLE;
   * - unary calls may finish within the grace period; when it runs out,
   *   they and anything else still open are forced.
   * - every connection is closed by the time it resolves: its socket is
   *   destroyed, even if the peer ignored the GOAWAY.
   * Resolves to a report of what finished and what was forced. Calling it
   * again returns the same promise.
   */
  shutdown(options?: { graceMs?: number }): Promise<ShutdownReport>;
  /** The live calls, with the state that tells which side of a stuck stream waits. */
  activeStreams(): CallRecord[];
  /**
   * The calls that ended since the server was created: a count per reason,
   * and the newest 100 (`RECENT_ENDS`), newest first. Kept at O(1) per call.
   */
  recentEnds(): RecentEnds;
  /**
   * The limits in force for a method served here, by its gRPC path
   * ("/example.v1.Chat/Watch"), or undefined for a path not served. A
   * call's total deadline may be shorter: the client's own deadline caps it.
   */
  limitsOf(path: string): ResolvedLimits | undefined;
  /** Where the server is in its life; see {@link ServerState}. */
  readonly state: ServerState;
  /**
   * The underlying grpc-js server, for what leaksafe does not wrap. A
   * handler added on it directly gets none of leaksafe's limits, hooks or
   * registry entries; shutdown still ends its calls with the grace, and its
   * report counts them by their HTTP/2 streams, forced ones by path.
   */
  readonly grpcServer: Server;
  /**
   * The statuses `grpc.health.v1` reports when the server has `health: true`.
   * Listening sets the whole server (`""`) and each service added to
   * SERVING, unless set already; shutdown's first step sets every status to
   * NOT_SERVING, and the open Watches then end.
   */
  readonly health: Health;
}

/** The health service's module, which needs `@bufbuild/protobuf`: a clear error when that is missing. */
async function loadHealthService(): Promise<typeof import("./health-service.js")> {
  try {
    return await import("./health-service.js");
  } catch (cause) {
    throw new Error(
      `createServer({ health: true }) needs the package @bufbuild/protobuf, for the health service's messages; install it beside leaksafe (${String(cause)})`,
      { cause },
    );
  }
}

/** The reflection service's module, which needs `@bufbuild/protobuf`: a clear error when that is missing. */
async function loadReflectionService(): Promise<typeof import("./reflection-service.js")> {
  try {
    return await import("./reflection-service.js");
  } catch (cause) {
    throw new Error(
      `createServer({ reflection: true }) needs the package @bufbuild/protobuf, for the reflection service's messages; install it beside leaksafe (${String(cause)})`,
      { cause },
    );
  }
}

/**
 * Limits of the reflection streams: one lasts as long as its client asks
 * questions, ends after the default idle time without one, and always ends
 * at shutdown.
 */
const REFLECTION_LIMITS: ServiceLimits = { timeoutMs: 0 };

/** Limits of the health service: a Watch lasts as long as its client wants, and always ends at shutdown. */
const HEALTH_LIMITS: ServiceLimits = { timeoutMs: 0 };

/** The limits objects of the services the server adds itself; `maxStreamAgeMs` leaves them alone. */
const OWN_SERVICES = new Set([HEALTH_LIMITS, REFLECTION_LIMITS]);

/** Creates a server. Add services with `.add`, then `.listen`. */
export function createServer(options: ServerOptions = {}): LeaksafeServer {
  assertGrpcInternals("server");
  const registry = new Registry(options.hooks, "server", "createServer's hooks");
  const streamAge = checked("maxStreamAgeMs", options.maxStreamAgeMs ?? 0, MAX_TIMER_MS);
  const scope: ServerScope = {
    registry,
    live: new Set(),
    stopping: undefined,
    takeWaiting: (call) => waits.take(call),
  };
  const waits = new RequestWaits(scope);
  const grpcOptions: GrpcServerOptions = {
    ...keepaliveOptions(SERVER_KEEPALIVE, options.keepalive),
    ...connectionOptions(options),
    ...options.grpcOptions,
    // The request wait is the innermost, so it sees every status sent before a handler runs.
    interceptors: [waits.interceptor, ...(options.interceptors ?? []), ...(options.grpcOptions?.interceptors ?? [])],
  };
  const server = new Server(grpcOptions);
  /** The path of every method of every service added. */
  const paths = new Set<string>();
  const sessions = new ServerSessions((path) => paths.has(path));
  const health = new HealthStatuses();
  const onUnserved = registry.hooks.onUnservedCall;
  const unserved =
    onUnserved === undefined
      ? undefined
      : new UnservedCalls(
          onUnserved,
          (path) => waits.methods.has(path),
          (path) => paths.has(path),
        );
  let healthAdded = false;
  /** Every service added, in order, for reflection. */
  const services: ServiceDescriptor[] = [];
  let reflectionAdded = false;
  let stopping: Promise<ShutdownReport> | undefined;
  let state: ServerState = "created";

  const self: LeaksafeServer = {
    grpcServer: server,
    health,
    add(service, implementation, limits) {
      const impl = implementation as Record<string, unknown>;
      // No prototype: grpc-js looks a method up here by its .proto name too,
      // and an unserved rpc named like `toString` must find nothing.
      const handlers: Record<string, ReturnType<typeof adaptMethod>> = Object.create(null);
      for (const [name, method] of Object.entries(service)) {
        paths.add(method.path);
        const fn = impl[name];
        if (fn === undefined) {
          continue; // grpc-js answers UNIMPLEMENTED, as for any method nobody serves
        }
        if (typeof fn !== "function") {
          throw new TypeError(`the implementation's "${name}" for ${method.path} is not a function`);
        }
        const resolved: ServerCallLimits = serverLimits(method.kind, limits, method.policy);
        // The server's own services (known by their private limits) are not aged:
        // a health Watch, which client-side health checking holds, stays open.
        if (method.kind === "server-streaming" && streamAge > 0 && !OWN_SERVICES.has(limits as ServiceLimits)) {
          resolved.maxStreamAgeMs = streamAge;
        }
        waits.methods.set(method.path, { method, limits: resolved });
        handlers[name] = adaptMethod(method, fn.bind(implementation), resolved, scope);
      }
      server.addService(service, handlers);
      services.push(service);
      return self;
    },
    async listen(address, credentials) {
      if (options.health === true && !healthAdded) {
        const { HealthService, healthImplementation } = await loadHealthService();
        self.add(HealthService, healthImplementation(health), HEALTH_LIMITS);
        healthAdded = true;
      }
      if (options.reflection === true && !reflectionAdded) {
        const reflection = await loadReflectionService();
        const implementation = reflection.reflectionImplementation(services);
        self.add(reflection.ServerReflectionService, implementation, REFLECTION_LIMITS);
        self.add(reflection.ServerReflectionV1alphaService, implementation, REFLECTION_LIMITS);
        reflectionAdded = true;
      }
      const port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(address, credentials ?? Credentials.createInsecure(), (error, port) => {
          if (error !== null) {
            reject(error);
            return;
          }
          try {
            sessions.watch(server);
            unserved?.watch(server);
            resolve(port);
          } catch (failure) {
            server.forceShutdown();
            reject(failure);
          }
        });
      });
      if (stopping === undefined) {
        state = "listening";
        health.listening(serviceNames(paths));
      }
      return port;
    },
    shutdown({ graceMs = 5000 } = {}) {
      if (stopping === undefined) {
        state = "draining";
        stopping = drain(server, scope, sessions, health, graceMs).finally(() => {
          state = "stopped";
        });
      }
      return stopping;
    },
    activeStreams() {
      return registry.snapshot();
    },
    recentEnds() {
      return registry.ends.snapshot();
    },
    limitsOf(path) {
      const limits = waits.methods.get(path)?.limits;
      return limits === undefined ? undefined : { ...limits };
    },
    get state() {
      return state;
    },
  };
  return self;
}

/**
 * A server method's limits. A unary method has no default total deadline, as
 * in grpc-js, but its request must arrive and its response be taken within
 * the streaming defaults of `idleTimeoutMs` and `sendTimeoutMs`, so that no
 * peer can hold one by sending or reading nothing.
 */
function serverLimits(kind: MethodKind, ...sources: Array<StreamLimits | undefined>): ResolvedLimits {
  const streaming = resolveLimits(true, ...sources);
  return kind === "unary" ? { ...streaming, timeoutMs: resolveLimits(false, ...sources).timeoutMs } : streaming;
}

/**
 * How many streams shutdown ends between two turns of the event loop, so
 * that the grace clock, the unary calls finishing and the network keep
 * running while it ends a large set.
 */
const END_BATCH = 256;

async function drain(
  server: Server,
  scope: ServerScope,
  sessions: ServerSessions,
  health: HealthStatuses,
  graceMs: number,
): Promise<ShutdownReport> {
  const startedAt = Date.now();
  // Calls of handlers added on grpcServer directly count too, by their streams.
  const inFlight = scope.registry.size + sessions.untrackedCalls().length;
  const stop = new RpcError(Status.UNAVAILABLE, "the server is shutting down", { reason: "shutdown" });
  scope.stopping = stop;
  // The grace period runs from the call, whatever ending the streams costs.
  const grace = new Grace(graceMs);
  // First, before anything drains: NOT_SERVING everywhere. The open health
  // Watches send it and end with OK, in the turn given to them here; any
  // left after it end with the other streams.
  const watched = health.watched;
  health.shuttingDown();
  server.tryShutdown(() => grace.drained());
  if (watched) await new Promise((resolve) => setImmediate(resolve));
  await endStreams(scope, stop, grace);
  const drained = await grace.outcome;
  let forced: ForcedCall[] = [];
  if (!drained) {
    const now = Date.now();
    forced = [...scope.registry.snapshot(), ...sessions.untrackedCalls()].map((r) => ({
      method: r.method,
      peer: r.peer,
      ageMs: now - r.startedAt,
    }));
    for (const { life } of [...scope.live]) {
      life.fail(stop);
    }
    server.forceShutdown();
  }
  // A peer that ignored the GOAWAY still holds its socket open.
  sessions.destroyAll();
  return { finished: inFlight - forced.length, forced, durationMs: Date.now() - startedAt };
}

/** The grace period: it ends when the server has drained, or when `graceMs` have passed. */
class Grace {
  /** True when the server drained in time, false when the time ran out. */
  readonly outcome: Promise<boolean>;
  over = false;
  private settle!: (drained: boolean) => void;
  private readonly timer: NodeJS.Timeout;

  constructor(graceMs: number) {
    this.outcome = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.timer = setTimeout(() => this.end(false), graceMs);
  }

  drained(): void {
    this.end(true);
  }

  private end(drained: boolean): void {
    if (!this.over) {
      this.over = true;
      clearTimeout(this.timer);
      this.settle(drained);
    }
  }
}

/**
 * Ends every streaming call with `stop`, a batch at a time, yielding to the
 * event loop between batches. Unary calls may finish within the grace;
 * whatever is left when it runs out is forced by the caller.
 */
async function endStreams(scope: ServerScope, stop: RpcError, grace: Grace): Promise<void> {
  let ended = 0;
  for (const { kind, life } of [...scope.live]) {
    if (grace.over) {
      return;
    }
    if (kind !== "unary" && life.fail(stop) && ++ended % END_BATCH === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
