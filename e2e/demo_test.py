#!/usr/bin/env python3
"""End-to-end test of `meshctl demo`: Bookinfo in the embedded mesh, driven through Istio's tasks.

Starts `meshctl demo` from a clean run directory (its own subnet, ports and gateway address, so it
runs beside the conformance scenarios), then checks what Istio's docs say each task does:
productpage through the gateway; request routing (all to v1, user jason to v2); traffic shifting
(50/50 v1/v3 measured, then all v3); fault injection (a 7 s ratings delay for jason shows the
reviews error panel after productpage's 2 x 3 s; an abort shows the ratings error). Then
`meshctl demo stop`, and checks that no process or listener is left and nothing outside the run
directory (Envoy's shared memory included).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

from trace_collector import TraceCollector

SUBNET = "127.11"
GATEWAY = "127.11.0.1"
XDS_PORT = 15110
TASKS = "samples/bookinfo/networking"
# Short-lived workload certificates: agents renew at 80% (every 16 s), several times during the run.
CERT_TTL = 20


class Failure(Exception):
    pass


def page(user=None, timeout=20):
    request = urllib.request.Request(f"http://{GATEWAY}:8080/productpage")
    if user:
        request.add_header("Cookie", f"session={user}")
    started = time.time()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read().decode()
        return response.status, body, time.time() - started


def served_by(body):
    match = re.search(r"Reviews served by: reviews-(v\d)", body)
    return match.group(1) if match else ("error" if "reviews are currently unavailable" in body else "none")


def versions(count, user=None):
    seen = {}
    for _ in range(count):
        status, body, _ = page(user)
        if status != 200:
            raise Failure(f"productpage answered {status}")
        version = served_by(body)
        seen[version] = seen.get(version, 0) + 1
    return seen


def eventually(what, check, within=5.0):
    """Config changes reach every proxy within a second; allow a little more, then insist."""
    deadline = time.time() + within
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception:  # a request during the change
            if time.time() > deadline:
                raise
        if time.time() > deadline:
            raise Failure(f"{what}: not within {within} s")
        time.sleep(0.2)


class Demo:
    def __init__(self, args):
        self.args = args
        self.run_dir = tempfile.mkdtemp(prefix="swiftmesh-e2e-")
        self.meshctl = os.path.join(args.bin_dir, "meshctl")
        self.process = None

    def ctl(self, *argv, check=True):
        result = subprocess.run([self.meshctl, *argv, "--run-dir", self.run_dir], capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise Failure(f"meshctl {' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result.stdout

    def apply(self, name):
        print(f"  apply {name}: {self.ctl('apply', '-f', os.path.join(TASKS, name)).strip()}")

    def mesh_config(self):
        # Beside the run directory, which meshctl starts from empty.
        descriptor, path = tempfile.mkstemp(prefix="swiftmesh-e2e-mesh-config-", suffix=".yaml")
        with os.fdopen(descriptor, "w") as f:
            f.write(TRACING_MESH_CONFIG)
        self.mesh_config_path = path
        return path

    def start(self):
        shm_before = set(os.listdir("/dev/shm"))
        self.shm_before = shm_before
        self.process = subprocess.Popen(
            [self.meshctl, "demo", "--run-dir", self.run_dir, "--subnet", SUBNET, "--xds-port", str(XDS_PORT),
             "--gateway-address", GATEWAY, "--envoy", self.args.envoy, "--proxy", self.args.proxy, "--samples", "samples/bookinfo",
             "--workload-cert-ttl", str(CERT_TTL), "--prometheus-address", Prometheus.ADDRESS,
             "--mesh-config", self.mesh_config()],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        started = time.time()
        lines = []
        for line in self.process.stdout:
            lines.append(line)
            if "Bookinfo is up" in line:
                print(f"  demo up in {time.time() - started:.1f} s")
                return
            if time.time() - started > 90:
                break
        raise Failure("meshctl demo did not come up:\n" + "".join(lines))

    def stop(self):
        out = self.ctl("demo", "stop")
        print(f"  {out.strip()}")
        self.process.wait(timeout=20)
        rest = self.process.stdout.read()
        if "stopped: every process the mesh started has exited" not in rest:
            raise Failure(f"the demo did not report a clean stop:\n{rest}")

    def kill(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)


def leftovers(demo):
    problems = []
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    for line in ps.splitlines():
        if demo.run_dir in line:
            problems.append(f"process still running: {line.strip()}")
    listeners = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    for line in listeners.splitlines():
        local = line.split()[3] if len(line.split()) > 3 else ""
        if local.startswith(SUBNET + ".") or local in (f"127.0.0.1:{XDS_PORT}", f"127.0.0.1:{XDS_PORT + 4}"):
            problems.append(f"listener left: {local}")
    new_shm = set(os.listdir("/dev/shm")) - demo.shm_before
    if new_shm:
        problems.append(f"left in /dev/shm: {sorted(new_shm)}")
    if os.path.exists(os.path.join(demo.run_dir, "mesh.json")):
        problems.append("the state file mesh.json is still there")
    return problems


def plaintext_status(address):
    """A plaintext request straight to a sidecar's inbound listener: its status, or None when refused."""
    try:
        with urllib.request.urlopen(f"http://{address}:9080/health", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except Exception:
        return None


def check_mutual_tls(demo):
    """STRICT (the demo's mesh-wide policy) refuses plaintext; PERMISSIVE takes both; a workload
    that DISABLEs mTLS gets plaintext from its callers (automatic mTLS) and keeps working."""
    details = f"{SUBNET}.1.2"  # details-v1's instance address (the second workload)
    if plaintext_status(details) is not None:
        raise Failure("STRICT: a plaintext request to details' sidecar was answered")
    print("  STRICT (mesh-wide): plaintext to details' sidecar refused; pages served over mTLS")
    # A client certificate from another CA (made here with openssl) is refused by the handshake.
    key, cert = os.path.join(demo.run_dir, "foreign-key.pem"), os.path.join(demo.run_dir, "foreign-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/O=Someone Else", "-addext",
                    "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage"], check=True, capture_output=True)
    foreign = subprocess.run(["curl", "-sk", "-m", "5", "--cert", cert, "--key", key, "-o", "/dev/null", "-w", "%{http_code}",
                              f"https://{details}:9080/health"], capture_output=True, text=True)
    if foreign.returncode == 0 and foreign.stdout == "200":
        raise Failure("STRICT: a client certificate from a foreign CA was accepted")
    print(f"  a client certificate from a foreign CA (claiming productpage's identity) is refused (curl exit {foreign.returncode})")
    # An expired certificate from the mesh's own CA (signed here with meshd's root key, as an
    # operator with the key could) is refused too.
    ca = os.path.join(demo.run_dir, "expired-ca")
    os.makedirs(ca)
    open(os.path.join(ca, "index.txt"), "w").close()
    with open(os.path.join(ca, "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(ca, "openssl.cnf"), "w") as f:
        f.write(f"[ca]\ndefault_ca = mesh\n[mesh]\ndir = {ca}\ndatabase = $dir/index.txt\nserial = $dir/serial\nnew_certs_dir = $dir\n"
                "default_md = sha256\npolicy = any\ncopy_extensions = copy\nunique_subject = no\n[any]\norganizationName = optional\n")
    root = os.path.join(demo.run_dir, "meshd", "ca")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{ca}/key.pem",
                    "-out", f"{ca}/req.csr", "-subj", "/O=cluster.local", "-addext",
                    "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage"], check=True, capture_output=True)
    signed = subprocess.run(["openssl", "ca", "-batch", "-config", f"{ca}/openssl.cnf", "-cert", f"{root}/root-cert.pem", "-keyfile",
                             f"{root}/root-key.pem", "-in", f"{ca}/req.csr", "-out", f"{ca}/cert.pem",
                             "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"], capture_output=True, text=True)
    if signed.returncode != 0:
        raise Failure(f"could not make the expired certificate: {signed.stderr}")
    expired = subprocess.run(["curl", "-sk", "-m", "5", "--cert", f"{ca}/cert.pem", "--key", f"{ca}/key.pem", "-o", "/dev/null",
                              "-w", "%{http_code}", f"https://{details}:9080/health"], capture_output=True, text=True)
    if expired.returncode == 0 and expired.stdout == "200":
        raise Failure("STRICT: an expired client certificate of the mesh CA was accepted")
    # The same certificate with current dates is accepted: the refusal above is the expiry.
    subprocess.run(["openssl", "ca", "-batch", "-config", f"{ca}/openssl.cnf", "-cert", f"{root}/root-cert.pem", "-keyfile",
                    f"{root}/root-key.pem", "-in", f"{ca}/req.csr", "-out", f"{ca}/valid.pem", "-days", "1"], check=True, capture_output=True)
    valid = subprocess.run(["curl", "-sk", "-m", "5", "--cert", f"{ca}/valid.pem", "--key", f"{ca}/key.pem", "-o", "/dev/null",
                            "-w", "%{http_code}", f"https://{details}:9080/health"], capture_output=True, text=True)
    if valid.stdout != "200":
        raise Failure(f"the same certificate with current dates should be accepted (curl exit {valid.returncode}, {valid.stdout})")
    print(f"  an expired certificate of the mesh's own CA is refused (curl exit {expired.returncode}); with current dates it is accepted")
    permissive = os.path.join(demo.run_dir, "permissive.yaml")
    with open(permissive, "w") as f:
        f.write("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\n"
                "spec: {mtls: {mode: PERMISSIVE}}\n")
    print(f"  apply namespace PERMISSIVE: {demo.ctl('apply', '-f', permissive).strip()}")
    eventually("PERMISSIVE takes plaintext", lambda: plaintext_status(details) == 200)
    if versions(10) != {"v1": 10}:
        raise Failure("pages must keep working under PERMISSIVE")
    print("  PERMISSIVE (namespace): plaintext to details answered 200, pages still over mTLS")
    # A plaintext client keeping its connection alive across the return to STRICT: the chain that
    # took it is gone, so the sidecar must close it (drain), not let it bypass the policy.
    kept = http.client.HTTPConnection(details, 9080, timeout=5)
    kept.auto_open = 0  # once closed it stays closed: that is what is checked
    kept.connect()
    kept.request("GET", "/health")
    response = kept.getresponse()
    response.read()
    if response.status != 200 or kept.sock is None:
        raise Failure("details' sidecar did not keep a plaintext connection alive under PERMISSIVE")
    disable = os.path.join(demo.run_dir, "ratings-disable.yaml")
    with open(disable, "w") as f:
        f.write("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ratings, namespace: default}\n"
                "spec: {selector: {matchLabels: {app: ratings}}, mtls: {mode: DISABLE}}\n")
    print(f"  apply ratings DISABLE: {demo.ctl('apply', '-f', disable).strip()}")
    ratings = f"{SUBNET}.1.6"
    eventually("ratings takes plaintext", lambda: plaintext_status(ratings) == 200)
    _, body, _ = page("jason")
    if "color: black" not in body:
        raise Failure("with ratings DISABLEd, reviews v2 must still get ratings (plaintext, automatic mTLS)")
    print("  ratings DISABLE: reviews-v2 still shows black stars (its sidecar now calls ratings in plaintext)")
    demo.ctl("delete", "-f", disable)
    demo.ctl("delete", "-f", permissive)
    eventually("STRICT again", lambda: plaintext_status(details) is None)
    eventually("the plaintext connection kept from PERMISSIVE is closed", lambda: connection_closed(kept))
    print("  back to STRICT: new plaintext connections are refused and the one kept alive from PERMISSIVE was closed")


