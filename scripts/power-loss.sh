#!/usr/bin/env bash
# Cuts the power under random store workloads, ROUNDS times (default 1000), and checks that every
# acknowledged write survives (PowerLossTests; CI runs 24 rounds). Prints one summary line:
#   power loss: N rounds, N acknowledged changes, N rounds recovered a reordered tail, 0 lost
# Usage: scripts/power-loss.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
rounds="${1:-1000}"
swift build --build-tests
AFS_POWER_LOSS_ROUNDS="$rounds" swift test --skip-build --filter PowerLossTests 2>&1 | tee /tmp/afs-power-loss.log | grep -E "power loss:|✘|↳ seed|Test run"
