import type { EventEmitter } from "node:events";
import type { Http2Session } from "node:http2";
import type { Duplex } from "node:stream";
import { messageOf } from "./rpc-error.js";
import type { LeaksafeServer, ShutdownReport } from "./server.js";

/**
 * A server that stops with `close(callback)` and tells whether it is
 * `listening`: a `node:net` server, and the `http`, `https` and `http2`
 * servers built on it.
 */
export interface ClosableServer {
  close(callback?: (error?: Error) => void): unknown;
  readonly listening: boolean;
}

/**
 * What `shutdownOnSignals` can stop, tested in this order:
 * - a {@link ClosableServer}. It stops accepting; its connections may
 *   finish within the grace period, and then they are closed:
 *   - an `http` or `https` server closes idle keep-alive connections at
 *     once and as they appear, then every connection;
 *   - an `http2` server sends GOAWAY on every session, so open streams
 *     finish and no new ones start, then closes the sessions;
 *   - a `net` server waits for its connections to end, then closes them.
 *
 *   An `http2` or `net` server cannot list its connections, so only those
 *   accepted after `shutdownOnSignals` was called can be closed: call it
 *   before `listen`. One accepted earlier is waited for, and the step is
 *   reported late if it outlasts the grace period.
 * - a leaksafe server, through `shutdown({ graceMs })`;
 * - anything with `stop(graceMs)`, such as `{ stop: () => client.close() }`.
 */
export type Stoppable = LeaksafeServer | ClosableServer | { stop(graceMs: number): unknown };

/** One step of a shutdown, run in the order given. */
export interface ShutdownStep {
  /** A name for the log, e.g. "grpc" or "gateway". */
  name: string;
  target: Stoppable;
  /** How long this step may take, in ms. Default 5000. A step that takes longer is left behind. */
  graceMs?: number | undefined;
}

export interface ShutdownOnSignalsOptions {
  /** Default `["SIGTERM", "SIGINT"]`. */
  signals?: NodeJS.Signals[] | undefined;
  /** Where progress goes, one line at a time. Default: standard error. */
  log?: ((line: string) => void) | undefined;
  /** Called with the exit code when everything stopped. Default `process.exit`. */
  exit?: ((code: number) => void) | undefined;
}

/** How one step went. */
export interface StepResult {
  name: string;
  durationMs: number;
  /** A leaksafe server's report, for a server step. */
  report?: ShutdownReport;
  /** Set when the step threw or ran past its grace period. */
  error?: string;
}

export interface ShutdownHandle {
  /** Runs the steps now, as a signal would, without exiting. Calling it again returns the same promise. */
  run(): Promise<StepResult[]>;
  /** Removes the signal handlers. */
  dispose(): void;
}

/**
 * On SIGTERM or SIGINT, stops `steps` in order, each within its grace
 * period, logs what each did (a leaksafe server's report included), then
 * exits: 0 if every step finished in time, 1 otherwise. A second signal
 * during shutdown exits at once with 1.
 *
 * ```ts
 * shutdownOnSignals([
 *   { name: "gateway", target: httpServer, graceMs: 5000 },
 *   { name: "grpc", target: grpcServer, graceMs: 10000 },
 * ]);
 * ```
 */
export function shutdownOnSignals(steps: ShutdownStep[], options: ShutdownOnSignalsOptions = {}): ShutdownHandle {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let running: Promise<StepResult[]> | undefined;
  const tracked = new Map<Stoppable, Connections>();
  for (const { target } of steps) {
    if (isClosable(target) && !isHttp(target) && isEmitter(target) && !tracked.has(target)) {
      tracked.set(target, new Connections(target));
    }
  }

  const run = (): Promise<StepResult[]> => {
    running ??= runSteps(steps, tracked, log);
    return running;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (running !== undefined) {
      log(`leaksafe: ${signal} again during shutdown: exiting now`);
      exit(1);
      return;
    }
    log(
      `leaksafe: ${signal}: shutting down ${steps.map((s) => `${s.name} (grace ${s.graceMs ?? 5000} ms)`).join(", then ")}`,
    );
    run().then((results) => exit(results.some((r) => r.error !== undefined) ? 1 : 0));
  };
  for (const signal of signals) {
    process.on(signal, onSignal);
  }
  return {
    run,
    dispose() {
      for (const signal of signals) {
        process.off(signal, onSignal);
      }
      for (const connections of tracked.values()) {
        connections.dispose();
      }
    },
  };
}

async function runSteps(
  steps: ShutdownStep[],
  tracked: ReadonlyMap<Stoppable, Connections>,
  log: (line: string) => void,
): Promise<StepResult[]> {
  const started = Date.now();
  const results: StepResult[] = [];
  for (const step of steps) {
    const result = await runStep(step, tracked.get(step.target));
    results.push(result);
    log(
      `leaksafe: stopped ${step.name} in ${result.durationMs} ms: ${JSON.stringify(result.report ?? result.error ?? "ok")}`,
    );
  }
  log(`leaksafe: shutdown complete in ${Date.now() - started} ms`);
  return results;
}

