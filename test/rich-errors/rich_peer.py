"""Rich error details from and to Python grpcio (gRPC C-core), for leaksafe's tests.

  rich_peer.py GEN_DIR server DETAILS_JSON   serve example.v1.Chat's Post and Watch; both fail
                                             with RESOURCE_EXHAUSTED "the room is full" and a
                                             google.rpc.Status holding DETAILS_JSON (a proto3
                                             JSON list of Any) in grpc-status-details-bin;
                                             Watch sends one RoomEvent first. Prints "ready PORT".
  rich_peer.py GEN_DIR client TARGET         call Post and Watch on TARGET; prints one JSON line
                                             per call: its code, message, messages received, and
                                             the Status from grpc-status-details-bin as proto3 JSON.

GEN_DIR holds the google.rpc modules that protoc --python_out made from
test/rich-errors/proto. The Chat messages are passed as raw bytes: these
calls only need their status.
"""

import json
import sys
from concurrent import futures

import grpc
from google.protobuf import json_format

sys.path.insert(0, sys.argv[1])
from google.rpc import error_details_pb2  # noqa: E402,F401  (registers the detail types for Any)
from google.rpc import status_pb2  # noqa: E402

KEY = "grpc-status-details-bin"
MESSAGE = "the room is full"
ROOM_EVENT_7 = b"\x08\x07"  # RoomEvent { revision: 7 }


def identity(data):
    return data


def serve(details_json):
    status = status_pb2.Status()
    json_format.ParseDict(
        {"code": grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], "message": MESSAGE, "details": json.loads(details_json)},
        status,
    )
    trailer = ((KEY, status.SerializeToString()),)

    def post(request, context):
        context.set_trailing_metadata(trailer)
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, MESSAGE)

    def watch(request, context):
        yield ROOM_EVENT_7
        context.set_trailing_metadata(trailer)
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, MESSAGE)

    handlers = {
        "Post": grpc.unary_unary_rpc_method_handler(post, identity, identity),
        "Watch": grpc.unary_stream_rpc_method_handler(watch, identity, identity),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("example.v1.Chat", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"ready {port}", flush=True)
    server.wait_for_termination()


def report(call, error, received):
    trailers = [value for key, value in (error.trailing_metadata() or ()) if key == KEY]
    status = None
    if trailers:
        parsed = status_pb2.Status.FromString(trailers[0])
        status = json_format.MessageToDict(parsed)
    line = {
        "call": call,
        "code": error.code().name,
        "message": error.details(),
        "received": received,
        "trailers": len(trailers),
        "status": status,
    }
    print(json.dumps(line), flush=True)


def client(target):
    with grpc.insecure_channel(target) as channel:
        post = channel.unary_unary("/example.v1.Chat/Post", request_serializer=identity, response_deserializer=identity)
        try:
            post(b"", timeout=30)
            print(json.dumps({"call": "post", "code": "OK"}), flush=True)
        except grpc.RpcError as error:
            report("post", error, 0)
        watch = channel.unary_stream("/example.v1.Chat/Watch", request_serializer=identity, response_deserializer=identity)
        received = 0
        try:
            for _ in watch(b"", timeout=30):
                received += 1
            print(json.dumps({"call": "watch", "code": "OK"}), flush=True)
        except grpc.RpcError as error:
            report("watch", error, received)


def main():
    verb = sys.argv[2]
    if verb == "server":
        serve(sys.argv[3])
    elif verb == "client":
        client(sys.argv[3])
    else:
        raise SystemExit(f"unknown verb {verb!r}")


main()
