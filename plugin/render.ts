/**
 * Renders a view model with Handlebars. Templates come from a team's folder
 * first, then from the built-in set; every built-in is also reachable as
 * `@default/NAME`, so an override can wrap the stock version.
 *
 * Rendering is strict. A syntax error, a partial or helper that does not
 * exist, or a variable the view model lacks fails with the template file,
 * line and column and the missing name. It never renders an empty string.
 * An error inside a built-in that an override includes as `@default/NAME`
 * is reported first at the override's include, then inside the built-in.
 * The output must parse as TypeScript; if it does not, the error names the
 * template that wrote the offending code, and the override's include when
 * that template is a built-in it wraps.
 */
import { createRequire } from "node:module";
import type * as Babel from "@babel/parser";
import Handlebars from "handlebars";
import type { TemplateSet } from "./plugin-files.js";
import type { FileView } from "./view-model.js";

/** The template every file starts from; the rest are partials. */
const ENTRY = "file";

/** Helpers templates may call, Handlebars' own and leaksafe's. */
const HELPERS = ["if", "unless", "each", "with", "lookup", "log", "jsdoc"] as const;

/** A compiled set of templates, reusable across files of one run. */
export interface Renderer {
  /** Renders one file and checks that it parses as TypeScript. */
  render(view: FileView): string;
}

/** A template error: `file:line:col: what`, or `file: what` when no position is known. */
export class TemplateError extends Error {
  override name = "TemplateError";
}

interface Template {
  name: string;
  /** The file it came from, for messages: "templates/unary.hbs" or the override's path. */
  file: string;
  /** True for the built-in set, false for a team's override or new partial. */
  builtin: boolean;
  source: string;
}

/** Compiles the built-in templates and, when given, a team's overrides. */
export function createRenderer(stock: TemplateSet, overrides: TemplateSet | undefined): Renderer {
  const builtins = withNames(stock, true);
  const templates = new Map(builtins);
  for (const [name, template] of withNames(overrides ?? new Map(), false)) {
    templates.set(name, template);
  }
  const all = new Map<string, Template>(templates);
  for (const [name, template] of builtins) {
    all.set(`@default/${name}`, { ...template, name: `@default/${name}` });
  }
  for (const template of all.values()) {
    checkStatically(template, all);
  }
  const entry = templates.get(ENTRY);
  if (entry === undefined) {
    throw new TemplateError(`the template set has no "${ENTRY}.hbs"`);
  }
  const plain = compileAll(all, false);
  let traced: ReturnType<typeof compileAll> | undefined;
  return {
    render(view) {
      const output = renderWith(plain, entry, view);
      const problem = typeScriptProblem(output);
      if (problem !== undefined) {
        traced ??= compileAll(all, true);
        const owner = ownerAt(renderWith(traced, entry, view), problem.offset, traced.owners);
        throw new TemplateError(
          `the code generated for ${view.outputPath} does not parse as TypeScript at line ${problem.line}:${problem.column} (${problem.message}); that code comes from ${owner}`,
        );
      }
      return output;
    },
  };
}

function withNames(set: TemplateSet, builtin: boolean): Map<string, Template> {
  return new Map([...set].map(([name, { file, source }]) => [name, { name, file, builtin, source }]));
}

type Node = hbs.AST.Node & { loc?: hbs.AST.SourceLocation };

/**
 * Parses a template and checks, before anything renders, that every partial
 * it names and every helper it calls exists.
 */
function checkStatically(template: Template, all: ReadonlyMap<string, Template>): void {
  let ast: hbs.AST.Program;
  try {
    ast = Handlebars.parse(template.source);
  } catch (e) {
    throw syntaxError(template, e);
  }
  const at = (node: Node): string =>
    `${template.file}:${node.loc?.start.line ?? 0}:${(node.loc?.start.column ?? 0) + 1}`;
  const visit = (node: unknown): void => {
    if (typeof node !== "object" || node === null) return;
    const n = node as Node & Record<string, unknown>;
    if (n.type === "PartialStatement" || n.type === "PartialBlockStatement") {
      const name = n.name as hbs.AST.PathExpression | hbs.AST.SubExpression;
      if (name.type === "PathExpression" && !all.has(name.original)) {
        throw new TemplateError(`${at(name)}: partial "${name.original}" does not exist`);
      }
    }
    if (n.type === "MustacheStatement" || n.type === "BlockStatement" || n.type === "SubExpression") {
      const call = n as unknown as hbs.AST.MustacheStatement;
      const isCall = call.params.length > 0 || (call.hash?.pairs.length ?? 0) > 0 || n.type === "SubExpression";
      if (isCall && call.path.type === "PathExpression") {
        const helper = (call.path as hbs.AST.PathExpression).original;
        if (!(HELPERS as readonly string[]).includes(helper)) {
          throw new TemplateError(`${at(call.path)}: helper "${helper}" does not exist`);
        }
      }
    }
    for (const value of Object.values(n)) {
      if (Array.isArray(value)) value.forEach(visit);
      else if (typeof value === "object" && value !== null && "type" in value) visit(value);
    }
  };
  visit(ast);
}