/** What forcing one open call costs a leaksafe server at the end of its grace, at most (bench/shutdown.ts). */
const FORCE_MS_PER_CALL = 0.1;

async function runStep(
  { name, target, graceMs = 5000 }: ShutdownStep,
  connections: Connections | undefined,
): Promise<StepResult> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  // A leaksafe server may overrun its grace by the cost of forcing what is open.
  const openCalls = "activeStreams" in target ? target.activeStreams().length : 0;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), graceMs + 100 + Math.ceil(openCalls * FORCE_MS_PER_CALL));
  });
  try {
    const outcome = await Promise.race([stop(target, graceMs, connections), late]);
    const durationMs = Date.now() - started;
    if (outcome === "late") {
      return { name, durationMs, error: `did not stop within ${graceMs} ms` };
    }
    return outcome === undefined ? { name, durationMs } : { name, durationMs, report: outcome };
  } catch (error) {
    return { name, durationMs: Date.now() - started, error: messageOf(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function stop(
  target: Stoppable,
  graceMs: number,
  connections: Connections | undefined,
): Promise<ShutdownReport | undefined> {
  if (isHttp(target)) {
    await closeHttp(target, graceMs);
    return undefined;
  }
  if (isClosable(target)) {
    await closeServer(target, graceMs, connections);
    return undefined;
  }
  if ("shutdown" in target && typeof target.shutdown === "function") {
    return target.shutdown({ graceMs });
  }
  if ("stop" in target && typeof target.stop === "function") {
    await target.stop(graceMs);
    return undefined;
  }
  throw new TypeError("the target has none of shutdown(graceMs), stop(graceMs), or close(callback) with listening");
}

/** An `http` or `https` server, which can close its own connections. */
interface HttpServer extends ClosableServer {
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

function isClosable(target: Stoppable): target is ClosableServer {
  const t = target as Partial<ClosableServer>;
  return typeof t.close === "function" && typeof t.listening === "boolean";
}

function isHttp(target: Stoppable): target is HttpServer {
  const t = target as Partial<HttpServer>;
  return (
    isClosable(target) && typeof t.closeIdleConnections === "function" && typeof t.closeAllConnections === "function"
  );
}

function isEmitter(target: object): target is EventEmitter {
  const t = target as Partial<EventEmitter>;
  return typeof t.on === "function" && typeof t.off === "function";
}

/** Stops accepting, lets open requests finish within `graceMs`, then closes every connection. */
function closeHttp(server: HttpServer, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    // close() waits for keep-alive connections too; one whose request ends
    // during the grace period is closed within 20 ms instead of idling on.
    const sweep = setInterval(() => server.closeIdleConnections(), 20);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Stops accepting, sends GOAWAY on every HTTP/2 session, lets connections
 * end by themselves within `graceMs`, then closes the ones it knows of.
 */
function closeServer(server: ClosableServer, graceMs: number, connections: Connections | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const timer = setTimeout(() => connections?.destroy(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    connections?.goAway();
  });
}

/**
 * The connections and HTTP/2 sessions a server accepts, for a server that
 * cannot close them itself (`net` and `http2`). They are known from the time
 * `shutdownOnSignals` was called, and each is forgotten when it closes.
 */
class Connections {
  private readonly sockets = new Set<Duplex>();
  private readonly sessions = new Set<Http2Session>();
  private readonly onConnection = (socket: Duplex): void => {
    this.sockets.add(socket);
    socket.once("close", this.forgetSocket);
  };
  private readonly onSession = (session: Http2Session): void => {
    this.sessions.add(session);
    session.once("close", this.forgetSession);
  };
  // Called with the emitter as `this`, so no closure is made per connection.
  private readonly forgetSocket: (this: Duplex) => void;
  private readonly forgetSession: (this: Http2Session) => void;

  constructor(private readonly server: EventEmitter) {
    const { sockets, sessions } = this;
    this.forgetSocket = function (this: Duplex) {
      sockets.delete(this);
    };
    this.forgetSession = function (this: Http2Session) {
      sessions.delete(this);
    };
    server.on("connection", this.onConnection);
    server.on("session", this.onSession);
  }

  /** Asks every HTTP/2 session to finish its open streams and start no more. */
  goAway(): void {
    for (const session of this.sessions) {
      if (!session.closed) {
        session.close();
      }
    }
  }

  /** Closes every connection now. */
  destroy(): void {
    for (const session of this.sessions) {
      session.destroy();
    }
    for (const socket of this.sockets) {
      socket.destroy();
    }
  }

  /** Stops watching the server. */
  dispose(): void {
    this.server.off("connection", this.onConnection);
    this.server.off("session", this.onSession);
  }
}
