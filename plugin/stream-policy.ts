/**
 * Reads the stream policy of each method from leaksafe's custom options
 * (`leaksafe/v1/options.proto`) and the plugin's own options, and resolves
 * it: the method's `(leaksafe.v1.stream)`, then the service's
 * `(leaksafe.v1.stream_defaults)`, then the plugin option. What none of them
 * sets is left to the runtime's built-in defaults.
 */
import {
  type DescExtension,
  type DescMethod,
  type DescService,
  getOption,
  hasOption,
  type Registry,
} from "@bufbuild/protobuf";

/** One level's limits, as given: numbers of milliseconds, any field unset. */
export interface PolicyLimits {
  idleTimeoutMs?: number | undefined;
  timeoutMs?: number | undefined;
  sendTimeoutMs?: number | undefined;
}

export const POLICY_FIELDS = [
  ["idleTimeoutMs", "idle_timeout_ms"],
  ["timeoutMs", "timeout_ms"],
  ["sendTimeoutMs", "send_timeout_ms"],
] as const;

/** The largest limit accepted: 30 days. */
export const MAX_LIMIT_MS = 30 * 24 * 3_600_000;

/** Why a value is not a limit, or undefined when it is one. */
export function limitProblem(value: number): string | undefined {
  if (!Number.isFinite(value) || !Number.isInteger(value)) {
    return "must be a whole number of milliseconds";
  }
  if (value < 0) {
    return "must not be negative (0 disables the limit)";
  }
  if (value > MAX_LIMIT_MS) {
    return `must be at most ${MAX_LIMIT_MS} ms (30 days)`;
  }
  return undefined;
}

/** A generation error for a bad policy value, naming where it was found. */
export class PolicyError extends Error {
  override name = "PolicyError";
}

/** Resolves policies for the methods of one registry's files. */
export class PolicyReader {
  private readonly methodOption: DescExtension | undefined;
  private readonly serviceOption: DescExtension | undefined;

  constructor(
    registry: Registry,
    private readonly pluginDefaults: PolicyLimits,
  ) {
    this.methodOption = registry.getExtension("leaksafe.v1.stream");
    this.serviceOption = registry.getExtension("leaksafe.v1.stream_defaults");
  }

  /** The resolved policy of `method`, with only the fields some level sets. Throws PolicyError on a bad value. */
  resolve(method: DescMethod, fileName: string): PolicyLimits {
    const levels: Array<[string, PolicyLimits]> = [
      ["(leaksafe.v1.stream) on the method", this.read(method, this.methodOption)],
      ["(leaksafe.v1.stream_defaults) on the service", this.read(method.parent, this.serviceOption)],
      ["the plugin option", this.pluginDefaults],
    ];
    const resolved: PolicyLimits = {};
    for (const [key, protoName] of POLICY_FIELDS) {
      for (const [where, limits] of levels) {
        const value = limits[key];
        if (value === undefined) {
          continue;
        }
        const problem = limitProblem(value);
        if (problem !== undefined) {
          throw new PolicyError(
            `${fileName}: service ${method.parent.typeName}, method ${method.name}: ${protoName} = ${value} from ${where} ${problem}`,
          );
        }
        resolved[key] = value;
        break;
      }
    }
    return resolved;
  }

  private read(element: DescMethod | DescService, option: DescExtension | undefined): PolicyLimits {
    if (option === undefined || !hasOption(element as never, option as never)) {
      return {};
    }
    const value = getOption(element as never, option as never) as Record<string, unknown>;
    const limits: PolicyLimits = {};
    for (const [key] of POLICY_FIELDS) {
      const v = value[key];
      if (typeof v === "number") {
        limits[key] = v;
      }
    }
    return limits;
  }
}