def connection_closed(connection):
    """True once the server has closed `connection` (a request on it fails, or its answer said
    `connection: close`); raises while it still serves, so `eventually` retries."""
    try:
        connection.request("GET", "/health")
        connection.getresponse().read()
    except (http.client.HTTPException, OSError):
        return True
    if connection.sock is None:
        return True
    raise Failure("the connection still serves")


def check_propagation():
    """Trace context, the request ID and end-user reach reviews and, through it, ratings."""
    sent = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7", "x-b3-spanid": "e457b5a2e4d86bd1",
            "x-b3-sampled": "1"}
    request = urllib.request.Request(f"http://{GATEWAY}:8080/api/v1/products/0/reviews", headers=dict(sent, Cookie="session=jason"))
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    # The gateway, at the edge, replaces an outside x-request-id with its own (Envoy's default);
    # from there on every hop must carry that one.
    request_id = answer.get("received", {}).get("x-request-id")
    for hop, name in (("received", "reviews"), ("ratings_received", "ratings")):
        got = answer.get(hop, {})
        if got.get("end-user") != "jason" or not request_id or got.get("x-request-id") != request_id \
                or got.get("x-b3-traceid") != sent["x-b3-traceid"] or "traceparent" not in got:
            raise Failure(f"propagation to {name}: got {got}")
    print("  the request ID, B3 and W3C trace context and end-user arrive at reviews and at ratings")
    xfcc = answer.get("received", {}).get("x-forwarded-client-cert", "")
    if "URI=spiffe://cluster.local/ns/default/sa/bookinfo-productpage" not in xfcc:
        raise Failure(f"reviews should see productpage's SPIFFE identity in x-forwarded-client-cert, got {xfcc!r}")
    print("  reviews sees its caller's verified identity: x-forwarded-client-cert URI=spiffe://cluster.local/ns/default/sa/bookinfo-productpage")


