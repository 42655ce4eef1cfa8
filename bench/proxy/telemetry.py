#!/usr/bin/env python3
"""What telemetry costs one proxy hop, measured with it on and off in the same run, for meshproxy
beside stock Envoy: client -> proxy -> nginx on loopback, the one-hop setup of run.py (same
routing table, one meshd driving both proxies).

- off: a mesh-wide Telemetry resource disables Istio's standard metrics; no access log, no
  tracing. Envoy keeps its native stats (they cannot be turned off, and are what stands in for
  `istio_*` metrics on a stock Envoy).
- on: the same Telemetry resource with Istio's defaults for metrics (meshproxy records every
  `istio_*` series), access logs through Istio's `envoy` provider (a line per request on each
  proxy's stdout, kept in a file), and tracing to a Zipkin collector (e2e/trace_collector.py,
  checking every span against Zipkin's v2 schema) at --sampling percent (Istio's default: 1).

The state is switched by rewriting the Telemetry file meshd watches; each proxy's /config_dump is
read until it has (or no longer has) the tracer before a state is measured. Per round: direct,
then for each state (order alternating between rounds) Envoy and meshproxy: wrk -t1 -c64
throughput and the proxy's CPU per request, h2load --h1 -c4 at a fixed rate for p50/p99. Prints
raw figures, medians, each proxy's on/off ratios and the costs side by side; asserts nothing.

Usage: bench/proxy/telemetry.py --bin-dir .build/debug --meshproxy .build/release/meshproxy
       [--seconds 6] [--rounds 3] [--sampling 1] [--json bench/results/proxy-telemetry.json] [--perf perf.data]
"""
import os
import statistics
import subprocess
import sys
import time
import urllib.request

from run import (ENVOY_EGRESS, ENVOY_NODE, MESHPROXY_EGRESS, MESHPROXY_NODE, NGINX, NGINX_CONF, BODY, Processes,
                 cpu_ticks, ensure_tools, get, h2load, memory_mb, mesh_config, proxy_arguments, save, start_client_proxy, wait, wrk)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../e2e"))
from trace_collector import TraceCollector  # noqa: E402

XDS_PORT, DEBUG_PORT = 15320, 15321
ZIPKIN_PORT = 9411

MESH_CONFIG = """extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.tracing.local, port: 9411}
"""

COLLECTOR = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: trace-collector, namespace: istio-system}}
spec:
  hosts: [zipkin.tracing.local]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: {port}, name: http-zipkin, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http-zipkin: {collector_port}}}}}]
"""

TELEMETRY = {
    "off": """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: mesh-default, namespace: istio-system}}
spec:
  metrics: [{{providers: [{{name: prometheus}}], overrides: [{{disabled: true}}]}}]
""",
    "on": """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: mesh-default, namespace: istio-system}}
spec:
  metrics: [{{providers: [{{name: prometheus}}]}}]
  accessLogging: [{{providers: [{{name: envoy}}]}}]
  tracing: [{{providers: [{{name: zipkin}}], randomSamplingPercentage: {sampling}}}]
