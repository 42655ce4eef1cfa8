#!/usr/bin/env python3
"""Two sidecars with mTLS between them, measured side by side in one run: client -> client
sidecar -> (mTLS) -> server sidecar -> nginx on loopback, for (a) a direct connection to nginx,
(b) two stock Envoys driven by meshd with `meshproxy agent` identities, (c) two meshproxies with
their identity agents inside, under mesh-wide STRICT PeerAuthentication (the sidecars' config is
meshd's, as in the demo: automatic mTLS, SPIFFE IDs checked, TLS 1.3).

Per round, interleaved: wrk -t1 -c64 for --seconds; CPU per request is both sidecars'
utime+stime over the run / requests. Each pair is measured twice: keep-alive between the
sidecars, and `-handshake` (one request per sidecar-to-sidecar connection, so every request is
a new mTLS handshake). Prints raw figures, medians and ratios; asserts nothing.

Usage: bench/proxy/mtls.py --bin-dir .build/debug --meshproxy .build/release/meshproxy
       [--seconds 6] [--rounds 3] [--concurrency 2] [--json bench/results/proxy-mtls.json]
"""
import os
import statistics
import subprocess
import time
import urllib.request

from run import NGINX_CONF, BODY, Processes, client_sidecar, cpu_ticks, proxy_arguments, report, save, ensure_tools, get, memory_mb, wait, wrk

SUBNET = "127.14"
NGINX = f"{SUBNET}.1.1"
APP_PORT = 18080  # nginx on 127.0.0.1 too: where server sidecars forward (the embedded contract)
XDS_PORT, DEBUG_PORT, CA_PORT = 15410, 15411, 15412
# kind -> (client node, client egress, server node)
NODES = {"envoy": (f"{SUBNET}.0.1", f"{SUBNET}.0.2", f"{SUBNET}.0.3"),
         "meshproxy": (f"{SUBNET}.0.4", f"{SUBNET}.0.5", f"{SUBNET}.0.6")}


def mesh_config():
    docs = ["""apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
"""]
    for kind, (client, egress, server) in NODES.items():
        # The workload under two names: the second's DestinationRule allows one request per
        # connection, so every request opens a connection between the sidecars and with STRICT
        # mTLS its rate is the pair's TLS 1.3 handshake rate (client certificate included).
        for name in (f"web-{kind}", f"web-{kind}-handshake"):
            docs.append(f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: [{name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: web-{kind}}}}}
""")
        docs.append(f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: web-{kind}, namespace: default}}
spec: {{address: {server}, serviceAccount: web, labels: {{app: web-{kind}, security.istio.io/tlsMode: istio}}, ports: {{http: {APP_PORT}}}}}
""")
        docs.append(f"""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: web-{kind}-handshake, namespace: default}}
spec:
  host: web-{kind}-handshake.default.svc.cluster.local
  trafficPolicy: {{connectionPool: {{http: {{maxRequestsPerConnection: 1}}}}}}
""")
        docs += client_sidecar(kind, client, egress, hosts=[f"./web-{kind}.default.svc.cluster.local",
                                                             f"./web-{kind}-handshake.default.svc.cluster.local"],
                               service_account="client")
    return "---\n".join(docs)


