#!/usr/bin/env bash
# The main job: builds and starts afs-server on loopback (HTTP 127.0.0.1:8787, gRPC 127.0.0.1:8788) with its data (store, tokens, admin.token)
# in ./aether-data. Extra arguments go to afs-server (e.g. --http 127.0.0.1:9000).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh"
export PATH="/opt/swift/usr/bin:$PATH"
swift build --package-path "$root" --product afs-server >&2
exec "$root/.build/debug/afs-server" --data "${AFS_DATA:-$PWD/aether-data}" "$@"
