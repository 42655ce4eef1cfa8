#!/usr/bin/env python3
"""Conformance runner: declarative scenarios against a data plane driven by meshd.

Each scenario file (conformance/scenarios/*.yaml) names backends (echo servers registered with
ServiceEntry + WorkloadEntry), the Istio config under test, the proxies (a client sidecar and,
optionally, an ingress gateway) and steps: requests with expected outcomes, and config changes.
Every run gets its own loopback block 127.<N>.0.0/16 and ports, so runs go in parallel. The runner
starts meshd, the echo servers and the proxies, checks each step, stops every process it
started (by PID) and prints a table of scenario x data plane x xDS protocol.
"""
import argparse
import concurrent.futures
import re
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from testing.processes import ProcessGroup, wait_for  # noqa: E402
ECHO_PORT = 8080
# How long a connection drained by a listener change may take to finish (both proxies' flag):
# long enough for the listener-update scenario's slow request to finish inside it.
DRAIN_SECONDS = 3
# How long both proxies keep access-log lines buffered (Envoy's default is 10 s).
FLUSH_MSEC = 300
# Istio's default access-log text format, field by field (AccessLogTranslator.istioTextFormat).
ISTIO_TEXT_LINE = re.compile(
    r'^\[(?P<start_time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)" '
    r'(?P<code>\d+) (?P<flags>\S+) (?P<details>\S+) (?P<termination>\S+) "(?P<transport_failure>[^"]*)" '
    r'(?P<bytes_received>\d+) (?P<bytes_sent>\d+) (?P<duration>\d+) (?P<upstream_service_time>\S+) "(?P<xff>[^"]*)" '
    r'"(?P<user_agent>[^"]*)" "(?P<request_id>[^"]*)" "(?P<authority>[^"]*)" "(?P<upstream_host>[^"]*)" '
    r'(?P<upstream_cluster>\S+) (?P<upstream_local>\S+) (?P<downstream_local>\S+) (?P<downstream_remote>\S+) '
    r'(?P<sni>\S+) (?P<route>\S+)$')


class Failure(Exception):
    pass


