#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs what is missing, builds once, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="/opt/swift/usr/bin:$PATH"
swift build --build-tests
swift test --skip-build "$@"