class SteadyTraffic(threading.Thread):
    """Anonymous page views through the gateway for the whole run: certificate rotations and
    config changes must not fail one of them."""
    def __init__(self):
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.sent, self.failures = 0, []

    def run(self):
        while not self.stopped.is_set():
            try:
                status, _, _ = page(timeout=10)
                if status != 200:
                    self.failures.append(status)
            except Exception as error:
                self.failures.append(repr(error))
            self.sent += 1
            time.sleep(0.05)


def check_rotation(demo, traffic):
    # Envoy's identity agent logs to <proxy>-agent.log; meshproxy's embedded one to the proxy's own log.
    counts = {}
    logs = os.path.join(demo.run_dir, "logs")
    for name in sorted(os.listdir(logs)):
        with open(os.path.join(logs, name), errors="replace") as f:
            issued = sum(1 for line in f if "agent: certificate" in line)
        if issued:
            counts[name[:-len(".log")].removesuffix("-agent")] = issued
    if len(counts) != 7 or min(counts.values()) < 2:
        raise Failure(f"every agent should have rotated at least once with a {CERT_TTL} s TTL: {counts}")
    if traffic.failures:
        raise Failure(f"{len(traffic.failures)} of {traffic.sent} steady requests failed: {traffic.failures[:5]}")
    print(f"  rotation: {CERT_TTL} s certificates, {min(counts.values())}-{max(counts.values())} certificates per agent "
          f"({len(counts)} agents); {traffic.sent} steady page views, 0 failed")


ACCESS_LOG_LINE = re.compile(
    r'^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)" (?P<code>\d+) '
    r'(?P<flags>\S+) (?P<details>\S+) \S+ "[^"]*" \d+ \d+ \d+ \S+ "[^"]*" "[^"]*" "(?P<request_id>[^"]*)" "(?P<authority>[^"]*)" '
    r'"[^"]*" (?P<cluster>\S+) \S+ \S+ \S+ \S+ \S+$')


def check_access_logs(demo):
    """Every proxy logs each request in Istio's format (the demo's mesh-wide Telemetry); the
    ratings abort shows as 500 FI at the caller's sidecar; one page view is one request ID
    from the gateway through productpage's sidecar."""
    logs = os.path.join(demo.run_dir, "logs")
    lines = {}
    deadline = time.time() + 5
    while True:
        lines = {}
        for name in sorted(os.listdir(logs)):
            if name.endswith("-agent.log") or name in ("meshd.log",) or not name.endswith(".log"):
                continue
            with open(os.path.join(logs, name), errors="replace") as f:
                parsed = [m.groupdict() for m in map(ACCESS_LOG_LINE.match, f.read().splitlines()) if m]
            if parsed:
                lines[name[:-len(".log")]] = parsed
        faults = [l for entries in lines.values() for l in entries
                  if l["code"] == "500" and l["flags"] == "FI" and l["details"] == "fault_filter_abort"
                  and re.fullmatch(r"outbound\|9080\|[^|]*\|ratings\.default\.svc\.cluster\.local", l["cluster"])]
        if (len(lines) >= 7 and faults) or time.time() > deadline:
            break
        time.sleep(0.2)
    if len(lines) < 7:
        raise Failure(f"every proxy (gateway and 6 sidecars) should write access-log lines; lines from {sorted(lines)}")
    if not faults:
        raise Failure("no access-log line shows the ratings abort as 500 FI fault_filter_abort")
    gateway = next((entries for name, entries in lines.items() if "gateway" in name), [])
    page_ids = {l["request_id"] for l in gateway if l["path"] == "/productpage" and l["code"] == "200"
                and re.fullmatch(r"outbound\|9080\|[^|]*\|productpage\.default\.svc\.cluster\.local", l["cluster"])}
    inbound = {l["request_id"] for entries in lines.values() for l in entries if l["cluster"].startswith("inbound|9080||")}
    if not page_ids & inbound:
        raise Failure("no page view's request ID appears both at the gateway and at productpage's inbound listener")
    total = sum(map(len, lines.values()))
    print(f"  access logs: {total} lines in Istio's format from {len(lines)} proxies; the abort as 500 FI at the caller; "
          f"{len(page_ids & inbound)} page views followed by request ID from the gateway to productpage")


def dump_errors(demo):
    """The proxies' error counters, to tell which hop failed."""
    admins = [(f"{GATEWAY}:15000", "gateway")] + [(f"{SUBNET}.1.{i}:15000", f"workload {i}") for i in range(1, 7)]
    for address, name in admins:
        try:
            with urllib.request.urlopen(f"http://{address}/stats", timeout=3) as response:
                lines = [line for line in response.read().decode().splitlines()
                         if any(key in line for key in ("upstream_rq_5", "cx_connect_fail", "ssl.connection_error", "ssl.fail",
                                                        "destroy_remote_with_active_rq", "upstream_rq_retry", "downstream_rq_5"))
                         and not line.endswith(": 0")]
            print(f"  {name} ({address}): " + ("; ".join(lines[:12]) or "no errors"))
        except Exception as error:
            print(f"  {name}: {error}")


def check_meshd_metrics():
    """meshd's /metrics passes promtool and says what the run did."""
    with urllib.request.urlopen(f"http://127.0.0.1:{XDS_PORT + 4}/metrics", timeout=5) as response:
        text = response.read().decode()
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    if checked.returncode != 0:
        raise Failure(f"promtool check metrics: {checked.stdout}{checked.stderr}")
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    connected = values.get('pilot_xds{protocol="GRPC"}', 0) + values.get('pilot_xds{protocol="DELTA_GRPC"}', 0)
    issued = values.get("citadel_server_success_cert_issuances_total", 0)
    converged = values.get("pilot_proxy_convergence_time_count", 0)
    if connected != 7 or issued < 14 or values.get('pilot_xds_pushes_total{type="rds"}', 0) < 7 or converged < 7:
        raise Failure(f"meshd metrics: {connected} proxies, {issued} certificates, {converged} convergences")
    fast = values.get('pilot_proxy_convergence_time_bucket{le="0.5"}', 0) / converged
    print(f"  meshd /metrics (promtool: ok): {connected:.0f} proxies connected, {issued:.0f} certificates issued, "
          f"{converged:.0f} pushes of changes, {fast:.0%} within 0.5 s")


