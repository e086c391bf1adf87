"""A gRPC client nobody on the team wrote: Python's grpcio, with stubs generated from Protos/
by grpcio-tools, over TLS with the test CA. Run by Tests/AFSServerTests/TLSTests.swift.

    grpc_tls_client.py lifecycle|refused PORT CA_FILE TOKEN PROTO_DIR OUT_DIR

lifecycle: health, create a session, write and read a file, fork; prints one JSON object.
refused: expects the handshake to fail (another CA) and prints the status code.
"""
import glob
import json
import os
import sys

import grpc
from grpc_tools import protoc

mode, port, ca, token, protos, out = sys.argv[1:7]
os.makedirs(out, exist_ok=True)
sources = sorted(glob.glob(os.path.join(protos, "aether", "v1", "*.proto")))
include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
if protoc.main(["protoc", f"-I{protos}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *sources]) != 0:
    sys.exit("protoc failed")
sys.path.insert(0, out)
from aether.v1 import files_pb2, files_pb2_grpc, service_pb2, service_pb2_grpc, sessions_pb2, sessions_pb2_grpc  # noqa: E402

with open(ca, "rb") as f:
    credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
channel = grpc.secure_channel(f"127.0.0.1:{port}", credentials)
metadata = [("authorization", f"Bearer {token}")]
service = service_pb2_grpc.ServiceStub(channel)

if mode == "refused":
    try:
        service.Health(service_pb2.HealthRequest(), timeout=10)
    except grpc.RpcError as error:
        print(json.dumps({"code": error.code().name, "details": error.details()}))
        sys.exit(0)
    sys.exit("the handshake succeeded with a CA that did not sign the server's certificate")

service.Health(service_pb2.HealthRequest(), timeout=10)
sessions = sessions_pb2_grpc.SessionsStub(channel)
files = files_pb2_grpc.FilesStub(channel)
source = sessions_pb2.SessionSource(blank=sessions_pb2.SessionSource.Blank())
session = sessions.Create(sessions_pb2.CreateSessionRequest(name="python", source=source), metadata=metadata, timeout=10)
header = files_pb2.WriteHeader(session=session.id, path="/hello.txt")
files.Write(iter([files_pb2.WriteRequest(header=header), files_pb2.WriteRequest(data=b"hello over tls")]), metadata=metadata, timeout=10)
data = b"".join(chunk.data for chunk in files.Read(files_pb2.ReadRequest(session=session.id, path="/hello.txt"), metadata=metadata, timeout=10))
fork = sessions.Fork(sessions_pb2.ForkSessionRequest(session=session.id), metadata=metadata, timeout=10)
print(json.dumps({"session": session.id, "fork": fork.id, "read": data.decode()}))
