/**
 * Renders a view model with Handlebars. Templates come from a team's folder
 * first, then from the built-in set; every built-in is also reachable as
 * `@default/NAME`, so an override can wrap the stock version.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import Handlebars from "handlebars";
import { PluginOptionError } from "./options.js";
import type { FileView } from "./view-model.js";

/** The template every file starts from; the rest are partials. */
const ENTRY = "file";

/** A compiled set of templates, reusable across files of one run. */
export interface Renderer {
  render(view: FileView): string;
}

/** Loads the built-in templates and, when given, a team's overrides. */
export function createRenderer(builtinDir: string, overrideDir: string | undefined): Renderer {
  const hbs = Handlebars.create();
  registerHelpers(hbs);
  const builtins = readTemplates(builtinDir);
  const templates = new Map(builtins);
  if (overrideDir !== undefined) {
    if (!existsSync(overrideDir) || !statSync(overrideDir).isDirectory()) {
      throw new PluginOptionError(
        "templates",
        `"${overrideDir}" is not a folder (resolved to ${join(process.cwd(), overrideDir)})`,
      );
    }
    for (const [name, source] of readTemplates(overrideDir)) {
      templates.set(name, source);
    }
  }
  for (const [name, source] of builtins) {
    hbs.registerPartial(`@default/${name}`, compile(hbs, `@default/${name}`, source));
  }
  for (const [name, source] of templates) {
    if (name !== ENTRY) {
      hbs.registerPartial(name, compile(hbs, name, source));
    }
  }
  const entrySource = templates.get(ENTRY);
  if (entrySource === undefined) {
    throw new Error(`the template set has no "${ENTRY}.hbs"`);
  }
  const entry = compile(hbs, ENTRY, entrySource);
  return {
    render(view) {
      try {
        return entry(view);
      } catch (e) {
        throw new Error(`rendering ${view.outputPath} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
  };
}

function compile(hbs: typeof Handlebars, name: string, source: string): Handlebars.TemplateDelegate {
  try {
    // Precompiling surfaces syntax errors now, with the template's name.
    hbs.precompile(source, { strict: true });
  } catch (e) {
    throw new Error(`template ${name}.hbs: ${e instanceof Error ? e.message : String(e)}`);
  }
  return hbs.compile(source, { strict: true, noEscape: true });
}

/** Every `.hbs` file below `dir`, named by its path without the extension. */
function readTemplates(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        walk(path);
      } else if (entry.name.endsWith(".hbs")) {
        const name = relative(dir, path).slice(0, -".hbs".length).split(sep).join("/");
        found.set(name, readFileSync(path, "utf8"));
      }
    }
  };
  walk(dir);
  return found;
}

function registerHelpers(hbs: typeof Handlebars): void {
  hbs.registerHelper("jsdoc", (lines: unknown, options: Handlebars.HelperOptions) =>
    formatJsDoc(Array.isArray(lines) ? lines.map(String) : [], options.hash.deprecated === true),
  );
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
