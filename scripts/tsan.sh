#!/usr/bin/env bash
# Runs the concurrency-heavy suites under ThreadSanitizer: the engine (sessions, folding, GC while
# writers run, coordination), the server (concurrent writers over HTTP and gRPC, change streams) and
# the mount's pieces (write-back queue, metadata cache, the control socket).
#
#   scripts/tsan.sh                 the default suites
#   scripts/tsan.sh --mount         every suite of AFSMountTests: the `aether mount` daemons they
#                                   start (and the afs-servers behind the remote and clustered
#                                   mounts, and git's aether-fsmonitor hook) are the TSan builds
#                                   from .build-tsan and inherit TSAN_OPTIONS. A race in the FUSE
#                                   workers, the kernel-cache invalidation, the changefeed follower
#                                   or the write-back ends the daemon with its report, which the
#                                   failing test prints (MountedSession.reportSanitizerFindings).
#   scripts/tsan.sh --filter REGEX  others (swift test's --filter)
#
# It builds into .build-tsan (a separate scratch path: an instrumented build never mixes with the
# normal one) and fails on the first data race TSan reports (halt_on_error), printing its report.
# The suites that boot VMs are left out (QEMU is not ours to instrument, and under TCG they would
# take hours); afs-vmd's own concurrency is in the workspace controller, covered in process.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="/opt/swift/usr/bin:$PATH"
suites='GCTests|SessionTests|CoordinationTests|ChunkLogTests|BlockingTests|WriteBackTests|MountPiecesTests|MountControlPiecesTests|ContentCacheTests|PartialContentTests|RateLimitTests|ServerTests/concurrentWritersToOneSession|GRPCTests'
if [ "${1:-}" = "--filter" ] && [ $# -ge 2 ]; then suites="$2"; fi
if [ "${1:-}" = "--mount" ]; then suites='AFSMountTests\.'; fi
# Third-party false positives only (see the file); memory bounds mean nothing under TSan's shadow
# memory, so the tests that assert them are left to the normal run.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan-suppressions.txt ${TSAN_OPTIONS:-}"
# AFS_TSAN: `Locked` uses a pthread mutex, which TSan sees (the standard Mutex it cannot).
swift build --build-tests --sanitize=thread --scratch-path .build-tsan -Xswiftc -DAFS_TSAN
exec swift test --skip-build --sanitize=thread --scratch-path .build-tsan -Xswiftc -DAFS_TSAN --filter "$suites" \
  --skip 'KeepServerMemoryFlat|KeepMemoryFlat'

