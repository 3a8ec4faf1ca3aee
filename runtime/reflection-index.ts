/**
 * What server reflection answers from: the descriptors that generated code
 * carries (`$fileDescriptors`, through `defineService`), indexed by file
 * name, by every fully qualified name they declare, and by extension.
 * Loaded only with `reflection: true`, through reflection-service.ts: it
 * needs `@bufbuild/protobuf` to read FileDescriptorProtos.
 */
import { fromBinary } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { Status } from "./rpc-error.js";
import { reflectionOf, type ServiceDescriptor } from "./service.js";

/** One file, as served: its bytes exactly as generated code carries them. */
interface IndexedFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly dependencies: readonly string[];
}

/** A question the index cannot answer: a gRPC status code and a message for `error_response`. */
export class ReflectionMiss {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}

/**
 * The descriptors of a set of services, indexed once when constructed.
 * Construction throws, naming the file, when a descriptor does not decode
 * or names another file. A file that several services carry is taken from
 * the first; a service without descriptors is listed by its paths' name.
 */
export class ReflectionIndex {
  /** Full names of the services, in the order they were added. */
  readonly services: readonly string[];
  private readonly files = new Map<string, IndexedFile>();
  private readonly symbols = new Map<string, string>();
  private readonly messages = new Set<string>();
  /** Extended message (no leading dot) → extension number → file name. */
  private readonly extensions = new Map<string, Map<number, string>>();

  constructor(services: readonly ServiceDescriptor[]) {
    const names = new Set<string>();
    for (const service of services) {
      const reflection = reflectionOf(service);
      const name = reflection?.name ?? nameFromPaths(service);
      if (name !== undefined) names.add(name);
      for (const embedded of reflection?.files() ?? []) {
        // The same file comes with every service that imports it; the first copy is kept.
        if (this.files.has(embedded.name)) continue;
        const bytes = Buffer.from(embedded.base64.join(""), "base64");
        const proto = decode(embedded.name, bytes);
        this.files.set(proto.name, { name: proto.name, bytes, dependencies: proto.dependency });
        this.indexFile(proto);
      }
    }
    this.services = [...names];
  }

  /** The file of this name, then every file it imports, directly or not. */
  fileByName(name: string): Uint8Array[] {
    if (!this.files.has(name)) {
      throw new ReflectionMiss(
        Status.NOT_FOUND,
        `no file named ${JSON.stringify(name)} describes a service of this server`,
      );
    }
    return this.withImports(name);
  }

  /** The file that declares a fully qualified name, then its imports. */
  fileContainingSymbol(symbol: string): Uint8Array[] {
    const file = this.symbols.get(stripDot(symbol));
    if (file === undefined) {
      throw new ReflectionMiss(
        Status.NOT_FOUND,
        `no symbol ${JSON.stringify(symbol)} in the files of this server's services`,
      );
    }
    return this.withImports(file);
  }

  /** The file that declares extension `number` of `message`, then its imports. */
  fileContainingExtension(message: string, number: number): Uint8Array[] {
    const file = this.extensions.get(stripDot(message))?.get(number);
    if (file === undefined) {
      throw new ReflectionMiss(Status.NOT_FOUND, `no extension ${number} of ${JSON.stringify(message)} is known`);
    }
    return this.withImports(file);
  }

  /** Every known extension number of a message type, ascending; [] for a message that has none. */
  extensionNumbers(message: string): { baseTypeName: string; numbers: number[] } {
    const name = stripDot(message);
    if (!this.messages.has(name)) {
      throw new ReflectionMiss(Status.NOT_FOUND, `no message type ${JSON.stringify(message)} is known`);
    }
    const numbers = [...(this.extensions.get(name)?.keys() ?? [])].sort((a, b) => a - b);
    return { baseTypeName: name, numbers };
  }

  /** `name` first, then its imports depth first, each once; an import no service carried is left out. */
  private withImports(name: string): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (fileName: string): void => {
      const file = this.files.get(fileName);
      if (file === undefined || seen.has(fileName)) return;
      seen.add(fileName);
      out.push(file.bytes);
      for (const dep of file.dependencies) visit(dep);
    };
    visit(name);
    return out;
  }

  /**
   * Every name the file declares, as protobuf scopes them: messages, their
   * fields, oneofs, nested types and extensions; enums and their values
   * (which live in the enum's enclosing scope, and are also found under the
   * enum's name); services and their methods.
   */
  private indexFile(file: FileDescriptorProto): void {
    const add = (symbol: string): void => {
      if (!this.symbols.has(symbol)) this.symbols.set(symbol, file.name);
    };
    const extension = (scope: string, field: FieldDescriptorProto): void => {
      add(scope + field.name);
      const extended = stripDot(field.extendee);
      let numbers = this.extensions.get(extended);
      if (numbers === undefined) {
        numbers = new Map();
        this.extensions.set(extended, numbers);
      }
      if (!numbers.has(field.number)) numbers.set(field.number, file.name);
    };
    const enumType = (scope: string, e: EnumDescriptorProto): void => {
      add(scope + e.name);
      for (const value of e.value) add(scope + value.name);
      // Some clients (and grpc-node's reflection) name a value inside its enum.
      for (const value of e.value) add(`${scope}${e.name}.${value.name}`);
    };
    const message = (scope: string, m: DescriptorProto): void => {
      const name = scope + m.name;
      add(name);
      this.messages.add(name);
      for (const field of m.field) add(`${name}.${field.name}`);
      for (const oneof of m.oneofDecl) add(`${name}.${oneof.name}`);
      for (const nested of m.nestedType) message(`${name}.`, nested);
      for (const e of m.enumType) enumType(`${name}.`, e);
      for (const field of m.extension) extension(`${name}.`, field);
    };
    const scope = file.package === "" ? "" : `${file.package}.`;
    for (const m of file.messageType) message(scope, m);
    for (const e of file.enumType) enumType(scope, e);
    for (const field of file.extension) extension(scope, field);
    for (const service of file.service) {
      add(scope + service.name);
      for (const method of service.method) add(`${scope}${service.name}.${method.name}`);
    }
  }
}

function decode(name: string, bytes: Uint8Array): FileDescriptorProto {
  let proto: FileDescriptorProto;
  try {
    proto = fromBinary(FileDescriptorProtoSchema, bytes);
  } catch (cause) {
    throw new Error(`the descriptor generated for ${name} does not decode as a FileDescriptorProto`, { cause });
  }
  if (proto.name !== name) {
    throw new Error(`the descriptor generated for ${name} names itself ${JSON.stringify(proto.name)}`);
  }
  return proto;
}

/** A service defined without reflection data still has a name, from its methods' paths. */
function nameFromPaths(service: ServiceDescriptor): string | undefined {
  for (const method of Object.values(service)) {
    return method.path.slice(1, method.path.lastIndexOf("/"));
  }
  return undefined;
}

function stripDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}
