#!/usr/bin/env bash
# Fuzzes the decoders of hostile bytes with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz.sh                   every target, 60 s each
#   scripts/fuzz.sh TARGET [SECONDS]  one target (record, record-payload, tree, journal, session-path,
#                                     tar, config, control, wire; see Sources/AFSFuzz/FuzzTarget.swift)
#   scripts/fuzz.sh all SECONDS       every target, SECONDS each
#
# It builds `afs-fuzz` into .build-fuzz (AFS_FUZZ=1 adds the target to the package; everything,
# C and C++ included, is compiled with libFuzzer's coverage instrumentation and AddressSanitizer), starts each target from its committed seeds in
# Fuzz/corpus/TARGET (inputs libFuzzer finds are kept in .build-fuzz/corpus/TARGET, not committed),
# and prints executions, coverage and corpus size per target. A crash stops that target and leaves
# the input as .build-fuzz/crash-TARGET-*: add it to Fuzz/corpus/TARGET (the test suite replays every
# seed) with a regression test next to the decoder's own tests, then fix the decoder.
# The test suite runs the same targets over the seeds and 3,000 mutations each (FuzzTargetTests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="/opt/swift/usr/bin:$PATH"
target="${1:-all}"
seconds="${2:-60}"
# One seed directory per target (FuzzTargetTests checks that every target has one).
mapfile -t targets < <(ls Fuzz/corpus)
if [ "$target" != all ]; then
  printf '%s\n' "${targets[@]}" | grep -qx "$target" || { echo "fuzz.sh: unknown target $target (one of: ${targets[*]})" >&2; exit 2; }
  targets=("$target")
fi
# libFuzzer's instrumentation (what -sanitize=fuzzer implies) and ASan; its driver comes from the
# no-main runtime, since the executable's own main hands libFuzzer the callback (Fuzz/Driver).
runtime=$(dirname "$(readlink -f "$(command -v swiftc)")")/../lib/clang
runtime=$(find "$runtime" -name 'libclang_rt.fuzzer_no_main-x86_64.a' | head -1)
[ -n "$runtime" ] || { echo "fuzz.sh: libclang_rt.fuzzer_no_main is not in this toolchain" >&2; exit 1; }
AFS_FUZZ=1 swift build --scratch-path .build-fuzz --product afs-fuzz \
  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  -Xcc -fsanitize=address -Xcc -fsanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  -Xlinker "$runtime" -Xlinker -lstdc++
binary=".build-fuzz/debug/afs-fuzz"
status=0
printf '%-16s %12s %10s %8s %8s  %s\n' target executions exec/s cov ft result
for t in "${targets[@]}"; do
  corpus=".build-fuzz/corpus/$t"
  mkdir -p "$corpus"
  log=".build-fuzz/fuzz-$t.log"
  rc=0
  AFS_FUZZ_TARGET="$t" ASAN_OPTIONS="detect_leaks=0" "$binary" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix=".build-fuzz/crash-$t-" "$corpus" "Fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (exit $rc; see $log)"; status=1; fi
  printf '%-16s %12s %10s %8s %8s  %s\n' "$t" "$runs" "$speed" "$cov" "$ft" "$result"
done
exit $status
