"""Writes the FileDescriptorSet of the Envoy xDS API files SwiftMesh uses, from PyPI xds-protos.

Each generated *_pb2 module carries its serialized FileDescriptorProto; walking their
dependencies depth-first (dependencies first) gives a set protoc reads with
--descriptor_set_in. Prints the file names to generate, one per line (google/protobuf/* left out:
SwiftProtobuf ships those).
"""
import importlib
import sys

from google.protobuf import descriptor_pb2

# The modules whose messages meshd sends and meshproxy reads; everything they import comes along.
ROOTS = [
    "envoy.service.discovery.v3.ads_pb2",
    "envoy.service.discovery.v3.discovery_pb2",
    "envoy.config.listener.v3.listener_pb2",
    "envoy.config.route.v3.route_pb2",
    "envoy.config.cluster.v3.cluster_pb2",
    "envoy.config.endpoint.v3.endpoint_pb2",
    "envoy.config.core.v3.base_pb2",
    "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2",
    "envoy.extensions.filters.http.router.v3.router_pb2",
    "envoy.extensions.filters.http.cors.v3.cors_pb2",
    "envoy.extensions.filters.http.fault.v3.fault_pb2",
    "envoy.extensions.filters.http.rbac.v3.rbac_pb2",
    "envoy.extensions.filters.network.rbac.v3.rbac_pb2",
    "envoy.extensions.filters.http.jwt_authn.v3.config_pb2",
    "envoy.extensions.filters.http.local_ratelimit.v3.local_rate_limit_pb2",
    "envoy.extensions.filters.network.tcp_proxy.v3.tcp_proxy_pb2",
    "envoy.extensions.upstreams.http.v3.http_protocol_options_pb2",
    "envoy.extensions.retry.host.previous_hosts.v3.previous_hosts_pb2",
    "envoy.extensions.retry.priority.previous_priorities.v3.previous_priorities_config_pb2",
    "envoy.extensions.transport_sockets.tls.v3.tls_pb2",
    "envoy.extensions.transport_sockets.raw_buffer.v3.raw_buffer_pb2",
    "envoy.extensions.transport_sockets.tls.v3.cert_pb2",
    "envoy.extensions.filters.listener.original_dst.v3.original_dst_pb2",
    "envoy.extensions.filters.listener.tls_inspector.v3.tls_inspector_pb2",
    "envoy.extensions.filters.listener.http_inspector.v3.http_inspector_pb2",
    "envoy.service.secret.v3.sds_pb2",
    "envoy.extensions.access_loggers.file.v3.file_pb2",
    "envoy.extensions.access_loggers.stream.v3.stream_pb2",
    "envoy.config.trace.v3.zipkin_pb2",
    "envoy.config.trace.v3.opentelemetry_pb2",
    "envoy.config.bootstrap.v3.bootstrap_pb2",
    "envoy.admin.v3.config_dump_pb2",
]


def main(out_path):
    ordered = []
    seen = set()

    def visit(file_descriptor):
        if file_descriptor.name in seen:
            return
        seen.add(file_descriptor.name)
        for dependency in file_descriptor.dependencies:
            visit(dependency)
        ordered.append(file_descriptor)

    for module_name in ROOTS:
        visit(importlib.import_module(module_name).DESCRIPTOR)

    descriptor_set = descriptor_pb2.FileDescriptorSet()
    for file_descriptor in ordered:
        proto = descriptor_set.file.add()
        proto.ParseFromString(file_descriptor.serialized_pb)
    with open(out_path, "wb") as out:
        out.write(descriptor_set.SerializeToString(deterministic=True))
    for file_descriptor in ordered:
        if not file_descriptor.name.startswith("google/protobuf/"):
            print(file_descriptor.name)


if __name__ == "__main__":
    main(sys.argv[1])