class Run:
    """One scenario on one data plane over one xDS protocol."""

    def __init__(self, scenario, index, args, protocol):
        self.s = scenario
        self.args = args
        self.protocol = protocol
        self.net = 30 + index  # 127.<net>.0.0/16 is this run's
        self.xds_port = 16000 + index * 4
        self.debug_port = self.xds_port + 1
        self.ca_port = self.xds_port + 2
        self.work = tempfile.mkdtemp(prefix="swiftmesh-conformance-")
        self.group = ProcessGroup(self.work)
        self.config_dir = os.path.join(self.work, "config")
        os.makedirs(self.config_dir)
        self.log = []
        self.backends = {}
        for i, backend in enumerate(scenario.get("backends", [])):
            self.backends[backend["name"]] = dict(backend, address=f"127.{self.net}.1.{i + 1}")
        self.client_ip = f"127.{self.net}.0.1"
        self.egress_ip = f"127.{self.net}.0.2"
        self.gateway_ip = f"127.{self.net}.0.3"
        self.base_id = 1000 + index * 2
        # Connections opened by `hold` steps, by name: (connection, request, answer in flight).
        self.held = {}
        self.changed_at = time.time()

    # --- processes -------------------------------------------------------------------------
    def start(self, name, argv):
        return self.group.start(name, argv)

    def stop(self):
        self.group.stop()

    def logs(self):
        return self.group.logs()

    # --- mesh config ------------------------------------------------------------------------
    def base_config(self):
        docs = []
        services = {}
        for backend in self.backends.values():
            services.setdefault(backend["service"], []).append(backend)
        for service, members in sorted(services.items()):
            ports = self.s.get("ports", {}).get(service, [{"number": 9080, "name": "http", "protocol": "HTTP"}])
            docs.append({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                         "metadata": {"name": service, "namespace": "default"},
                         "spec": {"hosts": [f"{service}.default.svc.cluster.local"], "location": "MESH_INTERNAL",
                                  "resolution": "STATIC", "ports": ports,
                                  "workloadSelector": {"labels": {"app": service}}}})
            for backend in members:
                labels = dict({"app": service}, **backend.get("labels", {}))
                entry = {"address": backend["address"], "labels": labels, "ports": {p["name"]: ECHO_PORT for p in ports}}
                if "locality" in backend:
                    entry["locality"] = backend["locality"]
                docs.append({"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
                             "metadata": {"name": backend["name"], "namespace": "default"}, "spec": entry})
        client = {"address": self.client_ip, "labels": {"app": "client"}}
        if "client_locality" in self.s:
            client["locality"] = self.s["client_locality"]
        docs.append({"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
                     "metadata": {"name": "client", "namespace": "default"}, "spec": client})
        if not self.s.get("own_sidecar"):
            # One egress listener per service port, speaking the port's protocol (TCP ports get
            # a TCP proxy).
            ports = sorted({(p["number"], p.get("protocol", "HTTP")) for service in services
                            for p in self.s.get("ports", {}).get(service, [{"number": 9080}])})
            docs.append({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                         "metadata": {"name": "client", "namespace": "default"},
                         "spec": {"workloadSelector": {"labels": {"app": "client"}},
                                  "egress": [{"port": {"number": p, "protocol": protocol, "name": f"{protocol.lower()}-{p}"},
                                              "bind": self.egress_ip, "captureMode": "NONE", "hosts": ["./*"]}
                                             for p, protocol in ports]}})
        return docs

    def substitute(self, text):
        return (text.replace("{{egress}}", self.egress_ip).replace("{{client}}", self.client_ip)
                .replace("{{gateway}}", self.gateway_ip).replace("{{work}}", self.work))

    def write_config(self, name, text):
        path = os.path.join(self.config_dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(self.substitute(text))
        os.rename(path + ".tmp", path)  # meshd never reads half a file

    # --- waiting ----------------------------------------------------------------------------
    def http_get(self, url, timeout=2):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()

    def wait_for(self, what, check, timeout=20):
        wait_for(what, check, timeout, error=Failure)

    def synced(self):
        rows = json.loads(self.http_get(f"http://127.0.0.1:{self.debug_port}/debug/syncz"))
        if len(rows) < self.proxy_count:
            return False
        return all(row[f"{t}_state"] in ("SYNCED", "NOT SENT") and row["cluster_state"] == "SYNCED"
                   and row["listener_state"] == "SYNCED" for row in rows for t in ("cluster", "listener", "route", "endpoint"))

    def wait_synced(self):
        self.wait_for("every proxy to acknowledge its config", self.synced)

    def listening(self, ip):
        # Every listener the proxy reports is in the kernel's LISTEN state. An ACK can come before
        # a listener accepts (Envoy binds a warming listener but calls listen() only once its
        # routes arrived), so SYNCED alone lets a first request find the port refusing. Read from
        # /proc rather than by connecting: a probe connection would show in the proxy's stats, its
        # access logs and a TCP proxy's upstream.
        wanted = set()
        for line in self.http_get(f"http://{ip}:15000/listeners").splitlines():
            address = line.rsplit("::", 1)[-1].strip()
            if address:
                host, port = address.rsplit(":", 1)
                wanted.add((host, int(port)))
        open_now = set()
        with open("/proc/net/tcp") as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if fields[3] != "0A":  # LISTEN
                    continue
                hex_ip, hex_port = fields[1].split(":")
                octets = bytes.fromhex(hex_ip)[::-1] if sys.byteorder == "little" else bytes.fromhex(hex_ip)
                open_now.add((".".join(str(b) for b in octets), int(hex_port, 16)))
        missing = wanted - open_now
        if missing:
            raise Failure(f"{ip}: not listening yet on {sorted(missing)}")
        return True

    def wait_listening(self):
        for ip in [self.client_ip] + ([self.gateway_ip] if self.s.get("gateway") else []):
            self.wait_for(f"the {ip} proxy's listeners to accept", lambda ip=ip: self.listening(ip))

    # --- bring-up ---------------------------------------------------------------------------
    def up(self):
        bins = self.args.bin_dir
        docs = self.base_config()
        with open(os.path.join(self.config_dir, "00-mesh.yaml"), "w") as f:
            yaml.safe_dump_all(docs, f)
        if self.s.get("config"):
            self.write_config("10-scenario.yaml", self.s["config"])
        mesh = []
        if self.s.get("mesh_config"):
            path = os.path.join(self.work, "mesh.yaml")
            with open(path, "w") as f:
                f.write(self.substitute(self.s["mesh_config"]))
            mesh = ["--mesh-config", path]
        self.start("meshd", [f"{bins}/meshd", "--config-dir", self.config_dir] + mesh + [
                             "--xds-address", f"127.0.0.1:{self.xds_port}", "--debug-address", f"127.0.0.1:{self.debug_port}",
                             "--ca-address", f"127.0.0.1:{self.ca_port}", "--data-dir", os.path.join(self.work, "meshd-data")])
        for backend in self.backends.values():
            argv = [f"{bins}/echo-server", "--listen", f"{backend['address']}:{ECHO_PORT}", "--name", backend["name"]]
            if "fail_status" in backend:
                argv += ["--fail-status", str(backend["fail_status"])]
            if "delay_ms" in backend:
                argv += ["--delay-ms", str(backend["delay_ms"])]
            if backend.get("http2"):
                argv += ["--http2"]
            self.start(backend["name"], argv)
        self.wait_for("meshd /ready", lambda: self.http_get(f"http://127.0.0.1:{self.debug_port}/ready").startswith("ready"))
        self.proxy_count = 0
        self.start_proxy("client", f"sidecar~{self.client_ip}~client.default~default.svc.cluster.local", [])
        gateway = self.s.get("gateway")
        if gateway:
            labels = [f"--label={k}={v}" for k, v in gateway.get("labels", {"istio": "ingressgateway"}).items()]
            self.start_proxy("gateway", f"router~{self.gateway_ip}~gateway.default~default.svc.cluster.local", labels)
        for backend in self.backends.values():
            self.wait_for(f"echo server {backend['name']}", lambda b=backend: self.backend_stats(b))
        self.wait_synced()
        self.wait_listening()

    def start_proxy(self, name, node_id, extra):
        bins = self.args.bin_dir
        bootstrap = subprocess.run([f"{bins}/meshctl", "proxy-bootstrap", "--node-id", node_id,
                                    "--xds-address", f"127.0.0.1:{self.xds_port}", "--xds-protocol", self.protocol] + extra,
                                   check=True, capture_output=True, text=True).stdout
        path = os.path.join(self.work, f"{name}-bootstrap.json")
        with open(path, "w") as f:
            f.write(bootstrap)
        ip = node_id.split("~")[1]
        overrides = []
        if self.s.get("proxy_runtime"):
            # A runtime layer on top of the bootstrap's: a proxy tuned differently from what meshd
            # assumes (how NACKs happen in practice).
            layer = {"layered_runtime": {"layers": [{"name": "scenario", "static_layer": self.s["proxy_runtime"]}]}}
            overrides = ["--config-yaml", json.dumps(layer)]
        if self.args.data_plane == "meshproxy":
            self.start(name, [f"{bins}/meshproxy", "run", "--bootstrap", path, "--concurrency", "1", "--drain-time-s", str(DRAIN_SECONDS),
                                     "--file-flush-interval-msec", str(FLUSH_MSEC)]
                       + (["--config-json", overrides[1]] if overrides else []))
        else:
            self.start(name, [self.args.envoy, "-c", path, "--base-id", str(self.base_id + self.proxy_count),
                              "--disable-hot-restart", "--concurrency", "1", "-l", "warning", "--drain-time-s", str(DRAIN_SECONDS),
                              "--file-flush-interval-msec", str(FLUSH_MSEC)] + overrides)
        self.proxy_count += 1
        self.wait_for(f"{name} proxy LIVE", lambda: self.http_get(f"http://{ip}:15000/ready").strip() == "LIVE")

    # --- requests ---------------------------------------------------------------------------
    def target(self, request):
        via = request.get("via", "client")
        if via == "gateway":
            return self.gateway_ip, request.get("port", 8080)
        return self.egress_ip, request.get("port", 9080)

    def send(self, connection, request, extra_headers=None):
        headers = {"host": request.get("host", "reviews")}
        if request.get("http2") or request.get("expect_continue"):
            headers.update(request.get("headers", {}))
            headers.update(extra_headers or {})
            host, port = self.target(request)
            return self.curl(request, f"http://{host}:{port}{request.get('path', '/')}", headers)
        headers.update(request.get("headers", {}))
        # header_bytes: {name: N} sends a header of N bytes (oversize-head scenarios).
        headers.update({name: "b" * size for name, size in request.get("header_bytes", {}).items()})
        body = request.get("body")
        if "body_bytes" in request:
            body = b"x" * request["body_bytes"]
        headers.update(extra_headers or {})
        started = time.time()
        connection.request(request.get("method", "GET"), request.get("path", "/"), body=body, headers=headers)
        response = connection.getresponse()
        incomplete = False
        try:
            body = response.read().decode(errors="replace")
        except http.client.IncompleteRead as error:
            # The response ended (connection closed) before the body it promised: recorded, so a
            # scenario can expect it; a hang instead runs into the request's timeout.
            body, incomplete = error.partial.decode(errors="replace"), True
            connection.close()
        return {"status": response.status, "headers": {k.lower(): v for k, v in response.getheaders()},
                "body": body, "incomplete": incomplete, "ms": (time.time() - started) * 1000}

    def run_requests(self, request):
        host, port = self.target(request)
        count = request.get("count", 1)
        results = []
        if request.get("concurrent"):
            def one(i):
                connection = http.client.HTTPConnection(host, port, timeout=request.get("timeout", 10))
                try:
                    return self.send(connection, request)
                finally:
                    connection.close()
            with concurrent.futures.ThreadPoolExecutor(request["concurrent"]) as pool:
                return list(pool.map(one, range(count)))
        connection = http.client.HTTPConnection(host, port, timeout=request.get("timeout", 10))
        for i in range(count):
            extra = {}
            if request.get("vary_header"):
                extra[request["vary_header"]] = f"value-{i}"
            try:
                results.append(self.send(connection, request, extra))
            except (http.client.HTTPException, OSError):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=request.get("timeout", 10))
                results.append(self.send(connection, request, extra))
        connection.close()
        return results

    def check(self, results, expect):
        def fail(message):
            raise Failure(f"{message}; first response: {json.dumps(results[0])[:600]}")
        if "last" in expect:
            results = results[-expect["last"]:]
        servers = [r["headers"].get("x-echo-server") for r in results]
        if "status" in expect:
            bad = [r["status"] for r in results if r["status"] != expect["status"]]
            if bad:
                fail(f"{len(bad)} of {len(results)} answers were not {expect['status']} (e.g. {bad[:5]})")
        if "some_status" in expect:
            if not any(r["status"] == expect["some_status"] for r in results):
                fail(f"no answer was {expect['some_status']} (got {sorted({r['status'] for r in results})})")
        if "server" in expect:
            wrong = [s for s in servers if s != expect["server"]]
            if wrong:
                fail(f"{len(wrong)} of {len(results)} answers came from {sorted(set(map(str, wrong)))}, not {expect['server']}")
        if "split" in expect:
            tolerance = expect.get("tolerance", 5)
            for name, percent in expect["split"].items():
                share = 100.0 * servers.count(name) / len(results)
                if abs(share - percent) > tolerance:
                    fail(f"{name} answered {share:.1f}% of {len(results)} requests, expected {percent}% ±{tolerance}")
        if "sticky" in expect:
            if len(set(servers)) != 1:
                fail(f"one key was answered by {sorted(set(map(str, servers)))}")
        for name, value in expect.get("headers", {}).items():
            got = [r["headers"].get(name.lower()) for r in results]
            if any(g != str(value) for g in got):
                fail(f"response header {name} was {sorted(set(map(str, got)))}, expected {value}")
        for name, value in expect.get("upstream_headers", {}).items():
            for r in results:
                got = json.loads(r["body"])["headers"].get(name.lower())
                if (value is None and got is not None) or (value is not None and got != str(value)):
                    fail(f"the backend saw {name}: {got}, expected {value}")
        # What the echo backend reports it received: upstream_path, upstream_host, upstream_body_bytes.
        for key, field in (("upstream_path", "path"), ("upstream_host", "host"), ("upstream_body_bytes", "body_bytes")):
            if key in expect:
                for r in results:
                    got = json.loads(r["body"])[field]
                    if got != expect[key]:
                        fail(f"the backend saw {field} {got}, expected {expect[key]}")
        if "http_version" in expect:
            wrong = [r.get("http_version", "1.1") for r in results if r.get("http_version", "1.1") != str(expect["http_version"])]
            if wrong:
                fail(f"{len(wrong)} of {len(results)} answers came over HTTP/{wrong[0]}, expected HTTP/{expect['http_version']}")
        if "incomplete" in expect:
            wrong = [r for r in results if r["incomplete"] != expect["incomplete"]]
            if wrong:
                fail(f"{len(wrong)} of {len(results)} bodies were {'complete' if expect['incomplete'] else 'cut short'}")
        if "min_body_bytes" in expect:
            for r in results:
                if len(r["body"]) < expect["min_body_bytes"]:
                    fail(f"a body had {len(r['body'])} bytes, expected at least {expect['min_body_bytes']}")
        if "body_contains" in expect:
            for r in results:
                if expect["body_contains"] not in r["body"]:
                    fail(f"body does not contain {expect['body_contains']!r}")
        if "min_ms" in expect and min(r["ms"] for r in results) < expect["min_ms"]:
            fail(f"an answer took {min(r['ms'] for r in results):.0f} ms, expected at least {expect['min_ms']}")
        if "max_ms" in expect and max(r["ms"] for r in results) > expect["max_ms"]:
            fail(f"an answer took {max(r['ms'] for r in results):.0f} ms, expected at most {expect['max_ms']}")

    def upgrade(self, step, expect):
        """An HTTP/1.1 upgrade on a raw socket: the status, then (on 101) the bytes the backend
        sends first and an echo of each message, then a close that must reach the client."""
        host, port = self.target(step)
        with socket.create_connection((host, port), timeout=5) as sock:
            request = (f"GET {step.get('path', '/')} HTTP/1.1\r\nHost: {step.get('host', 'reviews')}\r\n"
                       f"Connection: Upgrade\r\nUpgrade: {step['type']}\r\nSec-WebSocket-Version: 13\r\n"
                       f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            sock.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise Failure(f"connection closed before a response head: {data[:200]!r}")
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            status = int(head.split(b" ")[1])
            if status != expect["status"]:
                raise Failure(f"upgrade answered {status}, expected {expect['status']}: {head[:300]!r}")
            if status != 101:
                return
            def read_exactly(n, already=b""):
                buffer = already
                while len(buffer) < n:
                    chunk = sock.recv(n - len(buffer))
                    if not chunk:
                        raise Failure(f"the tunnel closed after {buffer!r}")
                    buffer += chunk
                return buffer
            greeting = expect.get("greeting", "")
            got = read_exactly(len(greeting), rest)
            if got != greeting.encode():
                raise Failure(f"the backend's first bytes arrived as {got!r}, expected {greeting!r}")
            for message in expect.get("echo", []):
                sock.sendall(message.encode())
                got = read_exactly(len(message))
                if got != message.encode():
                    raise Failure(f"sent {message!r}, the tunnel echoed {got!r}")
            sock.shutdown(socket.SHUT_WR)
            if sock.recv(100) != b"":
                raise Failure("the tunnel did not end after the client closed")

    def backend_stats(self, backend):
        url = f"http://{backend['address']}:{ECHO_PORT}/__echo/stats"
        if backend.get("http2"):
            return json.loads(self.curl({"path": "/__echo/stats"}, url)["body"])
        return json.loads(self.http_get(url))

    def backend_requests(self, name):
        return self.backend_stats(self.backends[name])["requests"]

    def curl(self, request, url, headers=None):
        """One request with curl, answered like `send`: over h2c with prior knowledge (`http2`),
        and with `Expect: 100-continue` and a body (`expect_continue`, over HTTP/1.1 unless
        `http2`: curl holds the body until it hears 100 Continue, or gives up waiting after 3 s)."""
        mode = ["--http2-prior-knowledge"]
        if request.get("expect_continue"):
            body = os.path.join(self.work, "curl-upload")
            with open(body, "wb") as f:
                f.write(b"x" * request.get("body_bytes", 100000))
            mode = ["--http2-prior-knowledge" if request.get("http2") else "--http1.1",
                    "--expect100-timeout", "3", "-H", "Expect: 100-continue", "--data-binary", "@" + body]
        argv = ["curl", "-s"] + mode + ["--max-time", str(request.get("timeout", 10)), "-X", request.get("method", "GET"),
                                        "-D", "-", "-o", os.path.join(self.work, "curl-body"), "-w", "%{http_version}"]
        for name, value in (headers or {}).items():
            argv += ["-H", f"{name}: {value}"]
        started = time.time()
        out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=request.get("timeout", 10) + 5)
        if out.returncode != 0:
            raise Failure(f"curl {' '.join(mode[:1])} {url} failed (exit {out.returncode}): {out.stderr.strip()}")
        lines = out.stdout.splitlines()
        version = lines[-1]
        # The final answer's head: an informational one (100 Continue) may come first.
        while len(lines) > 1 and lines[0].split()[1].startswith("1"):
            lines = lines[lines.index("", 1) + 1:] if "" in lines[1:] else lines[1:]
        status = int(lines[0].split()[1])
        response_headers = {}
        for line in lines[1:-1]:
            if ":" in line:
                name, value = line.split(":", 1)
                response_headers[name.strip().lower()] = value.strip()
        with open(os.path.join(self.work, "curl-body"), "rb") as f:
            body = f.read().decode(errors="replace")
        return {"status": status, "headers": response_headers, "body": body, "incomplete": False,
                "ms": (time.time() - started) * 1000, "http_version": version}

    def grpc(self, call, expect):
        """gRPC calls with grpcio (a real gRPC client over h2c), any method, raw bytes: the echo
        backend returns the request message. Checks the status code, the reply, who answered
        and the trailing metadata."""
        import grpc
        host, port = self.target(call)
        channel = grpc.insecure_channel(f"{host}:{port}", options=[("grpc.default_authority", call.get("host", "reviews"))])
        try:
            method = channel.unary_unary(call["method"], request_serializer=None, response_deserializer=None)
            for _ in range(call.get("count", 1)):
                metadata = list(call.get("metadata", {}).items())
                try:
                    reply, info = method.with_call(call.get("message", "").encode(), metadata=metadata, timeout=call.get("timeout", 10))
                    code, initial, trailing = "OK", dict(info.initial_metadata()), dict(info.trailing_metadata())
                except grpc.RpcError as error:
                    reply, code = None, error.code().name
                    initial, trailing = dict(error.initial_metadata() or ()), dict(error.trailing_metadata() or ())
                if code != expect.get("code", "OK"):
                    raise Failure(f"gRPC {call['method']} ended {code}, expected {expect.get('code', 'OK')} (trailers {trailing})")
                if "reply" in expect and (reply or b"").decode() != expect["reply"]:
                    raise Failure(f"gRPC reply was {reply!r}, expected {expect['reply']!r}")
                if "server" in expect and initial.get("x-echo-server") != expect["server"]:
                    raise Failure(f"gRPC call answered by {initial.get('x-echo-server')}, expected {expect['server']}")
                for name, value in expect.get("trailers", {}).items():
                    if trailing.get(name) != value:
                        raise Failure(f"gRPC trailer {name} was {trailing.get(name)!r}, expected {value!r} (all: {trailing})")
        finally:
            channel.close()

    # --- connections held across a change -----------------------------------------------------
    def hold(self, request, expect):
        """Opens a keep-alive connection and sends one request on it; the connection is kept for
        later `held` steps. With `in_flight`, the answer is not awaited: the request is still
        under way when the next steps (a config change) run."""
        host, port = self.target(request)
        connection = http.client.HTTPConnection(host, port, timeout=request.get("timeout", 10))
        connection.auto_open = 0  # a closed connection must stay closed: it is what `held` checks
        if request.get("http2"):
            if not request.get("in_flight"):
                raise Failure("hold: an HTTP/2 request (sent by curl) can only be held in flight")
        else:
            connection.connect()
        pending = None
        if request.get("in_flight"):
            executor = concurrent.futures.ThreadPoolExecutor(1)
            pending = executor.submit(self.send, connection, request)
            executor.shutdown(wait=False)  # its one thread ends with the request
        else:
            self.check([self.send(connection, request)], expect)
        self.held[request["name"]] = (connection, request, pending)

    def check_held(self, held, expect):
        """A connection from `hold`: its answer in flight arrives whole, or it still serves
        (`open: true`: and stays open), or (`closed: true`) the proxy closes it within `within_ms`,
        answering every request it still takes."""
        connection, request, pending = self.held[held["name"]]
        if pending:
            result = pending.result(timeout=request.get("timeout", 10) + 5)
            self.check([result], expect)
            self.log.append(f"{held['name']}: the request in flight during the change answered {result['status']} "
                            f"after {result['ms']:.0f} ms")
            self.held[held["name"]] = (connection, request, None)
            return
        if not expect.get("closed"):
            self.check([self.send(connection, request)], expect)
            if expect.get("open") and connection.sock is None:
                raise Failure(f"held connection {held['name']} was closed by the proxy; it should have stayed open")
            return
        started = time.time()
        while True:
            try:
                result = self.send(connection, request)
            except (http.client.HTTPException, OSError):
                break  # closed by the proxy
            if result["status"] != 200:
                raise Failure(f"held connection {held['name']} answered {result['status']} while draining")
            if connection.sock is None:
                break  # the answer said `connection: close`
            if time.time() - started > held.get("within_ms", 5000) / 1000:
                raise Failure(f"held connection {held['name']} still served {held.get('within_ms', 5000)} ms after the change")
            time.sleep(0.1)
        connection.close()
        self.log.append(f"{held['name']}: found closed {1000 * (time.time() - self.changed_at):.0f} ms after the change")

    # --- steps ------------------------------------------------------------------------------
    def step(self, step):
        if "hold" in step:
            self.hold(step["hold"], step.get("expect", {}))
        if "held" in step:
            self.check_held(step["held"], step.get("expect", {}))
        if "request" in step:
            results = self.run_requests(step["request"])
            self.check(results, step.get("expect", {}))
        if "upgrade" in step:
            self.upgrade(step["upgrade"], step.get("expect", {}))
        if "grpc" in step:
            self.grpc(step["grpc"], step.get("expect", {}))
        if "admin_stats" in step:
            # The client proxy's admin: named stats in /stats, and /stats/prometheus that
            # Prometheus' own checker accepts.
            text = self.http_get(f"http://{self.client_ip}:15000/stats")
            for name in step["admin_stats"].get("names", []):
                if not any(line.split(":")[0] == name for line in text.splitlines()):
                    raise Failure(f"/stats has no {name}")
            metrics = self.http_get(f"http://{self.client_ip}:15000/stats/prometheus")
            check = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True, timeout=10)
            # promtool exits 1 for lint advice (e.g. counters without _total); only errors fail.
            errors = [line for line in (check.stdout + check.stderr).splitlines() if line.lower().startswith("error")]
            if errors:
                raise Failure(f"promtool check metrics: {errors[:3]}")
            for family in step["admin_stats"].get("prometheus", []):
                if not any(line.startswith(family + "{") for line in metrics.splitlines()):
                    raise Failure(f"/stats/prometheus has no {family}")
        if "stats" in step:
            self.check_stats(step["stats"])
        if "backend_requests" in step:
            deadline = time.time() + 3
            for name, expected in step["backend_requests"].items():
                while True:
                    got = self.backend_requests(name)
                    if got == expected or time.time() > deadline:
                        break
                    time.sleep(0.05)
                if got != expected:
                    raise Failure(f"backend {name} received {got} requests, expected {expected}")
        if "backend_body_bytes" in step:
            # Body bytes of the whole requests a backend received (a mirror's copies included).
            deadline = time.time() + 3
            for name, expected in step["backend_body_bytes"].items():
                while True:
                    got = self.backend_stats(self.backends[name])["body_bytes"]
                    if got == expected or time.time() > deadline:
                        break
                    time.sleep(0.05)
                if got != expected:
                    raise Failure(f"backend {name} received {got} body bytes, expected {expected}")
        if "clusters" in step:
            text = self.http_get(f"http://{self.client_ip}:15000/clusters")
            names = {line.split("::")[0] for line in text.splitlines() if "::" in line}
            for name in step["clusters"].get("present", []):
                if name not in names:
                    raise Failure(f"the client's Envoy has no cluster {name}")
            for name in step["clusters"].get("absent", []):
                if name in names:
                    raise Failure(f"the client's Envoy has cluster {name}, which scoping should have left out")
            if "at_most" in step["clusters"] and len(names) > step["clusters"]["at_most"]:
                raise Failure(f"the client's Envoy has {len(names)} clusters, expected at most {step['clusters']['at_most']}")
        if "access_log" in step:
            self.check_access_log(step["access_log"])
        if "apply" in step:
            self.apply(step)
        if "proxy_status" in step:
            out = subprocess.run([f"{self.args.bin_dir}/meshctl", "proxy-status", "--meshd", f"127.0.0.1:{self.debug_port}"],
                                 capture_output=True, text=True, timeout=10).stdout
            deadline = time.time() + 5
            while step["proxy_status"]["contains"] not in out and time.time() < deadline:
                time.sleep(0.1)
                out = subprocess.run([f"{self.args.bin_dir}/meshctl", "proxy-status", "--meshd", f"127.0.0.1:{self.debug_port}"],
                                     capture_output=True, text=True, timeout=10).stdout
            if step["proxy_status"]["contains"] not in out:
                raise Failure(f"meshctl proxy-status does not show {step['proxy_status']['contains']!r}:\n{out}")
        if "stop_backend" in step:
            # The backend goes away (its process is stopped): connections to it now fail.
            for name, process in self.group.processes:
                if name == step["stop_backend"] and process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=5)
        if "meshd_alive" in step:
            self.wait_for("meshd /ready after the change", lambda: self.http_get(f"http://127.0.0.1:{self.debug_port}/ready").startswith("ready"), 5)

    def check_stats(self, spec):
        """The client proxy's counters (`counters`: Envoy's stat names in /stats, on both data
        planes) and Istio's request series (`istio_requests`: the sum of istio_requests_total
        over the series carrying every given label, in /stats/prometheus). Stock Envoy records no
        istio_* series, so those are checked on meshproxy only."""
        def counters():
            values = {}
            for line in self.http_get(f"http://{self.client_ip}:15000/stats").splitlines():
                name, _, value = line.partition(": ")
                values[name] = value.strip()
            return values

        def istio_series():
            for line in self.http_get(f"http://{self.client_ip}:15000/stats/prometheus").splitlines():
                if line.startswith("istio_requests_total{"):
                    body, value = line.rsplit(" ", 1)
                    yield dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', body)), int(float(value))

        def istio_requests(labels):
            return sum(value for series, value in istio_series() if all(series.get(k) == str(v) for k, v in labels.items()))

        deadline = time.time() + 3
        for name, expected in spec.get("counters", {}).items():
            while (got := counters().get(name)) != str(expected) and time.time() < deadline:
                time.sleep(0.05)
            if got != str(expected):
                raise Failure(f"/stats: {name} is {got}, expected {expected}")
        if self.args.data_plane != "meshproxy":
            if spec.get("istio_requests"):
                self.log.append("istio_requests_total not checked: stock Envoy records no istio_* series")
            return
        for series in spec.get("istio_requests", []):
            # `count`: exactly; `at_least`: where concurrency decides how many (overflows).
            def enough(got):
                return got == series["count"] if "count" in series else got >= series["at_least"]
            while not enough(got := istio_requests(series["labels"])) and time.time() < deadline:
                time.sleep(0.05)
            if not enough(got):
                wanted = series["count"] if "count" in series else f"at least {series['at_least']}"
                present = [(s.get("destination_service"), s.get("response_code"), s.get("response_flags"), value) for s, value in istio_series()]
                raise Failure(f"istio_requests_total{series['labels']} is {got}, expected {wanted}; "
                              f"series (destination_service, response_code, response_flags, count): {present}")

    def check_access_log(self, spec):
        """Reads an access-log file the proxies write (Istio's text format, or JSON lines) and
        checks the line of each request by its x-request-id; every line must parse."""
        path = os.path.join(self.work, spec["file"])
        expected = spec.get("lines", {})
        id_field = spec.get("id_field", "request_id")

        def parse():
            entries = {}
            if not os.path.exists(path):
                return entries
            with open(path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        continue  # still being written
                    if spec.get("format", "text") == "json":
                        try:
                            entry = json.loads(line)
                        except ValueError:
                            raise Failure(f"{spec['file']}: not a JSON line: {line[:300]!r}")
                    else:
                        match = ISTIO_TEXT_LINE.match(line.rstrip("\n"))
                        if not match:
                            raise Failure(f"{spec['file']}: line not in Istio's format: {line[:400]!r}")
                        entry = match.groupdict()
                    entries[str(entry.get(id_field))] = entry
            return entries

        deadline = time.time() + 5
        entries = parse()
        while not all(key in entries for key in expected) and time.time() < deadline:
            time.sleep(0.1)
            entries = parse()
        for key, fields in expected.items():
            entry = entries.get(key)
            if entry is None:
                raise Failure(f"{spec['file']}: no line for request {key} (lines for {sorted(entries)})")
            for field, value in fields.items():
                got = entry.get(field)
                if isinstance(value, dict) and "re" in value:
                    if not re.fullmatch(value["re"], str(got)):
                        raise Failure(f"{spec['file']}: request {key}: {field} is {got!r}, expected /{value['re']}/")
                elif got != value:
                    raise Failure(f"{spec['file']}: request {key}: {field} is {got!r}, expected {value!r}; line: {json.dumps(entry)[:500]}")
        for key in spec.get("absent", []):
            if key in entries:
                raise Failure(f"{spec['file']}: request {key} was logged, but the filter should have left it out")
        self.log.append(f"{spec['file']}: {len(entries)} lines checked")

    def apply(self, step):
        """Writes new config; with `converge`, keeps requests flowing on open connections and
        measures how long until every answer meets the expectation, with no failed request."""
        converge = step.get("converge")
        self.changed_at = time.time()
        if not converge:
            self.write_config(step.get("file", "10-scenario.yaml"), step["apply"])
            time.sleep(step.get("settle_ms", 1500) / 1000)
            return
        request = converge["request"]
        host, port = self.target(request)
        connections = [http.client.HTTPConnection(host, port, timeout=5) for _ in range(4)]
        for c in connections:
            self.send(c, request)  # open them before the change
        written = time.time()
        self.write_config(step.get("file", "10-scenario.yaml"), step["apply"])
        streak, converged_at, failures, sent = 0, None, [], 0
        while time.time() - written < converge.get("within_ms", 1000) / 1000 + 2:
            for c in connections:
                r = self.send(c, request)
                sent += 1
                if r["status"] != 200:
                    failures.append(r["status"])
                if r["headers"].get("x-echo-server") == converge["server"]:
                    streak += 1
                    if streak == 1:
                        first_seen = time.time()
                    if streak >= 20 and converged_at is None:
                        converged_at = first_seen
                else:
                    streak = 0
            if converged_at:
                break
        for c in connections:
            c.close()
        if failures:
            raise Failure(f"{len(failures)} of {sent} requests failed during the change: {failures[:5]}")
        if converged_at is None:
            raise Failure(f"the change did not take effect within {converge.get('within_ms', 1000) + 2000} ms")
        elapsed = (converged_at - written) * 1000
        self.log.append(f"change took effect after {elapsed:.0f} ms ({sent} requests, none failed)")
        if elapsed > converge.get("within_ms", 1000):
            raise Failure(f"the change took {elapsed:.0f} ms, expected at most {converge.get('within_ms', 1000)} ms")

    def execute(self):
        started = time.time()
        try:
            where = "bring-up"
            self.up()
            for number, step in enumerate(self.s.get("steps", []), 1):
                where = f"step {number} ({json.dumps(step)[:120]})"
                self.step(step)
            return True, f"{time.time() - started:.1f}s" + ("; " + "; ".join(self.log) if self.log else "")
        except Exception as error:
            # The cause comes first and on one line: a CI excerpt may cut a long traceback.
            cause = error if isinstance(error, Failure) else f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
            return False, f"at {where}: {cause}\n{self.logs()}"
        finally:
            for connection, _, _ in self.held.values():
                connection.close()
            self.stop()
            if self.args.keep:
                print(f"kept {self.work}", file=sys.stderr)
            else:
                shutil.rmtree(self.work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-plane", default="envoy", choices=["envoy", "meshproxy"])
    parser.add_argument("--xds", default="both", choices=["GRPC", "DELTA_GRPC", "both"],
                        help="the ADS flavour the proxies use (default: both, each scenario once per flavour)")
    parser.add_argument("--bin-dir", required=True, help="where meshd, meshctl and echo-server are")
    parser.add_argument("--envoy", default=os.path.join(ROOT, ".build-tools/venv/bin/envoy"))
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep each run's directory")
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    files = args.scenarios or sorted(glob.glob(os.path.join(ROOT, "conformance/scenarios/*.yaml")))
    protocols = ["GRPC", "DELTA_GRPC"] if args.xds == "both" else [args.xds]
    runs = []
    for path in files:
        with open(path) as f:
            scenario = yaml.safe_load(f)
        scenario.setdefault("name", os.path.splitext(os.path.basename(path))[0])
        for protocol in protocols:
            runs.append((scenario, protocol))
    results = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(Run(scenario, i, args, protocol).execute): (scenario["name"], protocol)
                   for i, (scenario, protocol) in enumerate(runs)}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
    names = sorted({name for name, _ in results})
    width = max([len("scenario")] + [len(n) for n in names]) + 2
    print(f"{'scenario':<{width}}" + "".join(f"{args.data_plane + '/' + p:<22}" for p in protocols))
    failed = 0
    for name in names:
        row = f"{name:<{width}}"
        for protocol in protocols:
            ok, detail = results[(name, protocol)]
            row += f"{('PASS ' if ok else 'FAIL ') + detail.split(';')[0] if ok else 'FAIL':<22}"
            failed += 0 if ok else 1
        print(row)
    for (name, protocol), (ok, detail) in sorted(results.items()):
        if ok and ";" in detail:
            print(f"  {name} [{protocol}]: {detail.split('; ', 1)[1]}")
    for (name, protocol), (ok, detail) in sorted(results.items()):
        if not ok:
            print(f"\n=== {name} [{protocol}] FAILED ===\n{detail}")
    # Each failure's first line again at the very end, where a truncated log still shows it.
    for (name, protocol), (ok, detail) in sorted(results.items()):
        if not ok:
            print(f"FAILED {name} [{protocol}] {detail.splitlines()[0][:400]}")
    print(f"\n{len(results) - failed} of {len(results)} passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
