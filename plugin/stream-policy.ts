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
import { limitProblem } from "../runtime/limits.js";
import type { ResumeView } from "./view-model.js";

// The plugin checks a .proto's limits with the runtime's own check, so a
// value is refused with the same words wherever it was written.
export { limitProblem };

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

interface ResumeFields {
  resumable?: boolean;
  retryCodes?: string[];
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  maxAttempts?: number;
}

const RESUME_FIELDS = [
  ["initialBackoffMs", "initial_backoff_ms"],
  ["maxBackoffMs", "max_backoff_ms"],
  ["maxAttempts", "max_attempts"],
] as const;

/** The runtime's default first wait; only used here to check max ≥ initial. */
const DEFAULT_INITIAL_BACKOFF_MS = 100;

/** gRPC's status code names, OK aside, in code order. */
const RETRYABLE_CODES = [
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

function attemptsProblem(value: number): string | undefined {
  if (!Number.isInteger(value) || value < 0 || value > 1_000_000) {
    return "must be a whole number from 0 (no limit) to 1000000";
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
  /** Option values already read, by element: a method or service carries only its own kind of option. */
  private readonly values = new WeakMap<DescMethod | DescService, Record<string, unknown>>();

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

  /**
   * The resumption of `method`, or undefined when it is not resumable: the
   * method's fields over the service's. Throws PolicyError on a bad value, and
   * on resumption asked of a method that is not server-streaming.
   */
  resolveResume(method: DescMethod, fileName: string): ResumeView | undefined {
    const where = `${fileName}: service ${method.parent.typeName}, method ${method.name}`;
    const own = this.readResume(method, this.methodOption);
    const inherited = this.readResume(method.parent, this.serviceOption);
    const serverStreaming = method.methodKind === "server_streaming";
    if (!serverStreaming) {
      if (own.resumable === true) {
        throw new PolicyError(`${where}: resumable applies only to server-streaming methods`);
      }
      return undefined;
    }
    const resumable = own.resumable ?? inherited.resumable ?? false;
    if (!resumable) {
      const stray =
        own.retryCodes !== undefined ? "retry_codes" : RESUME_FIELDS.find(([key]) => own[key] !== undefined)?.[1];
      if (stray !== undefined) {
        throw new PolicyError(`${where}: ${stray} is set but the method is not resumable (add resumable: true)`);
      }
      return undefined;
    }
    const retryCodes = own.retryCodes ?? inherited.retryCodes ?? [];
    for (const code of retryCodes) {
      if (!RETRYABLE_CODES.includes(code)) {
        throw new PolicyError(
          `${where}: retry_codes holds "${code}", which is not a gRPC status code name other than OK (${RETRYABLE_CODES.join(", ")})`,
        );
      }
    }
    const settings: ResumeView["settings"] = [];
    for (const [key, protoName] of RESUME_FIELDS) {
      const value = own[key] ?? inherited[key];
      if (value === undefined) {
        continue;
      }
      const problem = key === "maxAttempts" ? attemptsProblem(value) : limitProblem(value);
      if (problem !== undefined) {
        throw new PolicyError(`${where}: ${protoName} = ${value} ${problem}`);
      }
      settings.push({ name: key, value });
    }
    const initial = settings.find((s) => s.name === "initialBackoffMs")?.value ?? DEFAULT_INITIAL_BACKOFF_MS;
    const max = settings.find((s) => s.name === "maxBackoffMs")?.value;
    if (max !== undefined && max < initial) {
      throw new PolicyError(`${where}: max_backoff_ms = ${max} is less than initial_backoff_ms = ${initial}`);
    }
    return { retryCodes: [...new Set(retryCodes)], settings };
  }

  private readResume(element: DescMethod | DescService, option: DescExtension | undefined): ResumeFields {
    const value = this.optionValue(element, option);
    if (value === undefined) {
      return {};
    }
    const fields: ResumeFields = numberFields(value, RESUME_FIELDS);
    if (typeof value.resumable === "boolean") {
      fields.resumable = value.resumable;
    }
    if (Array.isArray(value.retryCodes) && value.retryCodes.length > 0) {
      fields.retryCodes = value.retryCodes.map(String);
    }
    return fields;
  }

  private read(element: DescMethod | DescService, option: DescExtension | undefined): PolicyLimits {
    const value = this.optionValue(element, option);
    return value === undefined ? {} : numberFields(value, POLICY_FIELDS);
  }

  /**
   * The option's fields on `element`, or undefined when it is not set. Read
   * once per element: limits and resumption both come from the same option.
   */
  private optionValue(
    element: DescMethod | DescService,
    option: DescExtension | undefined,
  ): Record<string, unknown> | undefined {
    if (option === undefined || !hasOption(element as never, option as never)) {
      return undefined;
    }
    let value = this.values.get(element);
    if (value === undefined) {
      value = getOption(element as never, option as never) as Record<string, unknown>;
      this.values.set(element, value);
    }
    return value;
  }
}

/** The fields of `value` named in `fields` that hold numbers. */
function numberFields<K extends string>(
  value: Record<string, unknown>,
  fields: ReadonlyArray<readonly [K, string]>,
): Partial<Record<K, number>> {
  const picked: Partial<Record<K, number>> = {};
  for (const [key] of fields) {
    const v = value[key];
    if (typeof v === "number") {
      picked[key] = v;
    }
  }
  return picked;
}