def check_proxy_stats(proxy):
    """productpage's sidecar in its own stats: with Envoy, requests and mTLS handshakes per whole
    cluster name; with meshproxy, the mTLS handshakes of its inbound listener (from the gateway)."""
    with urllib.request.urlopen(f"http://{SUBNET}.1.1:15000/stats/prometheus", timeout=5) as response:
        text = response.read().decode()
    if proxy != "envoy":  # productpage runs meshproxy (mixed: the gateway is Envoy, productpage meshproxy)
        handshakes = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("envoy_http_ssl_handshake{"))
        checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        # Lint notes (help text, _total suffixes) are Envoy's naming, kept; only errors fail.
        errors = [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("error")]
        if handshakes < 1 or errors:
            raise Failure(f"meshproxy stats: {handshakes} mTLS handshakes; promtool: {errors}")
        print(f"  meshproxy's stats (productpage's sidecar, promtool: ok): {handshakes:.0f} mTLS handshakes with the gateway")
        return
    def value(prefix):
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))
    details = 'envoy_cluster_name="outbound|9080|v1|details.default.svc.cluster.local"'
    requests = value(f'envoy_cluster_upstream_rq{{envoy_response_code="200",{details}}}')
    handshakes = value(f"envoy_cluster_ssl_handshake{{{details}}}")
    if requests < 1 or handshakes < 1:
        raise Failure(f"Envoy stats for details v1: {requests} requests, {handshakes} mTLS handshakes")
    print(f"  Envoy's own stats (productpage's sidecar): {requests:.0f} requests and {handshakes:.0f} mTLS handshakes to details v1")


class Prometheus:
    """The demo's Prometheus (`meshctl demo --prometheus-address`, Debian's `prometheus`): it
    scrapes every proxy's /stats/prometheus and meshd's /metrics each second."""
    ADDRESS = f"127.0.0.1:{XDS_PORT + 20}"

    def __init__(self, proxy):
        # meshproxy sidecars are scraped on 15020 (their metrics merged with the app's), Envoy
        # and the gateway on their admin port; the mixed mesh alternates, meshproxy first.
        def merged(i):
            return proxy == "meshproxy" or (proxy == "mixed" and i % 2 == 1)
        self.targets = [f"{GATEWAY}:15000"] + [f"{SUBNET}.1.{i}:{15020 if merged(i) else 15000}" for i in range(1, 7)]
        self.merged = [target for target in self.targets if target.endswith(":15020")]

    def query(self, promql):
        url = f"http://{self.ADDRESS}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.load(response)
        if answer.get("status") != "success":
            raise Failure(f"PromQL {promql}: {answer}")
        return answer["data"]["result"]

    def value(self, promql):
        """The query's single value (0 when it matches nothing)."""
        result = self.query(promql)
        return sum(float(sample["value"][1]) for sample in result)

    def settled(self, promql, within=15.0):
        """The value once two scrapes in a row agree: nothing is still on its way."""
        deadline, last = time.time() + within, None
        while time.time() < deadline:
            current = self.value(promql)
            if current == last:
                return current
            last = current
            time.sleep(2.2)
        raise Failure(f"{promql} kept changing")


def check_istio_metrics(demo, prometheus):
    """Istio's standard metrics, scraped by a real Prometheus from every proxy, count a known
    number of page views per source, destination and version, from both ends of each hop, with
    the peers' workloads learnt by metadata exchange and mTLS hops labelled mutual_tls; the
    ratings abort shows as 500 FI. Every endpoint passes promtool. (Stock Envoy emits no
    istio_* metrics; in the mixed mesh only meshproxy's hops are counted.)"""
    meshproxy_everywhere = demo.args.proxy == "meshproxy"
    for target in prometheus.targets:
        with urllib.request.urlopen(f"http://{target}/stats/prometheus", timeout=5) as response:
            text = response.read().decode()
        checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        errors = [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("error")]
        if errors:
            raise Failure(f"promtool check metrics on {target}: {errors}")
    check_merged_metrics(prometheus)
    up = prometheus.value('sum(up{job="mesh-proxies"})')
    if up != len(prometheus.targets):
        raise Failure(f"Prometheus scrapes {up:.0f} of {len(prometheus.targets)} proxies")
    if prometheus.value('up{job="meshd"}') != 1:
        raise Failure("Prometheus does not scrape meshd's /metrics")
    reviews = ('istio_requests_total{reporter="%s",source_workload="productpage-v1",source_version="v1",'
               'destination_workload="reviews-v1",destination_version="v1",destination_app="reviews",'
               'destination_service="reviews.default.svc.cluster.local",response_code="200"%s}')
    server = reviews % ("destination", ',connection_security_policy="mutual_tls",'
                        'source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",'
                        'destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews"')
    client = reviews % ("source", ',connection_security_policy="unknown"')
    queries = {"reviews-v1 (server side)": f"sum({server})", "reviews-v1 (client side)": f"sum({client})"}
    if meshproxy_everywhere:
        queries["productpage from the gateway"] = ('sum(istio_requests_total{reporter="destination",destination_workload="productpage-v1",'
                                                   'source_workload!="unknown",response_code="200"})')
        queries["details-v1 (server side)"] = ('sum(istio_requests_total{reporter="destination",source_workload="productpage-v1",'
                                               'destination_workload="details-v1",connection_security_policy="mutual_tls"})')
        queries["latency histogram, reviews-v1"] = f'sum(istio_request_duration_milliseconds_count{{reporter="destination",destination_workload="reviews-v1"}})'
    before = {name: prometheus.settled(query) for name, query in queries.items()}
    pages = 20
    if versions(pages) != {"v1": pages}:
        raise Failure("pages during the metrics check were not all from reviews-v1")
    counted = {}
    deadline = time.time() + 15
    while time.time() < deadline:
        counted = {name: prometheus.value(query) - before[name] for name, query in queries.items()}
        if all(count >= pages for count in counted.values()):
            break
        time.sleep(0.5)
    counted = {name: prometheus.settled(query) - before[name] for name, query in queries.items()}
    wrong = {name: count for name, count in counted.items() if count != pages}
    if wrong:
        raise Failure(f"after {pages} page views, Prometheus counted {wrong} (expected {pages} each); all: {counted}")
    print(f"  Prometheus (scraping {len(prometheus.targets)} proxies, promtool: ok on each) counted exactly {pages} "
          f"per hop after {pages} pages: " + ", ".join(counted))
    if meshproxy_everywhere:
        abort = ('sum(istio_requests_total{reporter="source",source_workload="reviews-v2",destination_service_name="ratings",'
                 'response_code="500",response_flags="FI"})')
        start = prometheus.settled(abort)
        for _ in range(5):
            page("jason")
        aborted = prometheus.settled(abort) - start
        if aborted != 5:
            raise Failure(f"5 jason pages under the ratings abort: {aborted} requests counted as 500 FI")
        print("  the ratings abort: 5 jason pages → 5 requests reviews-v2 → ratings labelled response_code 500, response_flags FI")


