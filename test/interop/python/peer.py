"""leaksafe's interop peer in Python grpcio (gRPC C-core), written for leaksafe's tests.

  peer.py GEN_DIR server                 serve interop.v1.TestService; prints "ready PORT"
  peer.py GEN_DIR client TARGET CASE...  run interop cases against TARGET; prints one JSON line per case
  peer.py GEN_DIR stream TARGET          send StreamingInputCall requests forever; prints "sending"

GEN_DIR holds the modules that protoc --python_out made from test/interop/proto.
leaksafe's own cases name themselves in the x-peer-case metadata, so the
server under test can tell which call is whose.
"""

import json
import queue
import sys
import threading
import time
from concurrent import futures

import grpc

sys.path.insert(0, sys.argv[1])
from interop.v1 import test_service_pb2 as pb  # noqa: E402

SERVICE = "interop.v1.TestService"
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
CASE_KEY = "x-peer-case"
SPECIAL = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"


def status_code(number):
    return next(code for code in grpc.StatusCode if code.value[0] == number)


def payload(size):
    return pb.Payload(body=bytes(size))


# --- server ---------------------------------------------------------------


def echo(context):
    metadata = context.invocation_metadata()
    initial = [(k, v) for k, v in metadata if k == ECHO_INITIAL]
    trailing = [(k, v) for k, v in metadata if k == ECHO_TRAILING]
    if initial:
        context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)


def fail_if_asked(status, context):
    if status.code != 0:
        context.abort(status_code(status.code), status.message)


def empty_call(request, context):
    return pb.Empty()


def unary_call(request, context):
    echo(context)
    fail_if_asked(request.response_status, context)
    return pb.SimpleResponse(payload=payload(request.response_size))


def streaming_output_call(request, context):
    echo(context)
    for p in request.response_parameters:
        if p.interval_us:
            time.sleep(p.interval_us / 1e6)
        yield pb.StreamingOutputCallResponse(payload=payload(p.size))
    fail_if_asked(request.response_status, context)


def streaming_input_call(requests, context):
    return pb.StreamingInputCallResponse(aggregated_payload_size=sum(len(r.payload.body) for r in requests))


def full_duplex_call(requests, context):
    echo(context)
    for r in requests:
        fail_if_asked(r.response_status, context)
        for p in r.response_parameters:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            yield pb.StreamingOutputCallResponse(payload=payload(p.size))


def serve():
    handlers = {
        "EmptyCall": grpc.unary_unary_rpc_method_handler(
            empty_call, pb.Empty.FromString, pb.Empty.SerializeToString
        ),
        "UnaryCall": grpc.unary_unary_rpc_method_handler(
            unary_call, pb.SimpleRequest.FromString, pb.SimpleResponse.SerializeToString
        ),
        "StreamingOutputCall": grpc.unary_stream_rpc_method_handler(
            streaming_output_call,
            pb.StreamingOutputCallRequest.FromString,
            pb.StreamingOutputCallResponse.SerializeToString,
        ),
        "StreamingInputCall": grpc.stream_unary_rpc_method_handler(
            streaming_input_call,
            pb.StreamingInputCallRequest.FromString,
            pb.StreamingInputCallResponse.SerializeToString,
        ),
        "FullDuplexCall": grpc.stream_stream_rpc_method_handler(
            full_duplex_call,
            pb.StreamingOutputCallRequest.FromString,
            pb.StreamingOutputCallResponse.SerializeToString,
        ),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"ready {port}", flush=True)
    server.wait_for_termination()


# --- client ---------------------------------------------------------------


class Stub:
    def __init__(self, channel):
        def method(kind, name, request, response):
            return getattr(channel, kind)(
                f"/{SERVICE}/{name}",
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
            )

        self.empty = method("unary_unary", "EmptyCall", pb.Empty, pb.Empty)
        self.unary = method("unary_unary", "UnaryCall", pb.SimpleRequest, pb.SimpleResponse)
        self.output = method(
            "unary_stream", "StreamingOutputCall", pb.StreamingOutputCallRequest, pb.StreamingOutputCallResponse
        )
        self.input = method(
            "stream_unary", "StreamingInputCall", pb.StreamingInputCallRequest, pb.StreamingInputCallResponse
        )
        self.duplex = method(
            "stream_stream", "FullDuplexCall", pb.StreamingOutputCallRequest, pb.StreamingOutputCallResponse
        )
        self.unimplemented = method("unary_unary", "UnimplementedCall", pb.Empty, pb.Empty)


def expect_error(fn, code, details=None):
    try:
        fn()
    except grpc.RpcError as error:
        assert error.code() == code, f"expected {code}, got {error.code()}: {error.details()}"
        if details is not None:
            assert error.details() == details, f"details {error.details()!r} != {details!r}"
        return error
    raise AssertionError(f"expected {code}, but the call succeeded")


def queued():
    q = queue.Queue()

    def requests():
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    return q, requests()


def streaming_request(response_size, request_size, interval_us=0):
    return pb.StreamingOutputCallRequest(
        response_parameters=[pb.ResponseParameters(size=response_size, interval_us=interval_us)],
        payload=payload(request_size),
    )


def case_empty_unary(stub):
    assert stub.empty(pb.Empty()) == pb.Empty()


