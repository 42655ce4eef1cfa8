#!/usr/bin/env python3
"""One proxy hop, measured side by side in one run: a client -> proxy -> nginx on loopback for
(a) a direct connection to nginx, (b) stock Envoy driven by meshd, (c) meshproxy driven by the
same meshd, both as a sidecar's outbound listener with the same routing table (a VirtualService
with header and prefix matches in front of the catch-all route, Istio's default retries).

Per round, interleaved (direct, Envoy, meshproxy, ...):
- throughput: wrk -t1 -c64 for --seconds (closed loop);
- latency: h2load --h1 -c4 at a fixed rate below saturation (--rps per connection), p50/p99;
- HTTP/2 throughput (proxies only): h2load -c16 -m10, h2c with prior knowledge to the proxy,
  HTTP/1.1 from the proxy to nginx;
- CPU per request: the proxy's utime+stime over the wrk run / requests served;
- instructions and cycles per request over the same run (`perf stat`, when the VM exposes counters);
- RSS idle (after config arrived) and after load; per-worker open connections mid-run.

Usage: bench/proxy/run.py --bin-dir .build/debug --meshproxy .build/release/meshproxy
       [--seconds 8] [--rounds 3] [--concurrency 2] [--json bench/results/proxy.json] [--perf perf.data] [--access-log] [--istio-metrics on|off]
Installs nginx, wrk and h2load (nghttp2-client) from Debian when missing. Never asserts a
threshold: it prints the raw figures, the medians and the ratios.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
from testing.processes import ProcessGroup  # noqa: E402

SUBNET = "127.13"
NGINX = f"{SUBNET}.1.1"
ENVOY_NODE, ENVOY_EGRESS = f"{SUBNET}.0.1", f"{SUBNET}.0.2"
MESHPROXY_NODE, MESHPROXY_EGRESS = f"{SUBNET}.0.3", f"{SUBNET}.0.4"
XDS_PORT, DEBUG_PORT = 15310, 15311
BODY = "x" * 1024

NGINX_CONF = """worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000;
  keepalive_timeout 300s;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
    listen {address}:8080;
    location / {{ default_type text/plain; return 200 "{body}"; }}
  }}
}}
"""


ACCESS_LOGGING = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
"""

# Istio's standard metrics are on by default (meshproxy records them; Envoy cannot); this turns
# them off for the on/off comparison.
NO_ISTIO_METRICS = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-metrics, namespace: istio-system}
spec:
  metrics: [{providers: [{name: prometheus}], overrides: [{disabled: true}]}]
"""


def mesh_config(access_log=False, istio_metrics=True):
    docs = ([ACCESS_LOGGING] if access_log else []) + ([] if istio_metrics else [NO_ISTIO_METRICS]) + [f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: web, namespace: default}}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: web}}}}
""", f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: web, namespace: default}}
spec: {{address: {NGINX}, labels: {{app: web, version: v1}}, ports: {{http: 8080}}}}
""", """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}]
""", """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: web, subset: v1}}]
  - match: [{uri: {prefix: /api/v2}}]
    route: [{destination: {host: web, subset: v1}}]
  - route: [{destination: {host: web}}]
"""]
    for name, node, egress in (("envoy", ENVOY_NODE, ENVOY_EGRESS), ("meshproxy", MESHPROXY_NODE, MESHPROXY_EGRESS)):
        docs += client_sidecar(name, node, egress)
    return "---\n".join(docs)


def client_sidecar(name, node, egress, hosts="./*", service_account=None):
    """The measured client's WorkloadEntry and Sidecar: one HTTP egress listener on port 9080 at `egress`
    for `hosts` (one pattern or a list)."""
    account = f"serviceAccount: {service_account}, " if service_account else ""
    hosts = ", ".join(f'"{host}"' for host in ([hosts] if isinstance(hosts, str) else hosts))
    return [f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: client-{name}, namespace: default}}
spec: {{address: {node}, {account}labels: {{app: client-{name}}}}}
""", f"""apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: client-{name}, namespace: default}}
spec:
  workloadSelector: {{labels: {{app: client-{name}}}}}
  egress: [{{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {egress}, captureMode: NONE, hosts: [{hosts}]}}]
"""]