def check_merged_metrics(prometheus):
    """A meshproxy sidecar serves its Prometheus text on 15090 and, merged with its app's own
    metrics (Bookinfo's /metrics), on 15020, as Istio's bootstrap and agent do; Prometheus, which
    scrapes 15020, then has both the istio_* series and the app's."""
    for target in prometheus.merged:
        host = target.rsplit(":", 1)[0]
        with urllib.request.urlopen(f"http://{host}:15090/stats/prometheus", timeout=5) as response:
            own = response.read().decode()
        with urllib.request.urlopen(f"http://{target}/stats/prometheus", timeout=5) as response:
            merged = response.read().decode()
        for text, port in ((own, 15090), (merged, 15020)):
            checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            errors = [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("error")]
            if errors:
                raise Failure(f"promtool check metrics on {host}:{port}: {errors}")
        if "envoy_server_worker_downstream_cx_total" not in own or "bookinfo_requests_total" in own:
            raise Failure(f"{host}:15090 must serve the proxy's metrics only")
        if "bookinfo_requests_total{" not in merged or "envoy_server_worker_downstream_cx_total" not in merged:
            raise Failure(f"{target} must serve the proxy's metrics and the app's: {merged[-400:]!r}")
    if prometheus.merged:
        scraped = {sample["metric"].get("workload") for sample in prometheus.query('sum by (workload) (bookinfo_requests_total{job="mesh-proxies"})')}
        if len(scraped) != len(prometheus.merged):
            raise Failure(f"Prometheus has the apps' bookinfo_requests_total from {sorted(map(str, scraped))}, "
                          f"expected one per merged target {prometheus.merged}")
        print(f"  merged metrics: {len(prometheus.merged)} meshproxy sidecars serve the proxy's text on 15090 and it with "
              f"their app's on 15020 (promtool: ok); Prometheus has bookinfo_requests_total from {', '.join(sorted(scraped))}")


METRIC_OVERRIDES = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews-metrics, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        request_host: {value: request.host}
        source_canonical_revision: {operation: REMOVE}
    - match: {metric: REQUEST_SIZE}
      disabled: true
"""


def check_metric_overrides(demo):
    """A workload-level Telemetry changes reviews' metrics as Istio's would: its server side's
    istio_requests_total gains request_host and loses source_canonical_revision, and request
    sizes stop being recorded. Read straight from reviews-v1's sidecar; removed afterwards."""
    path = os.path.join(demo.run_dir, "reviews-metrics.yaml")
    with open(path, "w") as f:
        f.write(METRIC_OVERRIDES)
    reviews = f"http://{SUBNET}.1.3:15000/stats/prometheus"

    def scrape():
        with urllib.request.urlopen(reviews, timeout=5) as response:
            return response.read().decode().splitlines()

    def request_bytes(lines):
        return sum(int(line.rsplit(" ", 1)[1]) for line in lines
                   if line.startswith("istio_request_bytes_count{") and 'reporter="destination"' in line)

    demo.ctl("apply", "-f", path)
    try:
        def overridden():
            page()
            lines = scrape()
            return [line for line in lines if line.startswith("istio_requests_total{") and "request_host=" in line] or None
        eventually("reviews' requests counted with request_host", overridden, within=15)
        before = request_bytes(scrape())
        pages = 10
        if versions(pages) != {"v1": pages}:
            raise Failure("pages during the metric override check were not all from reviews-v1")
        lines = scrape()
        tagged = [line for line in lines if line.startswith("istio_requests_total{") and "request_host=" in line]
        counted = sum(int(line.rsplit(" ", 1)[1]) for line in tagged)
        if counted < pages or any("source_canonical_revision=" in line for line in tagged):
            raise Failure(f"with the override, {counted} requests counted with request_host (expected >= {pages}), lines: {tagged}")
        if request_bytes(lines) != before:
            raise Failure(f"request sizes are disabled, but istio_request_bytes went from {before} to {request_bytes(lines)}")
        host = tagged[0].split('request_host="', 1)[1].split('"', 1)[0]
        print(f"  Telemetry metric overrides on reviews: {counted} requests tagged request_host=\"{host}\", "
              f"source_canonical_revision removed, request sizes no longer recorded ({before} before and after)")
    finally:
        demo.ctl("delete", "-f", path)


# The demo's mesh config: two tracers the tracing check turns on in turn. Defining a provider
# traces nothing until a Telemetry resource names it.
TRACING_MESH_CONFIG = """
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.tracing.local, port: 9411}
- name: otel
  opentelemetry:
    service: otel.tracing.local
    port: 4318
    http: {path: /v1/traces, timeout: 2s}
- name: otel-grpc
  opentelemetry: {service: otel-grpc.tracing.local, port: 4317}
"""

TRACING_CONFIG = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: trace-collectors, namespace: istio-system}
spec:
  hosts: [zipkin.tracing.local, otel.tracing.local]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 9411, name: http-zipkin, protocol: HTTP}, {number: 4318, name: http-otlp, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http-zipkin: PORT, http-otlp: PORT}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: trace-collector-grpc, namespace: istio-system}
spec:
  hosts: [otel-grpc.tracing.local]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 4317, name: grpc-otlp, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, ports: {grpc-otlp: GRPCPORT}}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: PROVIDER}]
    randomSamplingPercentage: 100
