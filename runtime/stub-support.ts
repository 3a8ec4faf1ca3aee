/**
 * What the runtime's own generated stubs (runtime/generated/) import in
 * place of "leaksafe": the same names, from the modules that define them,
 * so that a stub never imports the index that imports it.
 */

export type { CallOptions } from "./call-options.js";
export type { ClientBase } from "./client.js";
export type { ServerStreamCallOptions } from "./resume-policy.js";
export type { ServerContext } from "./server-context.js";
export { defineService, deserializer, type EmbeddedFile, serializer } from "./service.js";
