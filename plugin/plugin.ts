/**
 * The plugin's pure core: one CodeGeneratorRequest in, one response out.
 * It reads no file: `bin.ts` reads what the plugin needs from disk
 * (plugin-files.ts) and hands it in, and `run-node.ts` alone touches stdin,
 * stdout and the exit code.
 */

import { resolve } from "node:path";
import { create, createFileRegistry } from "@bufbuild/protobuf";
import {
  type CodeGeneratorRequest,
  type CodeGeneratorResponse,
  CodeGeneratorResponse_Feature,
  CodeGeneratorResponse_FileSchema,
  CodeGeneratorResponseSchema,
  Edition,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { buildFileView } from "./build-view.js";
import { PluginOptionError, parseOptions } from "./options.js";
import type { PluginFiles } from "./plugin-files.js";
import { createRenderer } from "./render.js";
import { PolicyReader } from "./stream-policy.js";

/**
 * Generates `<name>_leaksafe.ts` for every requested file that declares a
 * service. It reads no file: `files` brings what the plugin needs from disk.
 */
export function run(request: CodeGeneratorRequest, files: PluginFiles): CodeGeneratorResponse {
  const options = parseOptions(request.parameter);
  const { version } = files;
  const renderer = createRenderer(files.stockTemplates, teamTemplates(files, options.templatesDir));
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
  const policies = new PolicyReader(registry, options.policyDefaults);
  const outputs = [];
  for (const name of request.fileToGenerate) {
    const file = registry.getFile(name);
    if (file === undefined) {
      throw new Error(`the request asks for ${name} but does not describe it`);
    }
    if (file.services.length === 0) {
      continue;
    }
    const view = buildFileView(file, options, version, policies);
    outputs.push(create(CodeGeneratorResponse_FileSchema, { name: view.outputPath, content: renderer.render(view) }));
    if (options.dumpContext) {
      outputs.push(
        create(CodeGeneratorResponse_FileSchema, {
          name: view.outputPath.replace(/\.ts$/, ".context.json"),
          content: `${JSON.stringify(view, null, 2)}\n`,
        }),
      );
    }
  }
  // Every file is rendered before any is returned, so a failure writes nothing.
  return create(CodeGeneratorResponseSchema, {
    supportedFeatures: BigInt(
      CodeGeneratorResponse_Feature.PROTO3_OPTIONAL | CodeGeneratorResponse_Feature.SUPPORTS_EDITIONS,
    ),
    minimumEdition: Edition.EDITION_PROTO2,
    maximumEdition: Edition.EDITION_2023,
    file: outputs,
  });
}

/** The folder the `templates` option names, read; undefined without the option. */
function teamTemplates(files: PluginFiles, dir: string | undefined): ReturnType<PluginFiles["readTemplateFolder"]> {
  if (dir === undefined) {
    return undefined;
  }
  const found = files.readTemplateFolder(dir);
  if (found === undefined) {
    throw new PluginOptionError(
      "templates",
      `"${dir}" is not a folder (resolved to ${resolve(dir)}, from the directory buf or protoc runs in)`,
    );
  }
  return found;
}