"""


def check_tracing(demo, collector):
    """One Bookinfo page is one trace: with a mesh-wide Telemetry sending every request to the
    collector, the gateway's span is the root, and productpage's, details' and reviews' spans
    hang from it by parent ID (the server span of each hop under its caller's client span, the
    client spans under the server span of the workload that made the call). Done for Zipkin,
    then for OpenTelemetry over OTLP/HTTP and OTLP/gRPC (grpcio's server); every span is checked
    against the protocol's schema."""
    path = os.path.join(demo.run_dir, "tracing.yaml")
    try:
        tracers = [("zipkin", "zipkin"), ("otel", "otlp"), ("otel-grpc", "otlp-grpc")]
        for provider, wire in tracers:
            with open(path, "w") as f:
                f.write(TRACING_CONFIG.replace("GRPCPORT", collector.grpc_address.rsplit(":", 1)[1])
                        .replace("PORT", collector.address.rsplit(":", 1)[1]).replace("PROVIDER", provider))
            demo.ctl("apply", "-f", path)

            # Every proxy on the page's path must have the tracer before the traced page: the
            # gateway's config can arrive before productpage's, and a page in between is only
            # partly traced. So pages go on until each hop has reported a span.
            hops = {"istio-ingressgateway CLIENT", "productpage SERVER", "productpage CLIENT", "details SERVER", "reviews SERVER"}

            def reported():
                page()
                with collector.lock:
                    seen = {f"{span['service'].split('.', 1)[0]} {span['kind']}" for span in collector.spans if span["format"] == wire}
                return hops <= seen
            eventually(f"spans of every hop reach the {provider} collector", reported, within=30)
            # Right after a tracer change a few pages may still cross a hop on its old config
            # (seen: ~20 pages with one hop untraced, fourteenth session; see the issue note), so
            # a page whose trace stays incomplete is followed by another, up to four.
            incomplete = []
            for attempt in range(4):
                marker = uuid.uuid4().hex
                with urllib.request.urlopen(f"http://{GATEWAY}:8080/productpage?trace={marker}", timeout=20) as response:
                    body = response.read().decode()
                if served_by(body) != "v1":
                    raise Failure(f"the traced page came from reviews {served_by(body)}, expected v1 (no ratings call)")
                # Proxies report every 5 spans or 5 s, as Envoy's tracers do.
                try:
                    eventually(f"the page's 6 spans at the {provider} collector",
                               lambda m=marker: len(collector.trace_of(m, wire)) >= 6, within=12)
                    break
                except Failure as failure:
                    found = [(s["service"], s["kind"], s["name"], s["id"], s["parent"]) for s in collector.trace_of(marker, wire)]
                    incomplete.append(f"{failure}; the page's trace has {found}")
            else:
                raise Failure(f"{incomplete}; all spans by proxy: {collector.summary(wire)}; schema problems: {collector.problems[:5]}")
            if incomplete:
                print(f"  {provider}: {len(incomplete)} traced page(s) incomplete before a whole one: {incomplete[0][:300]}")
            time.sleep(1)
            spans = collector.trace_of(marker, wire)
            describe_trace(spans, provider)
        if collector.problems:
            raise Failure("spans that break their protocol's schema:\n  " + "\n  ".join(collector.problems[:10]))
    finally:
        demo.ctl("delete", "-f", path, check=False)


def describe_trace(spans, provider):
    by_id = {span["id"]: span for span in spans}
    traces = {span["trace"] for span in spans}
    if len(traces) != 1 or len(by_id) != len(spans):
        raise Failure(f"{provider}: one page must be one trace with distinct span IDs: {len(traces)} traces, {len(spans)} spans")
    roots = [span for span in spans if span["parent"] is None]
    orphans = [span for span in spans if span["parent"] is not None and span["parent"] not in by_id]
    if len(roots) != 1 or orphans:
        raise Failure(f"{provider}: expected one root and no orphans, got roots {roots} orphans {orphans}")

    def hop(span):
        return (span["service"].split(".", 1)[0], span["kind"])
    edges = sorted((hop(by_id[span["parent"]]), hop(span)) for span in spans if span["parent"])
    expected = sorted([
        (("istio-ingressgateway", "CLIENT"), ("productpage", "SERVER")),
        (("productpage", "SERVER"), ("productpage", "CLIENT")),
        (("productpage", "SERVER"), ("productpage", "CLIENT")),
        (("productpage", "CLIENT"), ("details", "SERVER")),
        (("productpage", "CLIENT"), ("reviews", "SERVER")),
    ])
    if hop(roots[0]) != ("istio-ingressgateway", "CLIENT") or edges != expected:
        raise Failure(f"{provider}: the trace's shape is wrong: root {hop(roots[0])}, edges {edges}")
    for span in spans:
        parent = by_id.get(span["parent"])
        # A server span is named by its caller's route (x-envoy-decorator-operation).
        if span["kind"] == "SERVER" and parent and span["name"] != parent["name"]:
            raise Failure(f"{provider}: server span {span['name']!r} is not named as its client span {parent['name']!r}")
        tags = span["tags"]
        if tags.get("http.status_code") != "200" or tags.get("istio.namespace") not in ("default", "istio-system") \
                or "node_id" not in tags or tags.get("component") != "proxy":
            raise Failure(f"{provider}: span {span['name']!r} lacks Envoy's and Istio's tags: {tags}")
        if parent and not parent["start"] <= span["start"] <= parent["start"] + parent["duration"]:
            raise Failure(f"{provider}: span {span['name']!r} starts outside its parent")
    print(f"  {provider}: trace {roots[0]['trace']}: {len(spans)} spans linked by parent IDs, root "
          f"{roots[0]['service']} {roots[0]['name']!r}; " + ", ".join(f"{a[0]}→{b[0]} {b[1]}" for a, b in edges))


DASHBOARD = "samples/grafana/swiftmesh-mesh.json"
# Panels the demo's traffic cannot fill: Bookinfo here has no TCP or gRPC service.
NO_DEMO_TRAFFIC = {"TCP bytes by destination service", "TCP connections opened and closed", "gRPC statuses other than OK"}


def check_dashboard(demo, prometheus):
    """Every query of the Grafana dashboard in samples/ runs on the demo's Prometheus as Grafana
    would send it (`$__rate_interval` 1m, every destination service): none fails, each panel the
    demo's traffic reaches has data, and the mesh-wide ratios are what the demo sets up (every
    request over mutual TLS, success rate within 0..1)."""
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    checked, empty = 0, []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            promql = target["expr"].replace("$__rate_interval", "1m").replace("$destination_service", ".*")
            result = prometheus.query(promql)  # raises on a query Prometheus refuses
            checked += 1
            if not result:
                empty.append(panel["title"])
            if panel["title"] == "Mutual TLS share" and result and abs(float(result[0]["value"][1]) - 1) > 1e-9:
                raise Failure(f"dashboard: mutual TLS share {result[0]['value'][1]}, expected 1 under STRICT")
            if panel["title"].startswith("Global success rate") and result and not 0 < float(result[0]["value"][1]) <= 1:
                raise Failure(f"dashboard: success rate {result[0]['value'][1]}")
    missing = sorted(set(empty) - NO_DEMO_TRAFFIC - ({"Responses the proxies made (response flags)"} if demo.args.proxy != "meshproxy" else set()))
    if missing:
        raise Failure(f"dashboard panels without data after the demo's traffic: {missing}")
    print(f"  Grafana dashboard ({DASHBOARD}): {checked} queries run on Prometheus, "
          f"{len(set(empty))} panels empty (no TCP or gRPC service in Bookinfo; the TCP ones are checked on hello-mesh): {sorted(set(empty))}")


def run(args):
    demo = Demo(args)
    traffic = SteadyTraffic()
    prometheus = None
    collector = TraceCollector().start().start_grpc()
    try:
        print("start: meshctl demo from a clean run directory")
        demo.start()
        prometheus = Prometheus(args.proxy)
        traffic.start()

        status, body, _ = page()
        if status != 200 or "Book Reviews" not in body or "Book Details" not in body:
            raise Failure(f"productpage through the gateway: {status}, reviews/details missing")
        print("  productpage through the gateway: 200 with details and reviews")
        spread = versions(30)
        print(f"  before any routing rule, reviews versions: {spread}")

        print("task: request routing")
        demo.apply("virtual-service-all-v1.yaml")
        eventually("all traffic to v1", lambda: versions(10) == {"v1": 10})
        if versions(30) != {"v1": 30}:
            raise Failure("after virtual-service-all-v1, a page was not served by reviews v1")
        print("  all traffic to v1: 30/30 pages from reviews-v1")
        demo.apply("virtual-service-reviews-test-v2.yaml")
        eventually("jason to v2", lambda: versions(5, "jason") == {"v2": 5})
        jason, others = versions(20, "jason"), versions(20)
        if jason != {"v2": 20} or others != {"v1": 20}:
            raise Failure(f"user routing: jason {jason}, others {others}")
        print(f"  jason → v2 (20/20, black stars), everyone else → v1 (20/20)")
        check_propagation()
        check_mutual_tls(demo)

        print("task: traffic shifting")
        demo.apply("virtual-service-reviews-50-v3.yaml")
        # Before the change everyone but jason already gets v1: wait until v3 shows up.
        eventually("50/50 v1/v3", lambda: "v3" in versions(20))
        # 600 pages: a fair 50/50 lands within 43-57% with 3.4 standard deviations to spare
        # (400 pages left 2.8, and a CI run measured 42.8%).
        split = versions(600)
        share = split.get("v3", 0) / 600 * 100
        print(f"  50% v1 / 50% v3 over 600 pages: {split} ({share:.1f}% v3)")
        if set(split) != {"v1", "v3"} or not 43 <= share <= 57:
            raise Failure(f"50/50 shift measured {split}")
        demo.apply("virtual-service-reviews-v3.yaml")
        eventually("all to v3", lambda: versions(10) == {"v3": 10})
        _, body, _ = page()
        if "color: red" not in body:
            raise Failure("reviews v3 should show red stars")
        print("  100% v3: 10/10 pages from reviews-v3, red stars")

        print("task: fault injection")
        demo.apply("virtual-service-all-v1.yaml")
        demo.apply("virtual-service-reviews-test-v2.yaml")
        demo.apply("virtual-service-ratings-test-delay.yaml")
        def delayed():
            _, body, seconds = page("jason")
            return (body, seconds) if "reviews are currently unavailable" in body else None
        body, seconds = eventually("the ratings delay for jason", delayed, within=30)
        _, body, seconds = page("jason")
        if "Sorry, product reviews are currently unavailable for this book." not in body or not 5.5 <= seconds <= 9:
            raise Failure(f"delay fault: expected the reviews error panel after ~6 s, got {served_by(body)} after {seconds:.1f} s")
        print(f"  jason: reviews error panel after {seconds:.1f} s (productpage's 2 × 3 s; the 7 s delay is longer), as Istio's docs show")
        _, body, seconds = page()
        if served_by(body) != "v1" or seconds > 2:
            raise Failure(f"delay fault must not touch other users: {served_by(body)} in {seconds:.1f} s")
        print(f"  others: reviews-v1 in {seconds:.2f} s")
        demo.apply("virtual-service-ratings-test-abort.yaml")
        def aborted():
            _, body, _ = page("jason")
            return body if "Ratings service is currently unavailable" in body else None
        body = eventually("the ratings abort for jason", aborted, within=20)
        if served_by(body) != "v2":
            raise Failure("abort fault: reviews v2 should answer, with the ratings error")
        print("  jason: reviews-v2 with 'Ratings service is currently unavailable' (HTTP 500 from the fault)")
        check_access_logs(demo)
        print("observe: distributed tracing")
        check_tracing(demo, collector)

        traffic.stopped.set()
        traffic.join(timeout=15)
        print("observe: Istio's standard metrics")
        check_istio_metrics(demo, prometheus)
        check_dashboard(demo, prometheus)
        if demo.args.proxy == "meshproxy":
            check_metric_overrides(demo)
        check_rotation(demo, traffic)
        check_meshd_metrics()
        check_proxy_stats(demo.args.proxy)

        print("stop: meshctl demo stop")
        demo.stop()
        time.sleep(0.5)
        problems = leftovers(demo)
        if problems:
            raise Failure("after stop:\n  " + "\n  ".join(problems))
        print("  no process, listener, state file or shared memory left")
        shutil.rmtree(demo.run_dir, ignore_errors=True)
        return True
    except (Failure, urllib.error.URLError, OSError) as failure:
        print(f"FAILED: {failure}")
        dump_errors(demo)
        logs = os.path.join(demo.run_dir, "logs")
        print(f"(logs kept in {logs})")
        return False
    finally:
        traffic.stopped.set()
        collector.stop()
        if demo.process and demo.process.poll() is None:
            try:
                demo.ctl("demo", "stop", check=False)
            finally:
                demo.kill()
        if getattr(demo, "mesh_config_path", None):
            os.unlink(demo.mesh_config_path)


def tcp_series(admin, family):
    """`family`'s samples on a proxy's :15090 (labels dict, value), read with promtool's rules."""
    host = admin.split("//", 1)[1].rsplit(":", 1)[0]
    with urllib.request.urlopen(f"http://{host}:15090/stats/prometheus", timeout=5) as response:
        text = response.read().decode()
    samples = []
    for line in text.splitlines():
        if line.startswith(family + "{"):
            labels, value = line[len(family) + 1:].rsplit("} ", 1)
            samples.append((dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)))
    return samples