def main():
    args = proxy_arguments(__doc__.splitlines()[0], seconds=6).parse_args()
    ensure_tools()
    processes = Processes("swiftmesh-bench-mtls-")
    work, start = processes.work, processes.start

    try:
        config, data = os.path.join(work, "config"), os.path.join(work, "meshd-data")
        os.makedirs(config)
        with open(os.path.join(config, "mesh.yaml"), "w") as f:
            f.write(mesh_config())
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(work=work, address=NGINX, body=BODY).replace(
                f"listen {NGINX}:8080;", f"listen {NGINX}:8080; listen 127.0.0.1:{APP_PORT};"))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(work, sub))
        start("nginx", ["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work])
        start("meshd", [f"{args.bin_dir}/meshd", "--config-dir", config, "--xds-address", f"127.0.0.1:{XDS_PORT}",
                        "--debug-address", f"127.0.0.1:{DEBUG_PORT}", "--ca-address", f"127.0.0.1:{CA_PORT}", "--data-dir", data])
        wait("meshd", lambda: get(f"http://127.0.0.1:{DEBUG_PORT}/ready").startswith("ready"))
        pids = {}
        for kind, (client, _, server) in NODES.items():
            pids[kind] = []
            for role, node, account in (("web", server, "web"), ("client", client, "client")):
                name = f"{role}-{kind}"
                socket = os.path.join(work, f"{name}.sock")
                protocol = "DELTA_GRPC" if kind == "meshproxy" else "GRPC"
                bootstrap = subprocess.run([f"{args.bin_dir}/meshctl", "proxy-bootstrap", "--node-id",
                                            f"sidecar~{node}~{name}.default~default.svc.cluster.local",
                                            "--xds-address", f"127.0.0.1:{XDS_PORT}", "--xds-protocol", protocol,
                                            "--sds-socket", socket, "--service-account", account],
                                           check=True, capture_output=True, text=True).stdout
                path = os.path.join(work, f"{name}.json")
                with open(path, "w") as f:
                    f.write(bootstrap)
                identity = ["--ca-address", f"127.0.0.1:{CA_PORT}", "--ca-root", os.path.join(data, "root-cert.pem"),
                            "--token-file", os.path.join(data, "tokens", "default", name)]
                wait(f"{name}'s token", lambda: os.path.exists(identity[-1]))
                if kind == "envoy":
                    start(f"{name}-agent", [f"{args.bin_dir}/meshproxy", "agent", *identity, "--service-account", account,
                                            "--sds-socket", socket])
                    argv = [args.envoy, "-c", path, "--concurrency", str(args.concurrency), "--disable-hot-restart",
                            "--base-id", str(1950 + len(pids[kind]) + (0 if role == "web" else 2)), "-l", "warning"]
                else:
                    argv = [args.meshproxy, "run", "--bootstrap", path, "--concurrency", str(args.concurrency), *identity]
                pids[kind].append(start(name, argv).pid)
                wait(f"{name} LIVE", lambda n=node: get(f"http://{n}:15000/ready").strip() == "LIVE")
        targets = {"direct": (f"http://{NGINX}:8080/", "web")}
        for kind, (_, egress, _) in NODES.items():
            targets[kind] = (f"http://{egress}:9080/", f"web-{kind}")
        for kind, (_, egress, _) in NODES.items():
            targets[f"{kind}-handshake"] = (f"http://{egress}:9080/", f"web-{kind}-handshake")
        for name, (url, host) in targets.items():
            wait(f"{name} to answer", lambda u=url, h=host: urllib.request.urlopen(
                urllib.request.Request(u, headers={"Host": h}), timeout=2).status == 200)
        rows = {name: [] for name in targets}
        for round_index in range(args.rounds):
            for name, (url, host) in targets.items():
                sidecars = pids.get(name.removesuffix("-handshake"), [])
                before = sum(cpu_ticks(pid) for pid in sidecars)
                rps, requests, errors = wrk(url, args.seconds, host=host)
                ticks = sum(cpu_ticks(pid) for pid in sidecars) - before
                row = {"rps": rps, "requests": requests, "non_2xx": errors,
                       "cpu_us_per_request": ticks * 1e6 / os.sysconf("SC_CLK_TCK") / requests if sidecars and requests else None,
                       "rss_mb": sum(memory_mb(pid)["rss"] for pid in sidecars)}
                rows[name].append(row)
                print(f"round {round_index + 1} {name:9} {rps:10.0f} rps" + (
                    f"  cpu {row['cpu_us_per_request']:.1f} us/rq (both sidecars)  rss {row['rss_mb']:.1f} MB (both)" if sidecars else "")
                    + (f"  non-2xx {errors}" if errors else ""))
        # Whether Envoy's client sidecar resumed TLS sessions to the server sidecar (its upstream
        # clusters cache one session by default; meshproxy's TLS library offers no session API).
        client_node = NODES["envoy"][0]
        envoy_ssl = {}
        for line in get(f"http://{client_node}:15000/stats?filter=ssl").splitlines():
            name, _, value = line.partition(": ")
            if "web-envoy" in name and name.endswith(("ssl.handshake", "ssl.session_reused")):
                envoy_ssl[name] = int(value)
        print("envoy client sidecar TLS:", envoy_ssl)
        median = {name: {"rps": statistics.median(r["rps"] for r in rs)} for name, rs in rows.items()}
        for name in rows:
            if name != "direct":
                median[name]["cpu_us_per_request"] = statistics.median(r["cpu_us_per_request"] for r in rows[name])
                median[name]["rss_mb_loaded"] = max(r["rss_mb"] for r in rows[name])
        mesh, envoy, direct = median["meshproxy"], median["envoy"], median["direct"]
        ratios = {"mtls_throughput_vs_envoy": mesh["rps"] / envoy["rps"],
                  "mtls_throughput_vs_direct": mesh["rps"] / direct["rps"],
                  "envoy_mtls_throughput_vs_direct": envoy["rps"] / direct["rps"],
                  "mtls_cpu_per_request_vs_envoy": mesh["cpu_us_per_request"] / envoy["cpu_us_per_request"],
                  "mtls_rss_loaded_vs_envoy": mesh["rss_mb_loaded"] / envoy["rss_mb_loaded"],
                  "handshakes_vs_envoy": median["meshproxy-handshake"]["rps"] / median["envoy-handshake"]["rps"],
                  "handshake_cpu_per_request_vs_envoy": median["meshproxy-handshake"]["cpu_us_per_request"]
                  / median["envoy-handshake"]["cpu_us_per_request"]}
        report(median, ratios, "meshproxy pair / Envoy pair")
        save(args.json, {"date": time.strftime("%Y-%m-%d"), "seconds": args.seconds, "rounds": args.rounds,
                         "concurrency": args.concurrency, "raw": rows, "median": median, "ratios": ratios,
                         "envoy_client_ssl": envoy_ssl})
    finally:
        processes.stop()


if __name__ == "__main__":
    main()
