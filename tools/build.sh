#!/usr/bin/env bash
# Installs the packages (tools/setup.sh) and builds everything into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE="${ESCROW_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j"${ESCROW_JOBS:-2}"