def check_tcp_metrics(proxy_kind, lines):
    """TCP through the gateway's port 9000 to tcp-echo over mTLS. Where both ends are meshproxy,
    each names the other's workload in Istio's TCP series, learnt by Istio's TCP metadata
    exchange (the istio-peer-exchange ALPN, then a magic-prefixed Struct each way). Where the
    gateway is stock Envoy (mixed), tcp-echo's sidecar still counts the connections, mTLS, with
    the gateway's certificate identity and no workload (the exchange is not negotiated)."""
    proxies = {}
    for line in lines:
        match = re.search(r"starting (\S+): (meshproxy|Envoy) at (\S+) \(admin :(\d+)", line)
        if match:
            proxies[match.group(1)] = (match.group(2), f"http://{match.group(3)}:{match.group(4)}")
    connections = 5
    for index in range(connections):
        # Each request is its own TCP connection (urllib closes it): the mesh sees only bytes.
        with urllib.request.urlopen(f"http://{GATEWAY}:9000/tcp/{index}", timeout=10) as response:
            if response.headers.get("x-echo-server") != "tcp-echo-v1":
                raise Failure(f"the gateway's TCP port 9000 reached {response.headers.get('x-echo-server')}, not tcp-echo-v1")
    print(f"  TCP through the gateway's port 9000: {connections} connections echoed by tcp-echo-v1")
    if proxy_kind == "envoy":
        return
    gateway_kind, gateway_admin = proxies["istio-ingressgateway"]
    echo_kind, echo_admin = proxies["tcp-echo-v1-sidecar"]
    exchanged = gateway_kind == echo_kind == "meshproxy"
    gateway_identity = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"

    def server_side():
        found = [(labels, value) for labels, value in tcp_series(echo_admin, "istio_tcp_connections_closed_total")
                 if labels.get("reporter") == "destination" and labels.get("source_principal") == gateway_identity]
        return found if sum(value for _, value in found) >= connections else None
    server = eventually("tcp-echo's sidecar to count the gateway's connections closed", server_side, within=10)
    for labels, _ in server:
        expected = {"connection_security_policy": "mutual_tls", "destination_workload": "tcp-echo-v1", "request_protocol": "tcp",
                    "destination_service": "tcp-echo.default.svc.cluster.local",
                    "source_workload": "istio-ingressgateway" if exchanged else "unknown",
                    "source_workload_namespace": "istio-system" if exchanged else "unknown"}
        wrong = {key: labels.get(key) for key, value in expected.items() if labels.get(key) != value}
        if wrong:
            raise Failure(f"tcp-echo's TCP series from the gateway: expected {expected}, got {wrong}")
    received = sum(value for labels, value in tcp_series(echo_admin, "istio_tcp_received_bytes_total")
                   if labels.get("source_principal") == gateway_identity)
    if received < connections * 40:
        raise Failure(f"tcp-echo's sidecar counted {received:.0f} bytes from the gateway for {connections} requests")
    how = "learnt by metadata exchange" if exchanged else "no exchange with stock Envoy: the certificate's identity only"
    print(f"  tcp-echo's sidecar: {connections} mTLS connections from source_workload="
          f"{server[0][0]['source_workload']} ({how}), {received:.0f} bytes received")
    if gateway_kind != "meshproxy":
        return
    client = [(labels, value) for labels, value in tcp_series(gateway_admin, "istio_tcp_connections_opened_total")
              if labels.get("reporter") == "source" and labels.get("destination_service") == "tcp-echo.default.svc.cluster.local"]
    if sum(value for _, value in client) < connections or any(labels.get("destination_workload") != "tcp-echo-v1" for labels, _ in client):
        raise Failure(f"the gateway's TCP series to tcp-echo: {client}")
    print(f"  the gateway: {connections} connections to destination_workload=tcp-echo-v1, version "
          f"{client[0][0]['destination_version']} (learnt by metadata exchange)")


