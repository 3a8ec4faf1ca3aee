/**
 * The comments protoc and buf record in a file's SourceCodeInfo. A location
 * there is named by its source path: the field numbers and list indexes that
 * lead from the FileDescriptorProto to the element, so the second method of
 * the first service is [6, 0, 2, 1] (FileDescriptorProto.service = 6,
 * ServiceDescriptorProto.method = 2).
 */
import { type DescMethod, type DescService, isFieldSet } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  ServiceDescriptorProtoSchema,
  SourceCodeInfo_LocationSchema,
} from "@bufbuild/protobuf/wkt";

/**
 * The comment just above a service or a method, as protoc recorded it: each
 * line without its `//` but with the space after it, line breaks as LF, and
 * the last line ending in a line break. Undefined when there is none.
 */
export function leadingComment(desc: DescService | DescMethod): string | undefined {
  const file = desc.kind === "service" ? desc.file : desc.parent.file;
  const path = sourcePath(desc);
  // protoc writes one location per element; the first that matches is the one.
  const location = file.proto.sourceCodeInfo?.location.find(
    (l) => l.path.length === path.length && l.path.every((n, i) => n === path[i]),
  );
  if (location === undefined || !isFieldSet(location, SourceCodeInfo_LocationSchema.field.leadingComments)) {
    return undefined;
  }
  return location.leadingComments.replace(/\r\n|[\r\u2028\u2029]/g, "\n");
}

/** The source path of a service or a method. */
function sourcePath(desc: DescService | DescMethod): number[] {
  if (desc.kind === "service") {
    return [FileDescriptorProtoSchema.field.service.number, desc.file.proto.service.indexOf(desc.proto)];
  }
  return [
    ...sourcePath(desc.parent),
    ServiceDescriptorProtoSchema.field.method.number,
    desc.parent.proto.method.indexOf(desc.proto),
  ];
}
