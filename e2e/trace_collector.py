"""A trace collector for the end-to-end tests: Zipkin's v2 API and OTLP/HTTP, with each span checked.

`POST /api/v2/spans` takes Zipkin v2 JSON and answers 202, as Zipkin does; every span is checked
against zipkin2-api.yaml's rules (hex IDs of the right length, kind, microsecond times, string
tags). `POST /v1/traces` takes an OTLP `ExportTraceServiceRequest` in protobuf (or in OTLP's
JSON) and answers 200; it is decoded with OpenTelemetry's own protobuf classes (PyPI
`opentelemetry-proto`), so a malformed message fails, and the span fields are checked the same
way. `start_grpc` adds OTLP/gRPC: OpenTelemetry's `TraceService/Export` served by grpcio, the
reference gRPC server, on a port of its own. Spans from both are kept in one shape: trace, id, parent, name, kind, service, tags.
"""
import concurrent.futures
import http.server
import json
import re
import threading

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

ZIPKIN_TRACE_ID = re.compile(r"^[0-9a-f]{16}([0-9a-f]{16})?$")
ZIPKIN_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
ZIPKIN_KINDS = {"CLIENT", "SERVER", "PRODUCER", "CONSUMER"}
OTLP_KINDS = {2: "SERVER", 3: "CLIENT"}


def zipkin_problems(span):
    """What in one Zipkin v2 span breaks the API's schema (empty: nothing)."""
    problems = []
    if not isinstance(span, dict):
        return [f"a span must be an object, got {type(span).__name__}"]
    if not isinstance(span.get("traceId"), str) or not ZIPKIN_TRACE_ID.match(span["traceId"]):
        problems.append(f"traceId must be 16 or 32 lowercase hex digits, got {span.get('traceId')!r}")
    for field in ("id", "parentId"):
        if field in span and (not isinstance(span[field], str) or not ZIPKIN_SPAN_ID.match(span[field])):
            problems.append(f"{field} must be 16 lowercase hex digits, got {span[field]!r}")
    if "id" not in span:
        problems.append("id is required")
    if "kind" in span and span["kind"] not in ZIPKIN_KINDS:
        problems.append(f"kind must be one of {sorted(ZIPKIN_KINDS)}, got {span['kind']!r}")
    for field, minimum in (("timestamp", 1), ("duration", 1)):
        value = span.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
            problems.append(f"{field} must be an integer of microseconds >= {minimum}, got {value!r}")
    if isinstance(span.get("timestamp"), int) and not 1_000_000_000_000_000 < span["timestamp"] < 10_000_000_000_000_000:
        problems.append(f"timestamp must be epoch microseconds, got {span['timestamp']}")
    tags = span.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        problems.append(f"tags must map strings to strings, got {tags!r}")
    for endpoint in ("localEndpoint", "remoteEndpoint"):
        value = span.get(endpoint)
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append(f"{endpoint} must be an object")
            continue
        if "serviceName" in value and not isinstance(value["serviceName"], str):
            problems.append(f"{endpoint}.serviceName must be a string")
        # The API's text asks for an unknown port to be left out, but its type is any integer,
        # and Envoy sends 0.
        if "port" in value and (not isinstance(value["port"], int) or not 0 <= value["port"] < 65536):
            problems.append(f"{endpoint}.port must be a port number, got {value['port']!r}")
    for annotation in span.get("annotations", []):
        if not isinstance(annotation, dict) or not isinstance(annotation.get("timestamp"), int) or not isinstance(annotation.get("value"), str):
            problems.append(f"annotation must have an integer timestamp and a string value, got {annotation!r}")
    return problems


