#!/usr/bin/env python3
"""mTLS cost on stock Envoy driven by meshd: requests per second through the ingress gateway to
a workload's sidecar, with that hop in mutual TLS (PeerAuthentication STRICT, certificates from
our agent) against the same hop in plaintext (DISABLE), in one run, rounds interleaved:

- keep-alive: the gateway reuses its connections to the sidecar (steady-state mTLS throughput);
- new connection per request (DestinationRule maxRequestsPerConnection: 1): every request is a
  new TCP connection, and with mTLS a new handshake (handshakes per second).

Usage: bench/mtls/run.py --bin-dir .build/release [--seconds 8] [--rounds 2] [--json FILE]
wrk comes from Debian; the script installs it when missing.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

SUBNET, GATEWAY, XDS_PORT = "127.12", "127.12.0.1", 15210

MESH = """workloads:
- name: hello-v1
  service: hello
  labels: {version: v1}
  command: [echo-server, --listen, "127.0.0.1:{port}", --name, hello-v1]
"""

ROUTING = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: hello, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hello, namespace: default}
spec:
  hosts: ["*"]
  gateways: [hello]
  http: [{route: [{destination: {host: hello}}], retries: {attempts: 0}}]
"""


def policy(mode):
    return ("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\n"
            f"spec: {{mtls: {{mode: {mode}}}}}\n")


def pool(per_connection):
    # 0 is Istio's "unlimited" (keep-alive); 1 makes every request a new connection.
    return ("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: hello, namespace: default}\n"
            f"spec: {{host: hello, trafficPolicy: {{connectionPool: {{http: {{maxRequestsPerConnection: {per_connection or 0}}}}}}}}}\n")


def wrk(seconds):
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", f"http://{GATEWAY}:8080/"], capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, int(errors.group(1)) if errors else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--envoy", default=".build-tools/venv/bin/envoy")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    os.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if not shutil.which("wrk"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    work = tempfile.mkdtemp(prefix="swiftmesh-bench-mtls-")
    config = os.path.join(work, "mesh")
    os.makedirs(config)
    with open(os.path.join(config, "mesh.yaml"), "w") as f:
        f.write(MESH)
    with open(os.path.join(config, "routing.yaml"), "w") as f:
        f.write(ROUTING)
    meshctl = os.path.join(args.bin_dir, "meshctl")
    run_dir = os.path.join(work, "run")
    process = subprocess.Popen([meshctl, "up", config, "--run-dir", run_dir, "--subnet", SUBNET, "--xds-port", str(XDS_PORT),
                                "--gateway-address", GATEWAY, "--envoy", args.envoy],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for line in process.stdout:
            if "The mesh is up" in line:
                break
        else:
            raise SystemExit("meshctl up failed")

        def apply(name, text):
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(text)
            subprocess.run([meshctl, "apply", "-f", path, "--run-dir", run_dir], check=True, capture_output=True)

        results = {}
        for round_index in range(args.rounds):
            for connections in ("keep-alive", "new connection per request"):
                for mode in ("DISABLE", "STRICT"):
                    apply("pool.yaml", pool(1 if connections != "keep-alive" else None))
                    apply("policy.yaml", policy(mode))
                    time.sleep(2)
                    wrk(1)  # warm-up: connections and certificates in place
                    rate, errors = wrk(args.seconds)
                    results.setdefault((connections, mode), []).append((rate, errors))
                    print(f"round {round_index + 1}: {connections:28} {mode:8} {rate:9.0f} req/s ({errors} non-2xx)")
        table = []
        for connections in ("keep-alive", "new connection per request"):
            plain = statistics.median(r for r, _ in results[(connections, "DISABLE")])
            mtls = statistics.median(r for r, _ in results[(connections, "STRICT")])
            table.append({"connections": connections, "plaintext": plain, "mtls": mtls, "ratio": mtls / plain})
            print(f"{connections:28}: plaintext {plain:8.0f} req/s, mTLS {mtls:8.0f} req/s, mTLS/plaintext {mtls / plain:.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"date": time.strftime("%Y-%m-%d"), "seconds": args.seconds, "rounds": args.rounds, "results": table}, f, indent=2)
    finally:
        subprocess.run([meshctl, "down", "--run-dir", run_dir], capture_output=True)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