def check_tcp_dashboard(prometheus):
    """The dashboard's TCP panels, which Bookinfo leaves empty, show the TCP traffic that crossed
    hello-mesh: their queries, as Grafana sends them, return data from the Prometheus that
    `meshctl up --prometheus-address` started."""
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    panels = [panel for panel in dashboard["panels"] if panel["title"] in NO_DEMO_TRAFFIC and "TCP" in panel["title"]]
    if not panels:
        raise Failure(f"no TCP panel in {DASHBOARD}")
    for panel in panels:
        for target in panel.get("targets", []):
            promql = target["expr"].replace("$__rate_interval", "1m").replace("$destination_service", ".*")
            eventually(f"dashboard panel '{panel['title']}' to show the TCP traffic", lambda q=promql: prometheus.query(q), within=30)
    print(f"  Grafana dashboard: the TCP panels ({', '.join(panel['title'] for panel in panels)}) have data on Prometheus")


def run_up(args):
    """`meshctl up samples/hello-mesh`: the user's own workloads and config, 80/20 through the
    gateway, and TCP through the gateway with Istio's TCP metrics on both ends."""
    run_dir = tempfile.mkdtemp(prefix="swiftmesh-e2e-up-")
    meshctl = os.path.join(args.bin_dir, "meshctl")
    process = subprocess.Popen([meshctl, "up", "samples/hello-mesh", "--run-dir", run_dir, "--subnet", SUBNET,
                                "--xds-port", str(XDS_PORT), "--gateway-address", GATEWAY, "--envoy", args.envoy,
                                "--proxy", args.proxy, "--prometheus-address", Prometheus.ADDRESS],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        print("start: meshctl up samples/hello-mesh")
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "The mesh is up" in line:
                break
        else:
            raise Failure("meshctl up did not come up:\n" + "".join(lines))
        counts = {}
        for _ in range(500):
            with urllib.request.urlopen(f"http://{GATEWAY}:8080/", timeout=10) as response:
                server = response.headers.get("x-echo-server")
                counts[server] = counts.get(server, 0) + 1
        share = counts.get("hello-v2", 0) / 5
        print(f"  80/20 over 500 requests through the gateway: {counts} ({share:.1f}% v2)")
        if set(counts) != {"hello-v1", "hello-v2"} or not 15 <= share <= 25:
            raise Failure(f"meshctl up: expected 80/20, got {counts}")
        check_tcp_metrics(args.proxy, lines)
        if args.proxy != "envoy":
            check_tcp_dashboard(Prometheus(args.proxy))
        subprocess.run([meshctl, "down", "--run-dir", run_dir], capture_output=True, timeout=30, check=True)
        process.wait(timeout=20)
        print("  meshctl down: stopped")
        shutil.rmtree(run_dir, ignore_errors=True)
        return True
    except Failure as failure:
        print(f"FAILED: {failure}")
        return False
    finally:
        if process.poll() is None:
            subprocess.run([meshctl, "down", "--run-dir", run_dir], capture_output=True, timeout=30)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True, help="where meshctl, meshd and bookinfo are")
    parser.add_argument("--envoy", default=".build-tools/venv/bin/envoy")
    parser.add_argument("--proxy", default="meshproxy", choices=["meshproxy", "envoy", "mixed"],
                        help="the data plane: meshproxy (the default), stock Envoy, or mixed (every hop between the two)")
    parser.add_argument("--only", choices=["up"], help="run only `meshctl up samples/hello-mesh` (a quick check while developing)")
    args = parser.parse_args()
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    print(f"data plane: {args.proxy}")
    if args.proxy == "mixed":
        # MeshRun alternates in plan order, the gateway first.
        print("  gateway: Envoy → productpage: meshproxy → details: Envoy, reviews v1: meshproxy, v2: Envoy, v3: meshproxy"
              " → ratings: Envoy (Envoy → meshproxy, meshproxy → Envoy, meshproxy → meshproxy, Envoy → Envoy; all STRICT mTLS)")
    ok = (args.only == "up" or run(args)) and run_up(args)
    print(f"e2e demo ({args.proxy}): PASS" if ok else f"e2e demo ({args.proxy}): FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
