/**
 * One hooks object, or several, made into the single object a registry
 * consults: each hook guarded (a throw is ignored), each slot undefined
 * when no object sets it, so that the call paths keep testing one field.
 */
import type { CallEndInfo, CallHooks, CallStartInfo, MessageEvent } from "./registry.js";
import type { ResumedEndInfo, RetryInfo } from "./resume-policy.js";
import type { UnservedCallInfo } from "./unserved-calls.js";

/** What `hooks` accepts on `createServer` and `createClient`: one hooks object, or an array of them, run in order. */
export type HooksOption = CallHooks | readonly CallHooks[];

/** The hooks of one server or client, combined and guarded. A slot is undefined when no hooks object sets it. */
export interface ResolvedHooks {
  readonly onCallStart: ((info: CallStartInfo) => void) | undefined;
  readonly onCallEnd: ((info: CallEndInfo) => void) | undefined;
  readonly onMessage: ((event: MessageEvent) => void) | undefined;
  readonly onRetry: ((info: RetryInfo) => void) | undefined;
  readonly onResumedEnd: ((info: ResumedEndInfo) => void) | undefined;
  readonly onUnservedCall: ((info: UnservedCallInfo) => void) | undefined;
  /** True when some hooks object set `messageSizes` and some sees a call's end. */
  readonly messageSizes: boolean;
}

const SLOTS = ["onCallStart", "onCallEnd", "onMessage", "onRetry", "onResumedEnd", "onUnservedCall"] as const;

/**
 * Combines `hooks` (one object, an array, or undefined for none). Throws a
 * TypeError naming the culprit when an entry is not an object, a hook is
 * neither a function nor undefined, or `messageSizes` is not a boolean.
 */
export function combineHooks(hooks: HooksOption | undefined, where: string): ResolvedHooks {
  const list: readonly unknown[] = hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
  const single = !Array.isArray(hooks);
  for (const [index, entry] of list.entries()) {
    check(entry, single ? where : `${where}[${index}]`);
  }
  const all = list as readonly CallHooks[];
  const slot = <K extends (typeof SLOTS)[number]>(name: K): CallHooks[K] =>
    chain(all.flatMap((h) => (h[name] === undefined ? [] : [h[name] as (arg: never) => void]))) as CallHooks[K];
  const onCallEnd = slot("onCallEnd");
  return {
    onCallStart: slot("onCallStart"),
    onCallEnd,
    onMessage: slot("onMessage"),
    onRetry: slot("onRetry"),
    onResumedEnd: slot("onResumedEnd"),
    onUnservedCall: slot("onUnservedCall"),
    messageSizes: onCallEnd !== undefined && all.some((h) => h.messageSizes === true),
  };
}

function check(entry: unknown, where: string): void {
  if (typeof entry !== "object" || entry === null) {
    throw new TypeError(`${where} must be a hooks object or an array of them, not ${describe(entry)}`);
  }
  const record = entry as Record<string, unknown>;
  for (const name of SLOTS) {
    const hook = record[name];
    if (hook !== undefined && typeof hook !== "function") {
      throw new TypeError(`${where}.${name} must be a function or undefined, not ${describe(hook)}`);
    }
  }
  const sizes = record.messageSizes;
  if (sizes !== undefined && typeof sizes !== "boolean") {
    throw new TypeError(`${where}.messageSizes must be a boolean or undefined, not ${describe(sizes)}`);
  }
}

function describe(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

/** One guarded function calling each of `hooks` in order, or undefined for none. */
function chain<T>(hooks: ReadonlyArray<(arg: T) => void>): ((arg: T) => void) | undefined {
  const [first, ...rest] = hooks;
  if (first === undefined) {
    return undefined;
  }
  if (rest.length === 0) {
    return (arg) => {
      try {
        first(arg);
      } catch {
        // A hook's failure is the hook's problem; the call goes on.
      }
    };
  }
  return (arg) => {
    for (const hook of hooks) {
      try {
        hook(arg);
      } catch {
        // As above, and the next hook still runs.
      }
    }
  };
}