function syntaxError(template: Template, e: unknown): TemplateError {
  const error = e as { message?: string; lineNumber?: number; column?: number };
  const message = error.message ?? String(e);
  if (error.lineNumber !== undefined) {
    // A structural error such as "if doesn't match each - 1:5".
    const what = message.replace(/ - \d+:\d+$/, "");
    return new TemplateError(`${template.file}:${error.lineNumber}:${(error.column ?? 0) + 1}: syntax error: ${what}`);
  }
  // A parse error: the lexer still holds the offending token's position.
  const at = (Handlebars as unknown as { Parser: { lexer: { yylloc?: { first_line: number; first_column: number } } } })
    .Parser.lexer.yylloc;
  const expected = message.split("\n").at(-1) ?? message;
  return new TemplateError(
    `${template.file}:${at?.first_line ?? 0}:${(at?.first_column ?? 0) + 1}: syntax error: ${expected}`,
  );
}

interface Compiled {
  templates: Map<string, Handlebars.TemplateDelegate>;
  /** What each marker id stands for, for `ownerAt`: a template file, or a `{{> @default/NAME}}` call site. */
  owners: Owner[];
}

type Owner = { template: string; builtin: boolean } | { site: string };

/**
 * Compiles every template in a fresh Handlebars environment. Each partial is
 * wrapped so that an error inside it names it; with `trace`, its output is
 * also bracketed by markers that `ownerAt` reads.
 *
 * Each `{{> @default/NAME}}` is compiled as a partial of its own, one per
 * call site, so that an error in the built-in it includes is reported
 * against the override that included it, at the line of the include.
 */
function compileAll(all: ReadonlyMap<string, Template>, trace: boolean): Compiled {
  const hbs = Handlebars.create();
  hbs.registerHelper("jsdoc", (lines: unknown, options: Handlebars.HelperOptions) =>
    formatJsDoc(Array.isArray(lines) ? lines.map(String) : [], options.hash.deprecated === true),
  );
  const templates = new Map<string, Handlebars.TemplateDelegate>();
  const owners: Owner[] = [];
  const marked = (id: number, out: string): string =>
    trace ? `${MARK_OPEN}${id}${MARK_NAME_END}${out}${MARK_CLOSE}` : out;
  for (const template of all.values()) {
    const ast = Handlebars.parseWithoutProcessing(template.source);
    for (const site of defaultIncludes(ast)) {
      const included = site.name.original;
      const where = `${template.file}:${site.loc.start.line}:${site.loc.start.column + 1}`;
      const siteName = `${included}#${owners.length}`;
      const id = owners.push({ site: `{{> ${included}}} at ${where}` }) - 1;
      site.name.original = siteName;
      hbs.registerPartial(siteName, ((context: unknown, options?: Handlebars.RuntimeOptions) => {
        const stock = templates.get(included) as Handlebars.TemplateDelegate;
        try {
          return marked(id, stock(context, options));
        } catch (e) {
          throw new TemplateError(
            `${where}: in {{> ${included}}}: ${annotate(all.get(included) ?? template, e).message}`,
          );
        }
      }) as Handlebars.TemplateDelegate);
    }
    const compiled = hbs.compile(ast, { strict: true, noEscape: true, knownHelpersOnly: false });
    const id = owners.push({ template: template.file, builtin: template.builtin }) - 1;
    const wrapped = ((context: unknown, options?: Handlebars.RuntimeOptions) => {
      try {
        return marked(id, compiled(context, options));
      } catch (e) {
        throw annotate(template, e);
      }
    }) as Handlebars.TemplateDelegate;
    templates.set(template.name, wrapped);
    if (template.name !== ENTRY) {
      hbs.registerPartial(template.name, wrapped);
    }
  }
  return { templates, owners };
}

type PartialNode = (hbs.AST.PartialStatement | hbs.AST.PartialBlockStatement) & {
  name: hbs.AST.PathExpression;
  loc: hbs.AST.SourceLocation;
};

/** The `{{> @default/NAME}}` statements of a template, in source order. */
function defaultIncludes(ast: hbs.AST.Program): PartialNode[] {
  const found: PartialNode[] = [];
  const visit = (node: unknown): void => {
    if (typeof node !== "object" || node === null) return;
    const n = node as Node & Record<string, unknown>;
    if (n.type === "PartialStatement" || n.type === "PartialBlockStatement") {
      const partial = n as unknown as PartialNode;
      if (partial.name.type === "PathExpression" && partial.name.original.startsWith("@default/")) {
        found.push(partial);
      }
    }
    for (const value of Object.values(n)) {
      if (Array.isArray(value)) value.forEach(visit);
      else if (typeof value === "object" && value !== null && "type" in value) visit(value);
    }
  };
  visit(ast);
  return found;
}

