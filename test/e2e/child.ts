/** Starts test/e2e/peer.ts in a child process and kills it with SIGKILL. */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

export interface Child {
  /** The first line the child printed. */
  line: string;
  /** Kills it with SIGKILL and resolves once it has exited and its pipes are closed. */
  kill(): Promise<NodeJS.Signals | null>;
  /** Freezes it with SIGSTOP: its sockets stay open, but nothing answers. */
  stop(): void;
}

export async function startPeer(args: string[]): Promise<Child> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "peer.ts"), ...args],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once("exit", (_code, signal) => resolve(signal)),
  );
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const newline = buffer.indexOf("\n");
      if (newline >= 0) resolve(buffer.slice(0, newline));
    });
    child.once("exit", (code) => reject(new Error(`the peer exited early with code ${code}`)));
  });
  return {
    line,
    stop() {
      child.kill("SIGSTOP");
    },
    async kill() {
      child.kill("SIGKILL");
      const signal = await exited;
      child.stdout?.destroy();
      return signal;
    },
  };
}