class TraceCollector:
    def __init__(self, host="127.0.0.1", port=0):
        self.spans = []
        self.problems = []
        self.reports = {"zipkin": 0, "otlp": 0, "otlp-grpc": 0}
        self.grpc_server = None
        self.grpc_address = None
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def body(self):
                # Envoy's tracers send their reports chunked, with no content-length.
                if "chunked" in self.headers.get("transfer-encoding", "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("content-length", "0")))

            def do_POST(self):
                body = self.body()
                path = self.path.split("?", 1)[0]
                if path == "/api/v2/spans":
                    collector.zipkin(body)
                    self.send_response(202)
                    self.send_header("content-length", "0")
                    self.end_headers()
                elif path == "/v1/traces":
                    collector.otlp(body, self.headers.get("content-type", ""))
                    answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                    self.send_response(200)
                    self.send_header("content-type", "application/x-protobuf")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                else:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.address = f"{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def start_grpc(self, host="127.0.0.1"):
        """Serves OTLP/gRPC on a free port (`grpc_address`); its spans are kept as format "otlp-grpc"."""
        collector = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                collector.otlp(request.SerializeToString(), "application/grpc", kind="otlp-grpc")
                return trace_service_pb2.ExportTraceServiceResponse()

        self.grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), self.grpc_server)
        port = self.grpc_server.add_insecure_port(f"{host}:0")
        self.grpc_server.start()
        self.grpc_address = f"{host}:{port}"
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        if self.grpc_server:
            self.grpc_server.stop(grace=None)

    def zipkin(self, body):
        with self.lock:
            self.reports["zipkin"] += 1
            try:
                spans = json.loads(body)
            except ValueError as error:
                self.problems.append(f"zipkin: body is not JSON: {error}")
                return
            if not isinstance(spans, list):
                self.problems.append("zipkin: body must be a JSON array of spans")
                return
            for span in spans:
                problems = zipkin_problems(span)
                if problems:
                    self.problems += [f"zipkin span {span.get('id') if isinstance(span, dict) else span!r}: {p}" for p in problems]
                    continue
                self.spans.append({
                    "format": "zipkin", "trace": span["traceId"], "id": span["id"], "parent": span.get("parentId"),
                    "name": span.get("name", ""), "kind": span.get("kind"), "service": span.get("localEndpoint", {}).get("serviceName"),
                    "tags": span.get("tags", {}), "start": span.get("timestamp"), "duration": span.get("duration"),
                })

    def otlp(self, body, content_type, kind="otlp"):
        with self.lock:
            self.reports[kind] += 1
            request = trace_service_pb2.ExportTraceServiceRequest()
            try:
                if content_type.startswith("application/json"):
                    json_format.Parse(body.decode(), request)
                else:
                    request.ParseFromString(body)
            except Exception as error:  # DecodeError or ParseError: the message is not OTLP
                self.problems.append(f"otlp: not an ExportTraceServiceRequest ({content_type}): {error}")
                return
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                service = attributes.get("service.name")
                if not service:
                    self.problems.append("otlp: resource without service.name")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        problems = []
                        if len(span.trace_id) != 16 or not any(span.trace_id):
                            problems.append(f"trace_id must be 16 bytes, not all zero, got {span.trace_id.hex()!r}")
                        if len(span.span_id) != 8 or not any(span.span_id):
                            problems.append(f"span_id must be 8 bytes, not all zero, got {span.span_id.hex()!r}")
                        if span.parent_span_id and len(span.parent_span_id) != 8:
                            problems.append(f"parent_span_id must be 8 bytes, got {span.parent_span_id.hex()!r}")
                        if span.kind not in OTLP_KINDS:
                            problems.append(f"kind must be SERVER or CLIENT for a proxy's span, got {span.kind}")
                        if not 0 < span.start_time_unix_nano <= span.end_time_unix_nano:
                            problems.append(f"times must be 0 < start <= end, got {span.start_time_unix_nano}..{span.end_time_unix_nano}")
                        if problems:
                            self.problems += [f"otlp span {span.span_id.hex()}: {p}" for p in problems]
                            continue
                        self.spans.append({
                            "format": kind, "trace": span.trace_id.hex(), "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex() or None, "name": span.name, "kind": OTLP_KINDS[span.kind],
                            "service": service, "tags": {a.key: a.value.string_value for a in span.attributes},
                            "start": span.start_time_unix_nano // 1000,
                            "duration": (span.end_time_unix_nano - span.start_time_unix_nano) // 1000,
                        })

    def trace_of(self, marker, format):
        """The spans of the trace whose root request's URL carries `marker` (a query parameter the
        test adds: request IDs are not a key, since an edge proxy may replace the client's)."""
        with self.lock:
            traces = {span["trace"] for span in self.spans if span["format"] == format and marker in span["tags"].get("http.url", "")}
            return [span for span in self.spans if span["format"] == format and span["trace"] in traces]

    def summary(self, format):
        """Spans received per (service, kind), for a failure's message."""
        with self.lock:
            counts = {}
            for span in self.spans:
                if span["format"] == format:
                    key = f"{span['service']} {span['kind']}"
                    counts[key] = counts.get(key, 0) + 1
            return counts
