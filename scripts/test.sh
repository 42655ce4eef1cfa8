#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test.
# SWIFTMESH_SCRATCH_PATH (optional) puts SwiftPM's build folder outside the clone, so repeated
# runs on one machine reuse it (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scratch=(); [[ -n "${SWIFTMESH_SCRATCH_PATH:-}" ]] && scratch=(--scratch-path "$SWIFTMESH_SCRATCH_PATH")
swift build --build-tests "${scratch[@]}"
swift test --skip-build "${scratch[@]}"
# Conformance: every scenario against a real Envoy driven by meshd, over GRPC and DELTA_GRPC.
bin="$(swift build "${scratch[@]}" --show-bin-path)"
.build-tools/venv/bin/python conformance/run.py --bin-dir "$bin" --jobs 4
