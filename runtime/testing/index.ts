/**
 * `leaksafe/testing`: a leak checker for tests of code that uses leaksafe.
 */
export {
  createLeakChecker,
  type HasActiveStreams,
  type LeakCheckOptions,
  type LeakChecker,
  type LeakTargets,
} from "./leak-checker.js";
