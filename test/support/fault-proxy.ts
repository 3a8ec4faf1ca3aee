/**
 * A TCP proxy on loopback that misbehaves on request, in pure Node. Put it
 * between a client and a server; then black-hole one or both directions,
 * pause reading, delay every chunk, or reset every connection.
 * "up" is client to server; "down" is server to client.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export type Direction = "up" | "down";

export interface FaultProxy {
  /** The port clients connect to. */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes black-holed so far in each direction, so a test can wait until its bytes were dropped. */
  readonly dropped: Readonly<Record<Direction, number>>;
  /** Drops every byte in `direction` ("both" for both), keeping the sockets open. */
  blackhole(direction: Direction | "both"): void;
  /** Stops reading from both sides, so TCP flow control stalls the peers. */
  pause(): void;
  /** Holds every chunk `ms` milliseconds before passing it on, in order. */
  delay(ms: number): void;
  /** Passes data on in pieces of at most `bytes`, each its own write (0: whole chunks). */
  segment(bytes: number): void;
  /** Resets every open connection (TCP RST on both sides). */
  reset(): void;
  /** Back to plain forwarding. */
  heal(): void;
  /** Closes the listener and destroys every connection. */
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startFaultProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  const timers = new Set<NodeJS.Timeout>();
  const dropping = { up: false, down: false };
  const dropped = { up: 0, down: 0 };
  let paused = false;
  let delayMs = 0;
  let segmentBytes = 0;
  let accepted = 0;

  const send = (to: Socket, chunk: Buffer): void => {
    if (segmentBytes === 0) {
      to.write(chunk);
      return;
    }
    for (let i = 0; i < chunk.length; i += segmentBytes) {
      to.write(chunk.subarray(i, i + segmentBytes));
    }
  };

  const forward = (from: Socket, to: Socket, direction: Direction): void => {
    from.on("data", (chunk: Buffer) => {
      if (dropping[direction]) {
        dropped[direction] += chunk.length;
        return;
      }
      if (delayMs === 0) {
        send(to, chunk);
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!dropping[direction] && !to.destroyed) send(to, chunk);
      }, delayMs);
      timers.add(timer);
    });
    from.on("end", () => {
      if (!dropping[direction]) to.end();
    });
  };

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(targetPort, targetHost);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", () => {
      if (!dropping.up) drop();
    });
    upstream.on("close", () => {
      if (!dropping.down) drop();
    });
    forward(client, upstream, "up");
    forward(upstream, client, "down");
    if (paused) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("the proxy has no TCP address");
  }

  return {
    port: address.port,
    get accepted() {
      return accepted;
    },
    dropped,
    blackhole(direction) {
      if (direction !== "down") dropping.up = true;
      if (direction !== "up") dropping.down = true;
    },
    pause() {
      paused = true;
      for (const { client, upstream } of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    delay(ms) {
      delayMs = ms;
    },
    segment(bytes) {
      segmentBytes = bytes;
    },
    reset() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
    },
    heal() {
      dropping.up = false;
      dropping.down = false;
      delayMs = 0;
      segmentBytes = 0;
      paused = false;
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
