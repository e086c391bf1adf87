#!/usr/bin/env bash
# The main job: builds `aether` and runs its demo on an embedded store in ./aether-data.
# Extra arguments go to `aether demo` (e.g. --from-dir ~/src/project).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh"
export PATH="/opt/swift/usr/bin:$PATH"
swift build --package-path "$root" --product aether >&2
exec "$root/.build/debug/aether" demo --store "${AFS_STORE:-$PWD/aether-data}" "$@"
