"""A server reflection client on Python grpcio, with no generated code and no
grpc_reflection module: it describes the reflection messages itself, as a
FileDescriptorProto built here with the standard package, names and field
numbers, asks the server what it serves, builds the message classes of a
service from the descriptors it is sent, and calls one of its methods.

    reflection_client.py TARGET VERSION SERVICE METHOD REQUEST_JSON

VERSION is v1 or v1alpha. It prints one JSON object a line:
    {"services": [...]}                       the answer to list_services
    {"files": [...]}                          the files sent for SERVICE, in order
    {"missing": "..."}                        an error_response for an unknown symbol
    {"response": {...}}                       METHOD's answer to REQUEST_JSON
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto


def reflection_file(package):
    """The reflection protocol's messages, described field by field."""
    file = descriptor_pb2.FileDescriptorProto(name="client/%s/reflection.proto" % package, package=package,
                                              syntax="proto3")

    def message(name, *fields, oneofs=()):
        m = file.message_type.add(name=name)
        for oneof in oneofs:
            m.oneof_decl.add(name=oneof)
        for field_name, number, kind, extra in fields:
            f = m.field.add(name=field_name, number=number, type=kind, label=extra.get("label", F.LABEL_OPTIONAL))
            if "type_name" in extra:
                f.type_name = "." + package + "." + extra["type_name"]
            if "oneof" in extra:
                f.oneof_index = extra["oneof"]

    message("ServerReflectionRequest",
            ("host", 1, F.TYPE_STRING, {}),
            ("file_by_filename", 3, F.TYPE_STRING, {"oneof": 0}),
            ("file_containing_symbol", 4, F.TYPE_STRING, {"oneof": 0}),
            ("file_containing_extension", 5, F.TYPE_MESSAGE, {"oneof": 0, "type_name": "ExtensionRequest"}),
            ("all_extension_numbers_of_type", 6, F.TYPE_STRING, {"oneof": 0}),
            ("list_services", 7, F.TYPE_STRING, {"oneof": 0}),
            oneofs=["message_request"])
    message("ExtensionRequest",
            ("containing_type", 1, F.TYPE_STRING, {}),
            ("extension_number", 2, F.TYPE_INT32, {}))
    message("ServerReflectionResponse",
            ("valid_host", 1, F.TYPE_STRING, {}),
            ("original_request", 2, F.TYPE_MESSAGE, {"type_name": "ServerReflectionRequest"}),
            ("file_descriptor_response", 4, F.TYPE_MESSAGE, {"oneof": 0, "type_name": "FileDescriptorResponse"}),
            ("all_extension_numbers_response", 5, F.TYPE_MESSAGE,
             {"oneof": 0, "type_name": "ExtensionNumberResponse"}),
            ("list_services_response", 6, F.TYPE_MESSAGE, {"oneof": 0, "type_name": "ListServiceResponse"}),
            ("error_response", 7, F.TYPE_MESSAGE, {"oneof": 0, "type_name": "ErrorResponse"}),
            oneofs=["message_response"])
    message("FileDescriptorResponse", ("file_descriptor_proto", 1, F.TYPE_BYTES, {"label": F.LABEL_REPEATED}))
    message("ExtensionNumberResponse",
            ("base_type_name", 1, F.TYPE_STRING, {}),
            ("extension_number", 2, F.TYPE_INT32, {"label": F.LABEL_REPEATED}))
    message("ListServiceResponse",
            ("service", 1, F.TYPE_MESSAGE, {"label": F.LABEL_REPEATED, "type_name": "ServiceResponse"}))
    message("ServiceResponse", ("name", 1, F.TYPE_STRING, {}))
    message("ErrorResponse", ("error_code", 1, F.TYPE_INT32, {}), ("error_message", 2, F.TYPE_STRING, {}))
    return file


def message_class(pool, full_name):
    descriptor = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    target, version, service, method, request_json = sys.argv[1:6]
    package = "grpc.reflection." + version
    own = descriptor_pool.DescriptorPool()
    own.Add(reflection_file(package))
    Request = message_class(own, package + ".ServerReflectionRequest")
    Response = message_class(own, package + ".ServerReflectionResponse")

    with grpc.insecure_channel(target) as channel:
        info = channel.stream_stream(
            "/%s.ServerReflection/ServerReflectionInfo" % package,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=Response.FromString,
        )

        def ask(**question):
            answers = list(info(iter([Request(host=target, **question)]), timeout=30))
            if len(answers) != 1:
                raise RuntimeError("expected one answer, got %d" % len(answers))
            return answers[0]

        listed = ask(list_services="*")
        emit({"services": [s.name for s in listed.list_services_response.service]})

        answer = ask(file_containing_symbol=service)
        if answer.WhichOneof("message_response") != "file_descriptor_response":
            raise RuntimeError("no file for %s: %s" % (service, answer))
        sent = {}
        order = []
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            file = descriptor_pb2.FileDescriptorProto.FromString(raw)
            sent[file.name] = file
            order.append(file.name)
        emit({"files": order})

        missing = ask(file_containing_symbol=service + ".NoSuchMethod")
        emit({"missing": json_format.MessageToDict(missing.error_response)})

        # Dependencies first: a descriptor pool resolves each import as a file is added.
        pool = descriptor_pool.DescriptorPool()
        added = set()

        def add(name):
            if name in added:
                return
            if name not in sent:
                fetched = ask(file_by_filename=name).file_descriptor_response.file_descriptor_proto
                for raw in fetched:
                    file = descriptor_pb2.FileDescriptorProto.FromString(raw)
                    sent.setdefault(file.name, file)
            for dependency in sent[name].dependency:
                add(dependency)
            pool.Add(sent[name])
            added.add(name)

        add(order[0])
        rpc = pool.FindServiceByName(service).FindMethodByName(method)
        Input = message_class(pool, rpc.input_type.full_name)
        Output = message_class(pool, rpc.output_type.full_name)
        call = channel.unary_unary(
            "/%s/%s" % (service, method),
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=Output.FromString,
        )
        reply = call(json_format.Parse(request_json, Input()), timeout=30)
        emit({"response": json_format.MessageToDict(reply, preserving_proto_field_name=True)})


main()
