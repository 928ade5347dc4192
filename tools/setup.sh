#!/usr/bin/env bash
# Installs the Debian 12 packages that Escrow Ledger builds against.
# Safe to run twice: apt-get skips packages that are already installed.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  librocksdb-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libboost-program-options1.81-dev
  libssl-dev libcereal-dev libspdlog-dev libfmt-dev catch2
  openssl
  # The web console's browser test drives Debian's Chromium.
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
else
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node.js and npm run the browser test. NOTE: playwright-core 1.65 declares
# Node >= 20, newer than Debian 12's nodejs 18; a machine with only Debian's
# nodejs gets it here, and npm ci then warns about the engine.
if ! command -v npm >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "setup: installing nodejs npm"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
fi

# playwright-core at the version in the committed lockfile. It never downloads
# a browser: the test launches /usr/bin/chromium.
browser_dir="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
locked_version() {
  node -e 'const lock = require(process.argv[1]);
           console.log(lock.packages["node_modules/playwright-core"]?.version ?? "none")' "$1"
}
installed="none"
if [ -f "$browser_dir/node_modules/.package-lock.json" ]; then
  installed="$(locked_version "$browser_dir/node_modules/.package-lock.json")"
fi
if [ "$installed" != "$(locked_version "$browser_dir/package-lock.json")" ]; then
  echo "setup: installing playwright-core in tests/browser (npm ci)"
  (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
