/**
 * Runs an example as its users would, `node --import tsx example.ts ARGS`,
 * and resolves with its exit code and what it printed (stdout and stderr
 * together, trimmed).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";

export function runScript(name: string, args: string[] = []): Promise<{ code: number | null; out: string }> {
  const script = join(import.meta.dirname, name);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const collect = (data: Buffer): void => {
      out += data.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out: out.trim() }));
  });
}
