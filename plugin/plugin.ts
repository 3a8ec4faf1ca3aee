/**
 * The plugin's pure core: one CodeGeneratorRequest in, one response out.
 * Only `run-node.ts`, which `bin.ts` calls, touches stdin, stdout and the exit code.
 */

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
import { buildFileView, PLUGIN_NAME } from "./build-view.js";
import { parseOptions } from "./options.js";
import { packageInfo } from "./package-info.js";
import { createRenderer } from "./render.js";
import type { NodePlugin } from "./run-node.js";
import { PolicyReader } from "./stream-policy.js";

/** Generates `<name>_leaksafe.ts` for every requested file that declares a service. */
export function run(request: CodeGeneratorRequest): CodeGeneratorResponse {
  const options = parseOptions(request.parameter);
  const { templatesDir, version } = packageInfo();
  const renderer = createRenderer(templatesDir, options.templatesDir);
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
  const policies = new PolicyReader(registry, options.policyDefaults);
  const files = [];
  for (const name of request.fileToGenerate) {
    const file = registry.getFile(name);
    if (file === undefined) {
      throw new Error(`the request asks for ${name} but does not describe it`);
    }
    if (file.services.length === 0) {
      continue;
    }
    const view = buildFileView(file, options, version, policies);
    files.push(create(CodeGeneratorResponse_FileSchema, { name: view.outputPath, content: renderer.render(view) }));
    if (options.dumpContext) {
      files.push(
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
    file: files,
  });
}

/** The plugin, as `runNodeJs` in run-node.ts (and `@bufbuild/protoplugin`'s of the same name) runs it. */
export const leaksafePlugin: NodePlugin = {
  name: PLUGIN_NAME,
  get version() {
    return `v${packageInfo().version}`;
  },
  run,
};
