#!/usr/bin/env bash
# Validation benchmark: 10,000 generated resources, release build, beside a bare YAML parse.
# Usage: bench/validate.sh [--resources N] [--rounds N] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scratch=(); [[ -n "${SWIFTMESH_SCRATCH_PATH:-}" ]] && scratch=(--scratch-path "$SWIFTMESH_SCRATCH_PATH")
swift build -c release "${scratch[@]}" --product ValidateBench >/dev/null
bin="$(swift build -c release "${scratch[@]}" --show-bin-path)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(swift --version 2>&1 | head -1)"
"$bin/ValidateBench" "$@"
