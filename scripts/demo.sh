#!/usr/bin/env bash
# The main job, for now: build meshctl and validate the Bookinfo configuration that Istio's
# tasks use, then show what validation reports for a broken file. (The demo mesh itself, with
# `meshctl demo`, comes with the embedded-mesh issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scratch=(); [[ -n "${SWIFTMESH_SCRATCH_PATH:-}" ]] && scratch=(--scratch-path "$SWIFTMESH_SCRATCH_PATH")
swift build "${scratch[@]}" --product meshctl >/dev/null
meshctl="$(swift build "${scratch[@]}" --show-bin-path)/meshctl"

echo "== Bookinfo: each file is one step of Istio's tasks, applied on its own =="
for file in samples/bookinfo/*/*.yaml; do
  printf '%-70s ' "$file"
  summary="$("$meshctl" validate -f "$file")" || true  # an invalid file still gets its line
  echo "${summary##*$'\n'}"
done
echo
echo "== A broken VirtualService: every problem, with file:line:col, resource and field =="
"$meshctl" validate -f samples/broken/reviews-typos.yaml || true
echo
echo "Next: $meshctl validate -f <your Istio YAML> [-o json]"
