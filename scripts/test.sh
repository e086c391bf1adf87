#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs what is missing, builds once, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="/opt/swift/usr/bin:$PATH"
swift build --build-tests
if [ $# -gt 0 ]; then
  exec swift test --skip-build "$@"
fi
# Two phases. First everything but the QEMU workspace suite, in parallel; then that suite alone: it boots
# guests under software emulation (TCG) on two cores, and its boot deadlines (180 s) hold only when the
# rest of the suite is not competing for the CPU. Both phases always run; the exit status is the worse.
status=0
# The public API of AFSCore and AFSClient is documented: DocC must build it without a warning.
./scripts/docs.sh || status=$?
# At most 8 tests at a time: most of them start real servers (afs-server, PostgreSQL, SeaweedFS, FUSE
# mounts), and starting all of them at once on two cores has made deadlines of a minute miss.
swift test --skip-build --skip QEMUWorkspaceTests --experimental-maximum-parallelization-width 8 || status=$?
swift test --skip-build --filter QEMUWorkspaceTests || status=$?
exit $status
