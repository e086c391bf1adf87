"""Talks to afs-server's gRPC port with gRPC's own Python clients and nothing from this project.

grpcio-health-checking asks grpc.health.v1; grpcio-reflection's descriptor database (which speaks
grpc.reflection.v1alpha) learns the services and message types from the server itself, and a
session is then created and listed through messages built from those reflected descriptors alone:
no .proto file and no generated stub of ours.

usage: grpc_health_reflection.py PORT ADMIN_TOKEN
Prints one JSON line with what it observed; exits non-zero (with the reason) on any surprise.
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

port, token = sys.argv[1], sys.argv[2]
seen = {}
with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
    health = health_pb2_grpc.HealthStub(channel)
    seen["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(service="")).status)
    seen["health_sessions"] = health_pb2.HealthCheckResponse.ServingStatus.Name(
        health.Check(health_pb2.HealthCheckRequest(service="aether.v1.Sessions")).status)
    try:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        seen["health_unknown"] = "answered"
    except grpc.RpcError as error:
        seen["health_unknown"] = error.code().name
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    seen["watch_first"] = health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status)
    watch.cancel()

    database = ProtoReflectionDescriptorDatabase(channel)
    seen["services"] = sorted(database.get_services())
    pool = descriptor_pool.DescriptorPool(database)
    sessions = pool.FindServiceByName("aether.v1.Sessions")
    seen["session_methods"] = sorted(m.name for m in sessions.methods)
    create = sessions.FindMethodByName("Create")
    Request = message_factory.GetMessageClass(create.input_type)
    Session = message_factory.GetMessageClass(create.output_type)
    request = Request(name="from-reflection")
    request.source.blank.SetInParent()
    metadata = [("authorization", f"Bearer {token}")]
    call = channel.unary_unary("/aether.v1.Sessions/Create", request_serializer=Request.SerializeToString, response_deserializer=Session.FromString)
    made = call(request, metadata=metadata)
    seen["created"] = {"name": made.name, "id_prefix": made.id[:4]}
    log = sessions.FindMethodByName("Log")
    LogRequest = message_factory.GetMessageClass(log.input_type)
    LogResponse = message_factory.GetMessageClass(log.output_type)
    try:
        channel.unary_unary("/aether.v1.Sessions/Log", request_serializer=LogRequest.SerializeToString, response_deserializer=LogResponse.FromString)(
            LogRequest(start="no-such-ref"), metadata=metadata)
        seen["log_unknown"] = "answered"
    except grpc.RpcError as error:
        seen["log_unknown"] = error.code().name
print(json.dumps(seen, sort_keys=True))
