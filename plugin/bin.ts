#!/usr/bin/env node
// The executable protoc and buf run: the plugin on stdin and stdout, through run-node.ts.
import { leaksafePlugin } from "./plugin.js";
import { runNodeJs } from "./run-node.js";

await runNodeJs(leaksafePlugin);
