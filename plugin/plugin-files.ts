/**
 * Everything the plugin reads from disk, read here and handed to `run()`,
 * which reads no file itself: the version from the package.json named
 * "protoc-gen-leaksafe", the stock templates, and a reader for the folder a
 * team names with the `templates` option.
 *
 * The plugin runs from `plugin/` under tsx and from `plugin/dist/plugin/`
 * when built, so both walk up to its package.json. The packed package
 * carries its templates in its own folder; in the repository they sit at
 * the top, beside `plugin/`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** One template's text, and the file it came from as messages show it. */
export interface TemplateSource {
  file: string;
  source: string;
}

/** Templates by name: their path below the folder, without `.hbs`. */
export type TemplateSet = ReadonlyMap<string, TemplateSource>;

export interface PluginFiles {
  /** The plugin's version, without a leading "v". */
  version: string;
  stockTemplates: TemplateSet;
  /** A team's template folder, or undefined when `dir` is not a folder. */
  readTemplateFolder(dir: string): TemplateSet | undefined;
}

const PACKAGE_NAME = "protoc-gen-leaksafe";

let cached: PluginFiles | undefined;

/** Reads the package's version and stock templates, once a process. */
export function loadPluginFiles(): PluginFiles {
  if (cached === undefined) {
    const { root, version } = findPackage();
    const packed = join(root, "templates");
    const stock = existsSync(packed) ? packed : join(root, "..", "templates");
    cached = { version, stockTemplates: readTemplates(stock, "templates"), readTemplateFolder };
  }
  return cached;
}

function readTemplateFolder(dir: string): TemplateSet | undefined {
  return existsSync(dir) && statSync(dir).isDirectory() ? readTemplates(dir, dir) : undefined;
}

function findPackage(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === "string") {
        return { root: dir, version: pkg.version };
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package.json above the plugin`);
    }
    dir = parent;
  }
}

/** Every `.hbs` file below `dir`, named by its path without the extension; `shownDir` prefixes the file for messages. */
function readTemplates(dir: string, shownDir: string): Map<string, TemplateSource> {
  const found = new Map<string, TemplateSource>();
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        walk(path);
      } else if (entry.name.endsWith(".hbs")) {
        const rel = relative(dir, path).split(sep).join("/");
        found.set(rel.slice(0, -".hbs".length), { file: `${shownDir}/${rel}`, source: readFileSync(path, "utf8") });
      }
    }
  };
  walk(dir);
  return found;
}
