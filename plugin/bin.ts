#!/usr/bin/env node
// The only part of the plugin that touches stdin, stdout and the exit code.
import { runNodeJs } from "@bufbuild/protoplugin";
import { leaksafePlugin } from "./plugin.js";

runNodeJs(leaksafePlugin);
