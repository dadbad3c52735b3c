#!/usr/bin/env bash
# Installs the Debian bookworm packages GenFarm builds, tests and runs with.
# Idempotent: when every package is already installed it returns in about a second
# without touching apt's network.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev
  libtorch-dev
  libopenimageio-dev openimageio-tools
  prometheus-cpp-dev
  libsqlite3-dev sqlite3
  libpq-dev libpqxx-dev
  libyaml-cpp-dev nlohmann-json3-dev libcpp-httplib-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libssl-dev
  clang-14 libclang-rt-14-dev   # libFuzzer for tests/fuzz/run.sh
  python3 python3-grpcio python3-protobuf python3-torch python3-openimageio python3-yaml python3-numpy
  ffmpeg prometheus postgresql chromium chromium-driver python3-selenium fonts-dejavu-core
  python3-prometheus-client
  docker-compose   # tests/deploy: `docker-compose config` checks deploy/compose (no engine needed)

)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm fetches the model weights. This image ships its own Node.js; Debian's npm would
# conflict with it, so only install Debian's when there is none.
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
