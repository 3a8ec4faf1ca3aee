/**
 * A stand-in plugin for run-node.test.ts, run in its own process through the
 * real runner: it ignores the request and answers with one file of
 * RESPONSE_BYTES bytes, or throws what THROW says.
 */
import { create } from "@bufbuild/protobuf";
import { CodeGeneratorResponse_FileSchema, CodeGeneratorResponseSchema } from "@bufbuild/protobuf/wkt";
import { runNodeJs } from "../../plugin/run-node.js";

const size = Number(process.env.RESPONSE_BYTES ?? "0");

await runNodeJs({
  name: "protoc-gen-child",
  version: "v9.9.9",
  run() {
    if (process.env.THROW === "string") {
      throw "a thrown string";
    }
    return create(CodeGeneratorResponseSchema, {
      file: [create(CodeGeneratorResponse_FileSchema, { name: "big.ts", content: "x".repeat(size) })],
    });
  },
});
