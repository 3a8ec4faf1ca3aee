import {
  ServerCredentials as Credentials,
  type ServerOptions as GrpcServerOptions,
  Server,
  type ServerCredentials,
} from "@grpc/grpc-js";
import { type KeepaliveOptions, keepaliveOptions, SERVER_KEEPALIVE } from "./keepalive.js";
import { methodPolicy, resolveLimits, type StreamLimits } from "./limits.js";
import type { CallRecord } from "./registry.js";
import { Registry } from "./registry.js";
import { adaptMethod, type ServerScope } from "./server-handlers.js";
import type { ImplementationOf, ServiceDescriptor } from "./service.js";

/** Options for `createServer`. */
export interface ServerOptions {
  /**
   * Keepalive pings to clients; default {@link SERVER_KEEPALIVE} (every 30 s,
   * 10 s to answer). `false` turns them off.
   */
  keepalive?: KeepaliveOptions | false | undefined;
  /** grpc-js server options (`grpc.*` keys); they override everything else. */
  grpcOptions?: GrpcServerOptions | undefined;
}

/**
 * Stream limits for every method of one service, in milliseconds; `0`
 * disables one. They take precedence over the .proto policy and the
 * built-in defaults. `timeoutMs` is capped by the client's own deadline.
 */
export type ServiceLimits = StreamLimits;

/** What `shutdown` reports. */
export interface ShutdownReport {
  /** Calls that ended by themselves during the grace period. */
  finished: number;
  /** Calls still open when the grace period ran out, which were cancelled. */
  forced: Array<Pick<CallRecord, "method" | "peer"> & { ageMs: number }>;
}

/** A leaksafe server. */
export interface LeaksafeServer {
  /** Serves a generated service with `implementation`. Returns the server, for chaining. */
  add<S extends ServiceDescriptor>(service: S, implementation: ImplementationOf<S>, limits?: ServiceLimits): this;
  /** Binds `address` ("127.0.0.1:0" picks a free port) and resolves to the bound port. */
  listen(address: string, credentials?: ServerCredentials): Promise<number>;
  /**
   * Stops the server: refuses new calls, waits up to `graceMs` (default
   * 5000) for calls in flight, then cancels the rest. It always resolves.
   */
  shutdown(options?: { graceMs?: number }): Promise<ShutdownReport>;
  /** The live calls. */
  activeStreams(): CallRecord[];
  /** The underlying grpc-js server, for what leaksafe does not wrap. */
  readonly grpcServer: Server;
}

/** Creates a server. Add services with `.add`, then `.listen`. */
export function createServer(options: ServerOptions = {}): LeaksafeServer {
  const server = new Server({ ...keepaliveOptions(SERVER_KEEPALIVE, options.keepalive), ...options.grpcOptions });
  const registry = new Registry();
  const scope: ServerScope = { registry };
  let stopping: Promise<ShutdownReport> | undefined;

  const self: LeaksafeServer = {
    grpcServer: server,
    add(service, implementation, limits) {
      const impl = implementation as Record<string, unknown>;
      const handlers: Record<string, ReturnType<typeof adaptMethod>> = {};
      for (const [name, method] of Object.entries(service)) {
        const fn = impl[name];
        if (typeof fn !== "function") {
          throw new TypeError(`the implementation has no function "${name}" for ${method.path}`);
        }
        const resolved = resolveLimits(method.kind !== "unary", limits, methodPolicy(method));
        handlers[name] = adaptMethod(method, fn.bind(implementation), resolved, scope);
      }
      server.addService(service, handlers);
      return self;
    },
    listen(address, credentials) {
      return new Promise((resolve, reject) => {
        server.bindAsync(address, credentials ?? Credentials.createInsecure(), (error, port) => {
          if (error !== null) {
            reject(error);
          } else {
            resolve(port);
          }
        });
      });
    },
    shutdown({ graceMs = 5000 } = {}) {
      stopping ??= new Promise((resolve) => {
        const before = registry.size;
        const timer = setTimeout(() => {
          const now = Date.now();
          const forced = registry.snapshot().map((r) => ({ method: r.method, peer: r.peer, ageMs: now - r.startedAt }));
          server.forceShutdown();
          resolve({ finished: before - forced.length, forced });
        }, graceMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve({ finished: before, forced: [] });
        });
      });
      return stopping;
    },
    activeStreams() {
      return registry.snapshot();
    },
  };
  return self;
}
