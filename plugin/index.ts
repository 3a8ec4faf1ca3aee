export { buildFileView, outputPathFor, PLUGIN_NAME } from "./build-view.js";
export { PluginOptionError, type PluginOptions, parseOptions, type TsProtoNaming } from "./options.js";
export { run } from "./plugin.js";
export { loadPluginFiles, type PluginFiles, type TemplateSet, type TemplateSource } from "./plugin-files.js";
export { createRenderer, formatJsDoc, type Renderer } from "./render.js";
export type * from "./view-model.js";
export { CONTEXT_VERSION } from "./view-model.js";
