#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test.
# SWIFTMESH_SCRATCH_PATH (optional) puts SwiftPM's build folder outside the clone, so repeated
# runs on one machine reuse it (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scratch=(); [[ -n "${SWIFTMESH_SCRATCH_PATH:-}" ]] && scratch=(--scratch-path "$SWIFTMESH_SCRATCH_PATH")
swift build --build-tests "${scratch[@]}"
scripts/check-proxy-imports.py
swift test --skip-build "${scratch[@]}"
bin="$(swift build "${scratch[@]}" --show-bin-path)"
# End to end: `meshctl demo` through Istio's Bookinfo tasks (its own subnet 127.11 and ports), in
# parallel with the conformance scenarios (127.30+ and ports 16000+): on meshproxy (the demo's
# default), then mixed (Envoy and meshproxy alternating: mTLS interop on every kind of hop); then
# iptables capture (REDIRECT mode) on Envoy and on meshproxy, in network namespaces of its own.
{ e2e=0
  .build-tools/venv/bin/python e2e/demo_test.py --bin-dir "$bin" --proxy meshproxy \
    && .build-tools/venv/bin/python e2e/demo_test.py --bin-dir "$bin" --proxy mixed || e2e=1
  .build-tools/venv/bin/python e2e/capture_test.py --bin-dir "$bin" || e2e=1
  exit $e2e; } > .build-tools/e2e-demo.log 2>&1 &
e2e=$!
# Conformance: every scenario against a real Envoy driven by meshd, over GRPC and DELTA_GRPC,
# then the same scenarios against meshproxy over both (differential: a scenario that passes on Envoy and
# fails on meshproxy is a meshproxy bug). They share addresses, so one after the other.
conformance=0
.build-tools/venv/bin/python conformance/run.py --bin-dir "$bin" --jobs 4 || conformance=$?
.build-tools/venv/bin/python conformance/run.py --bin-dir "$bin" --jobs 4 --data-plane meshproxy || conformance=$?
demo=0
wait "$e2e" || demo=$?
cat .build-tools/e2e-demo.log
if [[ $conformance -ne 0 || $demo -ne 0 ]]; then
  echo "FAILED: conformance exit $conformance, e2e demo exit $demo" >&2
  exit 1
fi
