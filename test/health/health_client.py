"""A grpc.health.v1 client on Python grpcio, with no generated code: it
encodes the one-field request and decodes the one-field response by hand.

    health_client.py TARGET check SERVICE   prints the status number, or "error CODE"
    health_client.py TARGET watch SERVICE   prints each status number as it
                                            arrives, then "end CODE"
"""
import sys

import grpc


def encode_request(service):
    name = service.encode("utf-8")
    length, out = len(name), bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            break
    return (b"\x0a" + bytes(out) + name) if name else b""


def decode_status(data):
    # HealthCheckResponse: field 1 (status) as a varint; absent means 0.
    if not data:
        return 0
    if data[0] != 0x08:
        raise ValueError("unexpected response bytes: %r" % data)
    return data[1]


def main():
    target, verb, service = sys.argv[1], sys.argv[2], sys.argv[3]
    with grpc.insecure_channel(target) as channel:
        if verb == "check":
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=encode_request,
                response_deserializer=decode_status,
            )
            try:
                print(check(service, timeout=30), flush=True)
            except grpc.RpcError as error:
                print("error", error.code().name, flush=True)
        else:
            watch = channel.unary_stream(
                "/grpc.health.v1.Health/Watch",
                request_serializer=encode_request,
                response_deserializer=decode_status,
            )
            call = watch(service)
            try:
                for status in call:
                    print(status, flush=True)
                print("end", call.code().name, flush=True)
            except grpc.RpcError as error:
                print("end", error.code().name, flush=True)


main()