class Processes(ProcessGroup):
    """What a benchmark starts (testing/processes.py), in a work folder of its own that `stop`
    removes."""
    def __init__(self, prefix):
        super().__init__(tempfile.mkdtemp(prefix=prefix))

    def stop(self):
        super().stop()
        shutil.rmtree(self.work, ignore_errors=True)


def save(path, result):
    """The run's figures as JSON at `path` (when given)."""
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {path}")


def ensure_tools():
    missing = [pkg for tool, pkg in (("nginx", "nginx"), ("wrk", "wrk"), ("h2load", "nghttp2-client")) if not shutil.which(tool)]
    if missing:
        print(f"installing {' '.join(missing)}")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq"] + missing, check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def wait(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def rss_mb(pid):
    return memory_mb(pid)["rss"]


def memory_mb(pid):
    """Resident memory and its parts: anonymous (heap, stacks: this process's own) and
    file-backed (the executable's and shared libraries' pages, mapped 64 KB around each
    touched page by the kernel's fault-around, and shared with other processes)."""
    parts = {"rss": 0.0, "anon": 0.0, "file": 0.0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            for key, field in (("rss", "VmRSS:"), ("anon", "RssAnon:"), ("file", "RssFile:")):
                if line.startswith(field):
                    parts[key] = int(line.split()[1]) / 1024
    return parts


def rss_by_mapping(pid, top=8):
    """Resident MB per mapped file (anonymous mappings as one entry), largest first: where a
    proxy's memory is, to see what a change would save."""
    totals = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                name = os.path.basename(fields[5]) if len(fields) > 5 and fields[5].startswith("/") else "[anonymous]"
            elif fields[0] == "Rss:":
                totals[name] = totals.get(name, 0.0) + int(fields[1]) / 1024
    return dict(sorted(((k, round(v, 1)) for k, v in totals.items()), key=lambda kv: -kv[1])[:top])


class WorkCounter:
    """Counts a process's retired instructions and CPU cycles (user and kernel) over a load run
    with `perf stat`. Per request they are the proxy's work without the machine's phases: on
    these shared 2-core VMs the time a request costs swings by 40% between runs (both proxies,
    minutes apart), while the instructions it takes do not. None when perf or the VM's
    counters are missing."""

    def __init__(self, pid, seconds, work):
        self.output = os.path.join(work, f"perf-stat-{pid}.csv")
        self.process = None
        if shutil.which("perf"):
            self.process = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "instructions:u,instructions:k,cycles", "-o", self.output, "-p", str(pid),
                                             "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def per_request(self, requests):
        """Instructions (all, and in user space alone) and cycles per request; {} without counters."""
        if not self.process or not requests:
            return {}
        self.process.wait()
        counts = {}
        with open(self.output) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 2 and fields[0].isdigit():
                    counts[fields[2]] = int(fields[0])
        if not all(key in counts for key in ("instructions:u", "instructions:k", "cycles")):
            return {}
        return {"instructions_per_request": (counts["instructions:u"] + counts["instructions:k"]) / requests,
                "user_instructions_per_request": counts["instructions:u"] / requests,
                "cycles_per_request": counts["cycles"] / requests}


def wrk(url, seconds, host="web"):
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", "-H", f"Host: {host}", url], capture_output=True, text=True).stdout
    requests = next(int(line.split()[0]) for line in out.splitlines() if "requests in" in line)
    rps = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec"))
    errors = sum(int(part.split()[-1]) for line in out.splitlines() if "Non-2xx" in line for part in [line])
    return rps, requests, errors


def h2load(url, rps, seconds, work):
    log = os.path.join(work, "h2load.log")
    if os.path.exists(log):
        os.remove(log)  # h2load appends
    subprocess.run(["h2load", "--h1", "-c4", "--rps", str(rps), "-D", str(seconds), "-H", ":authority: web", "--log-file", log, url],
                   capture_output=True, text=True, check=True)
    with open(log) as f:
        times = sorted(int(line.split()[2]) for line in f if line.strip())
    return times[len(times) // 2], times[int(len(times) * 0.99)], len(times)


def h2load_throughput(url, seconds):
    """HTTP/2 (h2c, prior knowledge) throughput: 16 connections, 10 streams each, closed loop."""
    out = subprocess.run(["h2load", "-c16", "-m10", "-D", str(seconds), "-H", ":authority: web", url],
                         capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("finished in"))
    succeeded = next(int(line.split("succeeded,")[0].split()[-1]) for line in out.splitlines() if line.startswith("requests:"))
    return float(line.split(",")[1].split()[0]), succeeded


def report(median, ratios, title):
    """Prints each path's medians and the ratios (`title` says what they compare)."""
    print("\nmedians:")
    for name, m in median.items():
        print(f"  {name:9} " + "  ".join(f"{k} {v:.1f}" for k, v in m.items()))
    print(f"ratios ({title}):")
    for key, value in ratios.items():
        print(f"  {key}: {value:.2f}")


def start_client_proxy(start, args, work, name, node, xds_port, base_id):
    """The measured client sidecar `client-<name>` (Envoy or meshproxy) at `node`, from the
    bootstrap `meshctl proxy-bootstrap` prints (delta ADS to meshd at `xds_port`), started with
    `start(name, argv)`; returns its process once its admin says LIVE."""
    bootstrap = subprocess.run([f"{args.bin_dir}/meshctl", "proxy-bootstrap", "--node-id",
                                f"sidecar~{node}~client-{name}.default~default.svc.cluster.local",
                                "--xds-address", f"127.0.0.1:{xds_port}", "--xds-protocol", "DELTA_GRPC"],
                               check=True, capture_output=True, text=True).stdout
    path = os.path.join(work, f"{name}.json")
    with open(path, "w") as f:
        f.write(bootstrap)
    if name == "envoy":
        argv = [args.envoy, "-c", path, "--concurrency", str(args.concurrency), "--disable-hot-restart",
                "--base-id", str(base_id), "-l", "warning"]
    else:
        argv = [args.meshproxy, "run", "--bootstrap", path, "--concurrency", str(args.concurrency)]
    process = start(name, argv)
    wait(f"{name} LIVE", lambda: get(f"http://{node}:15000/ready").strip() == "LIVE")
    return process


def proxy_arguments(description, seconds):
    """What every proxy benchmark is told: the binaries, and how long and how often to measure."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bin-dir", required=True, help="meshd, meshctl and meshproxy (its agent runs beside Envoy)")
    parser.add_argument("--meshproxy", required=True, help="a release build of meshproxy")
    parser.add_argument("--envoy", default=os.path.join(os.path.dirname(__file__), "../../.build-tools/venv/bin/envoy"))
    parser.add_argument("--seconds", type=int, default=seconds)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json")
    return parser


def main():
    parser = proxy_arguments(__doc__.splitlines()[0], seconds=8)
    parser.add_argument("--rps", type=int, default=500, help="per connection, 4 connections (h2load)")
    parser.add_argument("--perf", help="record meshproxy's first wrk run with `perf record` into this file")
    parser.add_argument("--perf-load", choices=["http1", "h2"], default="http1",
                        help="which of meshproxy's first-round loads --perf records: wrk's HTTP/1.1 or h2load's HTTP/2 throughput run")
    parser.add_argument("--istio-metrics", choices=["on", "off"], default="on",
                        help="Istio's standard metrics in meshproxy (on: Istio's default; off: a Telemetry resource disables them)")
    parser.add_argument("--access-log", action="store_true",
                        help="mesh-wide access logs (Istio's `envoy` provider: a line per request on each proxy's stdout, kept in a file)")
    parser.add_argument("--perf-call-graph", default="dwarf", help="perf's --call-graph: dwarf (Swift's runtime calls are leaves without frames) or fp")
    args = parser.parse_args()
    ensure_tools()
    processes = Processes("swiftmesh-bench-proxy-")
    work = processes.work

    def start(name, argv):
        print(f"started {name}: {' '.join(argv)}")
        return processes.start(name, argv)

    try:
        config = os.path.join(work, "config")
        os.makedirs(config)
        with open(os.path.join(config, "mesh.yaml"), "w") as f:
            f.write(mesh_config(args.access_log, args.istio_metrics == "on"))
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(work=work, address=NGINX, body=BODY))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(work, sub))
        start("nginx", ["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work])
        start("meshd", [f"{args.bin_dir}/meshd", "--config-dir", config, "--xds-address", f"127.0.0.1:{XDS_PORT}",
                        "--debug-address", f"127.0.0.1:{DEBUG_PORT}", "--ca-address", f"127.0.0.1:{XDS_PORT + 2}",
                        "--data-dir", os.path.join(work, "meshd-data")])
        wait("meshd", lambda: get(f"http://127.0.0.1:{DEBUG_PORT}/ready").startswith("ready"))
        proxies = {}
        for name, node in (("envoy", ENVOY_NODE), ("meshproxy", MESHPROXY_NODE)):
            proxies[name] = start_client_proxy(start, args, work, name, node, XDS_PORT, base_id=1900)
        targets = {"direct": f"http://{NGINX}:8080/", "envoy": f"http://{ENVOY_EGRESS}:9080/",
                   "meshproxy": f"http://{MESHPROXY_EGRESS}:9080/"}
        for name, url in targets.items():
            wait(f"{name} to answer", lambda u=url: urllib.request.urlopen(urllib.request.Request(u, headers={"Host": "web"}), timeout=2).status == 200)
        idle_memory = {name: memory_mb(p.pid) for name, p in proxies.items()}
        rows = {name: [] for name in targets}
        balance = {}
        for round_index in range(args.rounds):
            for name, url in targets.items():
                pid = proxies[name].pid if name in proxies else None
                before = cpu_ticks(pid) if pid else 0
                if name == "meshproxy" and round_index == 0:
                    # Open connections per worker, read halfway through a load run.
                    sampler = subprocess.Popen(["sh", "-c", f"sleep {args.seconds / 2}; curl -s http://{MESHPROXY_NODE}:15000/stats"],
                                               stdout=subprocess.PIPE, text=True)
                def profile(load):
                    if name != "meshproxy" or round_index != 0 or not args.perf or args.perf_load != load:
                        return None
                    return subprocess.Popen(["perf", "record", "--call-graph", args.perf_call_graph, "-F", "999", "-o", args.perf, "-p", str(pid), "--", "sleep", str(args.seconds)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                profiler = profile("http1")
                counter = WorkCounter(pid, args.seconds, work) if pid else None
                rps, requests, errors = wrk(url, args.seconds)
                if profiler:
                    profiler.wait()
                ticks = (cpu_ticks(pid) - before) if pid else 0
                work_counts = counter.per_request(requests) if counter else {}
                if name == "meshproxy" and round_index == 0:
                    stats = sampler.communicate()[0]
                    balance = {line.split(".")[1]: int(line.rsplit(" ", 1)[1]) for line in stats.splitlines()
                               if line.startswith("server.worker_") and ".downstream_cx_active" in line}
                p50, p99, samples = h2load(url, args.rps, args.seconds, work)
                # HTTP/2 from the client (the proxies' listeners take h2c; nginx here does not).
                profiler = profile("h2")
                h2_rps, h2_ok = h2load_throughput(url, args.seconds) if pid else (None, None)
                if profiler:
                    profiler.wait()
                row = {"rps": rps, "requests": requests, "non_2xx": errors, "p50_us": p50, "p99_us": p99, "latency_samples": samples,
                       "h2_rps": h2_rps, "h2_succeeded": h2_ok,
                       "cpu_us_per_request": (ticks * 1e6 / os.sysconf("SC_CLK_TCK") / requests) if pid and requests else None,
                       "rss_mb": rss_mb(pid) if pid else None, "memory_mb": memory_mb(pid) if pid else None, **work_counts}
                rows[name].append(row)
                print(f"round {round_index + 1} {name:9} {rps:10.0f} rps  p50 {p50} us  p99 {p99} us  "
                      + (f"cpu {row['cpu_us_per_request']:.1f} us/rq  rss {row['rss_mb']:.1f} MB  h2 {h2_rps:.0f} rps" if pid else "")
                      + (f"  {work_counts['instructions_per_request'] / 1000:.1f}k instr/rq ({work_counts['user_instructions_per_request'] / 1000:.1f}k user)"
                         f"  {work_counts['cycles_per_request'] / 1000:.1f}k cycles/rq" if work_counts else "")
                      + (f"  non-2xx {errors}" if errors else ""))
        median = {name: {key: statistics.median([r[key] for r in rs]) for key in ("rps", "p50_us", "p99_us")} for name, rs in rows.items()}
        for name in proxies:
            median[name]["cpu_us_per_request"] = statistics.median([r["cpu_us_per_request"] for r in rows[name]])
            for key in ("instructions_per_request", "user_instructions_per_request", "cycles_per_request"):
                if all(key in r for r in rows[name]):
                    median[name][key] = statistics.median([r[key] for r in rows[name]])
            median[name]["h2_rps"] = statistics.median([r["h2_rps"] for r in rows[name]])
            median[name]["rss_mb_loaded"] = max(r["rss_mb"] for r in rows[name])
            median[name]["rss_mb_idle"] = idle_memory[name]["rss"]
            median[name]["anon_mb_idle"] = idle_memory[name]["anon"]
            median[name]["anon_mb_loaded"] = max(r["memory_mb"]["anon"] for r in rows[name])
            median[name]["file_mb_loaded"] = max(r["memory_mb"]["file"] for r in rows[name])
        direct, envoy, mesh = median["direct"], median["envoy"], median["meshproxy"]
        added = lambda m, q: m[q] - direct[q]
        ratios = {
            "throughput_vs_envoy": mesh["rps"] / envoy["rps"],
            "throughput_vs_direct": mesh["rps"] / direct["rps"],
            "h2_throughput_vs_envoy": mesh["h2_rps"] / envoy["h2_rps"],
            "envoy_throughput_vs_direct": envoy["rps"] / direct["rps"],
            "added_p50_vs_envoy": added(mesh, "p50_us") / max(1, added(envoy, "p50_us")),
            "added_p99_vs_envoy": added(mesh, "p99_us") / max(1, added(envoy, "p99_us")),
            "cpu_per_request_vs_envoy": mesh["cpu_us_per_request"] / envoy["cpu_us_per_request"],
            **{f"{key}_vs_envoy": mesh[key] / envoy[key] for key in ("instructions_per_request", "user_instructions_per_request", "cycles_per_request")
               if key in mesh and key in envoy},
            "rss_loaded_vs_envoy": mesh["rss_mb_loaded"] / envoy["rss_mb_loaded"],
            "anon_loaded_vs_envoy": mesh["anon_mb_loaded"] / envoy["anon_mb_loaded"],
        }
        report(median, ratios, "meshproxy / Envoy; added latency = proxy path minus direct")
        print(f"meshproxy open connections per worker mid-run: {balance}")
        mappings = {name: rss_by_mapping(p.pid) for name, p in proxies.items()}
        for name, top in mappings.items():
            print(f"{name} resident MB by mapping after load: {top}")
        logged = {}
        if args.access_log:
            for name in proxies:
                with open(os.path.join(work, f"{name}.log"), errors="replace") as f:
                    logged[name] = sum(1 for line in f if line.startswith("[") and '" 200 ' in line)
            print(f"access-log lines written: {logged}")
        result = {"date": time.strftime("%Y-%m-%d"), "seconds": args.seconds, "rounds": args.rounds, "access_log": args.access_log, "istio_metrics": args.istio_metrics,
                  "access_log_lines": logged,
                  "concurrency": args.concurrency, "latency_rate_rps": args.rps * 4,
                  "envoy_version": subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout.strip(),
                  "raw": rows, "median": median, "ratios": ratios, "meshproxy_worker_connections": balance,
                  "rss_by_mapping": mappings}
        save(args.json, result)
    finally:
        processes.stop()


if __name__ == "__main__":
    main()
