/**
 * Heap in use after a forced garbage collection, for tests that check that
 * memory does not grow. `--expose-gc` is turned on when this module loads.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

export const MiB = 1024 * 1024;

/** Collects twice (the second pass takes what the first one's finalizers freed), then reads heapUsed. */
export function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
