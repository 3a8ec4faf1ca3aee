/**
 * `leaksafe/testing`: a leak checker for tests of code that uses leaksafe.
 */
export {
  createLeakChecker,
  type HasActiveStreams,
  type LeakChecker,
  type LeakCheckOptions,
  type LeakTargets,
} from "./leak-checker.js";