""",
}

PROXIES = {"envoy": (ENVOY_NODE, ENVOY_EGRESS), "meshproxy": (MESHPROXY_NODE, MESHPROXY_EGRESS)}


def traced(node):
    """Whether the proxy at `node` has the tracer in its listeners' config now (its collector
    path: Envoy's dump also lists every extension it has, the Zipkin tracer's name included)."""
    return "/api/v2/spans" in get(f"http://{node}:15000/config_dump", timeout=5)


def switch(config, state, sampling):
    """Rewrites the Telemetry file and waits until both proxies run the new state."""
    with open(os.path.join(config, "telemetry.yaml"), "w") as f:
        f.write(TELEMETRY[state].format(sampling=sampling))
    for name, (node, _) in PROXIES.items():
        try:
            wait(f"{name} to take telemetry {state}", lambda n=node: traced(n) == (state == "on"), timeout=30)
        except SystemExit:
            with open(os.path.join(os.path.dirname(config), f"{name}.log"), errors="replace") as f:
                print(f"{name}'s log ends:\n" + "".join(f.readlines()[-15:]))
            raise
    time.sleep(0.5)  # RDS/LDS settle on both workers


def logged_lines(path):
    with open(path, errors="replace") as f:
        return sum(1 for line in f if line.startswith("[") and '" 200 ' in line)


def main():
    parser = proxy_arguments(__doc__.splitlines()[0], seconds=6)
    parser.add_argument("--rps", type=int, default=500, help="per connection, 4 connections (h2load)")
    parser.add_argument("--perf", help="record meshproxy's first wrk run in --perf-state with `perf record` into this file")
    parser.add_argument("--perf-state", choices=["on", "off"], default="on")
    parser.add_argument("--sampling", type=float, default=1.0, help="tracing's randomSamplingPercentage when on (Istio's default: 1)")
    args = parser.parse_args()
    ensure_tools()
    processes = Processes("swiftmesh-bench-telemetry-")
    work = processes.work
    collector = TraceCollector(port=0).start()
    collector_port = int(collector.address.rsplit(":", 1)[1])

    try:
        config = os.path.join(work, "config")
        os.makedirs(config)
        with open(os.path.join(config, "mesh.yaml"), "w") as f:
            f.write(mesh_config(access_log=False, istio_metrics=True) + "---\n" + COLLECTOR.format(port=ZIPKIN_PORT, collector_port=collector_port))
        with open(os.path.join(config, "telemetry.yaml"), "w") as f:
            f.write(TELEMETRY["off"].format(sampling=args.sampling))
        mesh_config_file = os.path.join(work, "meshconfig.yaml")
        with open(mesh_config_file, "w") as f:
            f.write(MESH_CONFIG)
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(work=work, address=NGINX, body=BODY))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(work, sub))
        processes.start("nginx", ["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work])
        processes.start("meshd", [f"{args.bin_dir}/meshd", "--config-dir", config, "--mesh-config", mesh_config_file,
                                  "--xds-address", f"127.0.0.1:{XDS_PORT}", "--debug-address", f"127.0.0.1:{DEBUG_PORT}",
                                  "--ca-address", f"127.0.0.1:{XDS_PORT + 2}", "--data-dir", os.path.join(work, "meshd-data")])
        wait("meshd", lambda: get(f"http://127.0.0.1:{DEBUG_PORT}/ready").startswith("ready"))
        pids = {}
        for name, (node, egress) in PROXIES.items():
            pids[name] = start_client_proxy(processes.start, args, work, name, node, XDS_PORT, base_id=1901).pid
            wait(f"{name} to answer", lambda e=egress: urllib.request.urlopen(
                urllib.request.Request(f"http://{e}:9080/", headers={"Host": "web"}), timeout=2).status == 200)

        rows = {"direct": []} | {f"{name} {state}": [] for name in PROXIES for state in ("off", "on")}
        spans_before = {}
        for round_index in range(args.rounds):
            p50, p99, _ = h2load(f"http://{NGINX}:8080/", args.rps, args.seconds, work)
            rps, requests, _ = wrk(f"http://{NGINX}:8080/", args.seconds)
            rows["direct"].append({"rps": rps, "p50_us": p50, "p99_us": p99})
            print(f"round {round_index + 1} direct          {rps:10.0f} rps  p50 {p50} us  p99 {p99} us")
            # Alternate the order so neither state always runs first after a config change.
            for state in (("off", "on") if round_index % 2 == 0 else ("on", "off")):
                switch(config, state, args.sampling)
                for name, (node, egress) in PROXIES.items():
                    url = f"http://{egress}:9080/"
                    before = cpu_ticks(pids[name])
                    spans_before[name] = len([s for s in collector.spans if s["service"] == f"client-{name}.default"])
                    profiler = None
                    if args.perf and name == "meshproxy" and state == args.perf_state and round_index == 0:
                        profiler = subprocess.Popen(["perf", "record", "--call-graph", "dwarf", "-F", "999", "-o", args.perf, "-p", str(pids[name]),
                                                     "--", "sleep", str(args.seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    rps, requests, errors = wrk(url, args.seconds)
                    if profiler:
                        profiler.wait()
                    ticks = cpu_ticks(pids[name]) - before
                    p50, p99, _ = h2load(url, args.rps, args.seconds, work)
                    row = {"rps": rps, "requests": requests, "non_2xx": errors, "p50_us": p50, "p99_us": p99,
                           "cpu_us_per_request": ticks * 1e6 / os.sysconf("SC_CLK_TCK") / requests,
                           "rss_mb": memory_mb(pids[name])["rss"]}
                    if state == "on":
                        time.sleep(1.5)  # the tracer's last batch
                        with collector.lock:
                            row["spans"] = len([s for s in collector.spans if s["service"] == f"client-{name}.default"]) - spans_before[name]
                    rows[f"{name} {state}"].append(row)
                    print(f"round {round_index + 1} {name:9} {state:3}  {rps:10.0f} rps  p50 {p50} us  p99 {p99} us  "
                          f"cpu {row['cpu_us_per_request']:.1f} us/rq  rss {row['rss_mb']:.1f} MB"
                          + (f"  spans {row['spans']}" if "spans" in row else "") + (f"  non-2xx {errors}" if errors else ""))

        median = {key: {field: statistics.median(r[field] for r in rs) for field in rs[0] if field in ("rps", "p50_us", "p99_us", "cpu_us_per_request", "rss_mb", "spans")}
                  for key, rs in rows.items()}
        direct = median["direct"]
        cost = {}
        for name in PROXIES:
            off, on = median[f"{name} off"], median[f"{name} on"]
            cost[name] = {
                "throughput_on_vs_off": on["rps"] / off["rps"],
                "cpu_us_per_request_added": on["cpu_us_per_request"] - off["cpu_us_per_request"],
                "added_p50_us_off": off["p50_us"] - direct["p50_us"], "added_p50_us_on": on["p50_us"] - direct["p50_us"],
                "added_p99_us_off": off["p99_us"] - direct["p99_us"], "added_p99_us_on": on["p99_us"] - direct["p99_us"],
            }
        print("\nmedians:")
        for key, m in median.items():
            print(f"  {key:14} " + "  ".join(f"{k} {v:.1f}" for k, v in m.items()))
        print("cost of telemetry (on vs off):")
        for name, c in cost.items():
            print(f"  {name:9} throughput {c['throughput_on_vs_off']:.2f}x  cpu +{c['cpu_us_per_request_added']:.1f} us/rq  "
                  f"added p50 {c['added_p50_us_off']:.0f} -> {c['added_p50_us_on']:.0f} us  added p99 {c['added_p99_us_off']:.0f} -> {c['added_p99_us_on']:.0f} us")
        ratios = {
            "throughput_on_vs_envoy_on": median["meshproxy on"]["rps"] / median["envoy on"]["rps"],
            "cpu_per_request_on_vs_envoy_on": median["meshproxy on"]["cpu_us_per_request"] / median["envoy on"]["cpu_us_per_request"],
            "added_p99_on_vs_envoy_on": cost["meshproxy"]["added_p99_us_on"] / max(1, cost["envoy"]["added_p99_us_on"]),
        }
        print("meshproxy / Envoy, both with telemetry on: " + "  ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
        logged = {name: logged_lines(os.path.join(work, f"{name}.log")) for name in PROXIES}
        print(f"access-log lines written: {logged}; spans received: {collector.summary('zipkin')}; schema problems: {len(collector.problems)}")
        for problem in collector.problems[:5]:
            print(f"  {problem}")
        save(args.json, {"date": time.strftime("%Y-%m-%d"), "seconds": args.seconds, "rounds": args.rounds, "concurrency": args.concurrency,
                         "sampling_percent": args.sampling, "latency_rate_rps": args.rps * 4,
                         "envoy_version": subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout.strip(),
                         "raw": rows, "median": median, "cost": cost, "ratios": ratios, "access_log_lines": logged,
                         "spans_received": collector.summary("zipkin"), "span_problems": collector.problems[:20]})
    finally:
        processes.stop()
        collector.stop()


if __name__ == "__main__":
    main()
