"""Calls fanout over gRPC knowing nothing of its protos: grpcio-reflection's client
(protocol v1alpha, as Postman, evans, grpcui and older grpcurl speak it) lists the
services, resolves fanout.v1.Root/Search, builds the request message from the
descriptors it fetched and calls it (tests/tests/reflection_clients.rs runs it).

    python reflection_client.py --target 127.0.0.1:PORT --query "boundary layer"

Prints one JSON object: the services listed, the method's message types and the hits.
"""

import argparse
import json

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--query", required=True)
    args = parser.parse_args()
    with grpc.insecure_channel(args.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = DescriptorPool(database)
        method = pool.FindServiceByName("fanout.v1.Root").FindMethodByName("Search")
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        search = channel.unary_unary(
            "/fanout.v1.Root/Search",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        response = search(request_class(query=args.query, limit=10), timeout=30)
        print(json.dumps({
            "services": services,
            "input": method.input_type.full_name,
            "output": method.output_type.full_name,
            "hits": [[hit.id, hit.score] for hit in response.hits],
            "total": response.total_hits,
        }))


if __name__ == "__main__":
    main()
