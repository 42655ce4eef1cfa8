#!/usr/bin/env bash
# The main job: Istio's Bookinfo in an embedded mesh on this machine (meshd, a meshproxy sidecar
# per workload, an ingress gateway on http://127.0.0.1:8080/productpage; `--proxy envoy` for
# stock Envoy sidecars, `--proxy mixed` for both). Installs what it needs,
# builds, and runs `meshctl demo` until Ctrl-C. Arguments go to `meshctl demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scratch=(); [[ -n "${SWIFTMESH_SCRATCH_PATH:-}" ]] && scratch=(--scratch-path "$SWIFTMESH_SCRATCH_PATH")
for product in meshd meshproxy bookinfo meshctl; do swift build "${scratch[@]}" --product "$product"; done
bin="$(swift build "${scratch[@]}" --show-bin-path)"
echo "meshctl is $bin/meshctl (add $bin to PATH to type just meshctl)"
exec "$bin/meshctl" demo --envoy .build-tools/venv/bin/envoy "$@"
