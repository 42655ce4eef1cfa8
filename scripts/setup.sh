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

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
