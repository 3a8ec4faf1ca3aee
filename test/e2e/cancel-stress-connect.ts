/**
 * Chat's Upload and Converse as a protobuf-es service descriptor, for the
 * connect-node client of the cancel stress test: built from a descriptor
 * written here, with the same field numbers as proto/example/v1/chat.proto,
 * so that no code generation runs at test time.
 */
import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";

const field = (name: string, number: number, type: Type) => ({
  name,
  number,
  type,
  label: Label.OPTIONAL,
  jsonName: name,
});

export function chatDescriptor(): DescService {
  const file = create(FileDescriptorProtoSchema, {
    name: "example/v1/chat.proto",
    package: "example.v1",
    syntax: "proto3",
    messageType: [
      { name: "UploadChunk", field: [field("name", 1, Type.STRING), field("data", 2, Type.BYTES)] },
      {
        name: "UploadSummary",
        field: [field("name", 1, Type.STRING), field("bytes", 2, Type.UINT64), field("chunks", 3, Type.UINT32)],
      },
      { name: "ChatMessage", field: [field("author", 1, Type.STRING), field("text", 2, Type.STRING)] },
    ],
    service: [
      {
        name: "Chat",
        method: [
          {
            name: "Upload",
            inputType: ".example.v1.UploadChunk",
            outputType: ".example.v1.UploadSummary",
            clientStreaming: true,
          },
          {
            name: "Converse",
            inputType: ".example.v1.ChatMessage",
            outputType: ".example.v1.ChatMessage",
            clientStreaming: true,
            serverStreaming: true,
          },
        ],
      },
    ],
  });
  const service = createFileRegistry(file, () => undefined).getService("example.v1.Chat");
  if (service === undefined) throw new Error("example.v1.Chat is missing from its own descriptor");
  return service;
}