function renderWith(compiled: Compiled, entry: Template, view: FileView): string {
  const template = compiled.templates.get(entry.name) as Handlebars.TemplateDelegate;
  try {
    return template(view);
  } catch (e) {
    throw e instanceof TemplateError ? e : annotate(entry, e);
  }
}

/** Names the template an error came from, once, keeping Handlebars' line and column. */
function annotate(template: Template, e: unknown): TemplateError {
  if (e instanceof TemplateError) {
    return e;
  }
  const error = e as { message?: string; lineNumber?: number; column?: number };
  const raw = error.message ?? String(e);
  const missing = /^"([^"]+)" not defined in .* - (\d+):(\d+)$/.exec(raw);
  if (missing !== null) {
    return new TemplateError(
      `${template.file}:${missing[2]}:${Number(missing[3]) + 1}: variable "${missing[1]}" does not exist in the view model`,
    );
  }
  const partial = /^The partial (.+) could not be found$/.exec(raw);
  if (partial !== null) {
    return new TemplateError(`${template.file}: partial "${partial[1]}" does not exist`);
  }
  const helper = /^Missing helper: "?([^"]+)"?/.exec(raw);
  if (helper !== null) {
    return new TemplateError(`${template.file}: helper "${helper[1]}" does not exist`);
  }
  const where = error.lineNumber === undefined ? "" : `:${error.lineNumber}:${(error.column ?? 0) + 1}`;
  return new TemplateError(`${template.file}${where}: ${raw}`);
}

const MARK_OPEN = "\uE000";
const MARK_NAME_END = "\uE001";
const MARK_CLOSE = "\uE002";

/**
 * In a traced rendering, the template that wrote the character at `offset` of
 * the plain rendering. When that is a built-in reached through an override's
 * `{{> @default/NAME}}`, the override's include is named too: it is the code
 * the user wrote.
 */
function ownerAt(traced: string, offset: number, owners: readonly Owner[]): string {
  const stack: Owner[] = [];
  const describe = (): string => {
    const template = stack.findLast((o): o is { template: string; builtin: boolean } => "template" in o);
    const site = stack.findLast((o): o is { site: string } => "site" in o);
    const file = `template ${template?.template ?? "templates/file.hbs"}`;
    return template?.builtin === true && site !== undefined ? `${file}, included by ${site.site}` : file;
  };
  let plain = 0;
  for (let i = 0; i < traced.length; i++) {
    const ch = traced[i];
    if (ch === MARK_OPEN) {
      const end = traced.indexOf(MARK_NAME_END, i);
      stack.push(owners[Number(traced.slice(i + 1, end))] ?? { template: "?", builtin: false });
      i = end;
    } else if (ch === MARK_CLOSE) {
      stack.pop();
    } else {
      if (plain === offset) {
        return describe();
      }
      plain++;
    }
  }
  return describe();
}

/**
 * Babel's parser, loaded at the first render: it is one 530 kB file that
 * takes about 50 ms to load, which a run that renders nothing need not pay
 * (`--version`, or a directory without services under buf's default
 * per-directory strategy).
 */
let babelParse: typeof Babel.parse | undefined;

function parseTypeScript(code: string): void {
  babelParse ??= (createRequire(import.meta.url)("@babel/parser") as typeof Babel).parse;
  babelParse(code, { sourceType: "module", plugins: ["typescript"] });
}

/** Where the output fails to parse as TypeScript, or undefined when it parses. */
function typeScriptProblem(
  code: string,
): { line: number; column: number; offset: number; message: string } | undefined {
  try {
    parseTypeScript(code);
    return undefined;
  } catch (e) {
    const error = e as { loc?: { line: number; column: number }; pos?: number; message?: string };
    const line = error.loc?.line ?? 1;
    const column = (error.loc?.column ?? 0) + 1;
    return {
      line,
      column,
      offset: error.pos ?? 0,
      message: (error.message ?? String(e)).replace(/ \(\d+:\d+\)$/, ""),
    };
  }
}

/**
 * A JSDoc block for the given lines, ending in a newline, or "" when there is
 * nothing to say. A `*​/` inside the text is broken up so the comment cannot end early.
 */
export function formatJsDoc(lines: readonly string[], deprecated: boolean): string {
  const body = lines.map((line) => line.replaceAll("*/", "*\\/"));
  if (deprecated) {
    body.push("@deprecated");
  }
  if (body.length === 0) {
    return "";
  }
  if (body.length === 1) {
    return `/** ${body[0]} */\n`;
  }
  return `/**\n${body.map((line) => (line === "" ? " *" : ` * ${line}`)).join("\n")}\n */\n`;
}
