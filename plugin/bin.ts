#!/usr/bin/env node
// The executable protoc and buf run: reads the plugin's files from disk, then
// runs it on stdin and stdout through run-node.ts.
import { PLUGIN_NAME } from "./build-view.js";
import { run } from "./plugin.js";
import { loadPluginFiles } from "./plugin-files.js";
import { runNodeJs } from "./run-node.js";

const files = loadPluginFiles();
await runNodeJs({ name: PLUGIN_NAME, version: `v${files.version}`, run: (request) => run(request, files) });