def case_large_unary(stub):
    response = stub.unary(pb.SimpleRequest(response_size=314159, payload=payload(271828)))
    assert len(response.payload.body) == 314159


def case_client_streaming(stub):
    requests = (pb.StreamingInputCallRequest(payload=payload(n)) for n in [27182, 8, 1828, 45904])
    assert stub.input(requests).aggregated_payload_size == 74922


def case_server_streaming(stub):
    sizes = [31415, 9, 2653, 58979]
    request = pb.StreamingOutputCallRequest(response_parameters=[pb.ResponseParameters(size=s) for s in sizes])
    assert [len(r.payload.body) for r in stub.output(request)] == sizes


def case_ping_pong(stub):
    pairs = [(27182, 31415), (8, 9), (1828, 2653), (45904, 58979)]
    q, requests = queued()
    call = stub.duplex(requests)
    for request_size, response_size in pairs:
        q.put(streaming_request(response_size, request_size))
        assert len(next(call).payload.body) == response_size
    q.put(None)
    assert list(call) == []


def case_empty_stream(stub):
    assert list(stub.duplex(iter([]))) == []


def case_cancel_after_begin(stub):
    q, requests = queued()
    future = stub.input.future(requests)
    future.cancel()
    assert future.cancelled()
    q.put(None)


def case_cancel_after_first_response(stub):
    q, requests = queued()
    call = stub.duplex(requests)
    q.put(streaming_request(31415, 27182))
    assert len(next(call).payload.body) == 31415
    call.cancel()
    expect_error(lambda: next(call), grpc.StatusCode.CANCELLED)
    q.put(None)


def case_timeout_on_sleeping_server(stub):
    q, requests = queued()
    q.put(streaming_request(31415, 27182, interval_us=200_000))
    expect_error(lambda: list(stub.duplex(requests, timeout=0.001)), grpc.StatusCode.DEADLINE_EXCEEDED)
    q.put(None)


def case_custom_metadata(stub):
    metadata = [(ECHO_INITIAL, "test_initial_metadata_value"), (ECHO_TRAILING, b"\xab\xab\xab")]
    _, call = stub.unary.with_call(pb.SimpleRequest(response_size=314159, payload=payload(271828)), metadata=metadata)
    assert (ECHO_INITIAL, "test_initial_metadata_value") in call.initial_metadata(), call.initial_metadata()
    assert (ECHO_TRAILING, b"\xab\xab\xab") in call.trailing_metadata(), call.trailing_metadata()
    stream = stub.duplex(iter([streaming_request(314159, 271828)]), metadata=metadata)
    assert len(list(stream)) == 1
    assert (ECHO_INITIAL, "test_initial_metadata_value") in stream.initial_metadata()
    assert (ECHO_TRAILING, b"\xab\xab\xab") in stream.trailing_metadata()


def case_status_code_and_message(stub):
    status = pb.EchoStatus(code=2, message="test status message")
    expect_error(lambda: stub.unary(pb.SimpleRequest(response_status=status)), grpc.StatusCode.UNKNOWN, status.message)
    request = pb.StreamingOutputCallRequest(response_status=status)
    expect_error(lambda: list(stub.duplex(iter([request]))), grpc.StatusCode.UNKNOWN, status.message)


def case_special_status_message(stub):
    status = pb.EchoStatus(code=2, message=SPECIAL)
    expect_error(lambda: stub.unary(pb.SimpleRequest(response_status=status)), grpc.StatusCode.UNKNOWN, SPECIAL)


def case_unimplemented_method(stub):
    expect_error(lambda: stub.unimplemented(pb.Empty()), grpc.StatusCode.UNIMPLEMENTED)


def case_silent_client(stub):
    """Sends one request, then nothing: the server's idle deadline must end the call."""
    stop = threading.Event()

    def requests():
        yield pb.StreamingInputCallRequest(payload=payload(1))
        stop.wait(30)  # then a normal end, which fails the case

    started = time.monotonic()
    metadata = [(CASE_KEY, "silent_client")]
    expect_error(lambda: stub.input(requests(), metadata=metadata), grpc.StatusCode.DEADLINE_EXCEEDED)
    stop.set()
    return {"elapsed_ms": round((time.monotonic() - started) * 1000)}


def run_cases(target, names):
    with grpc.insecure_channel(target) as channel:
        stub = Stub(channel)
        for name in names:
            try:
                extra = globals()[f"case_{name}"](stub) or {}
                print(json.dumps({"case": name, "ok": True, **extra}), flush=True)
            except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
                print(json.dumps({"case": name, "ok": False, "error": f"{type(error).__name__}: {error}"}), flush=True)


def stream_forever(target):
    with grpc.insecure_channel(target) as channel:
        stub = Stub(channel)

        def requests():
            for i in range(1_000_000):
                if i == 3:
                    print("sending", flush=True)
                yield pb.StreamingInputCallRequest(payload=payload(16))
                time.sleep(0.01)

        stub.input(requests(), metadata=[(CASE_KEY, "killed_client")])


if __name__ == "__main__":
    mode = sys.argv[2]
    if mode == "server":
        serve()
    elif mode == "client":
        run_cases(sys.argv[3], sys.argv[4:])
    elif mode == "stream":
        stream_forever(sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
