#!/usr/bin/env bash
# Builds the API documentation of AFSCore and AFSClient with DocC (the toolchain's `docc`) and
# fails on any warning: a broken symbol link, an undocumented parameter. Symbol graphs are
# extracted from the modules of the debug build (built here when missing), so no second build and
# no plugin are needed.
#
#   scripts/docs.sh [OUTPUT_DIR]      # default .build/docs; archives AFSCore.doccarchive, AFSClient.doccarchive
#
# It also prints DocC's coverage summary (abstracts of types and members; members it counts but
# nobody writes, such as synthesized Codable and Equatable implementations, show as missing).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/docs}
mkdir -p "$out"
export PATH=/opt/swift/usr/bin:$PATH
[ -f .build/debug/Modules/AFSClient.swiftmodule ] || swift build --target AFSClient
graphs=$(mktemp -d)
trap 'rm -rf "$graphs"' EXIT
# Every C module the Swift modules import, each named once (SwiftPM's generated maps first).
maps=$(python3 - <<'PY'
import re, subprocess
found = subprocess.run(
    "find -L .build/debug -maxdepth 2 -name module.modulemap; "
    "find Sources .build/checkouts -name module.modulemap -not -path '*Benchmarks*' -not -path '*SQLCipher*' "
    "-not -path '*SQLiteCustom*' -not -path '*/Support/*' -not -path '*CNIOWindows*' -not -path '*Tests*'",
    shell=True, capture_output=True, text=True).stdout.split()
seen = {}
for path in found:
    m = re.search(r'module\s+(\w+)', open(path).read())
    if m and m.group(1) not in seen:
        seen[m.group(1)] = path
print(' '.join('-Xcc -fmodule-map-file=' + p for p in seen.values()))
PY
)
includes=$(find Sources .build/checkouts -type d -name include -not -path '*Benchmarks*' -not -path '*Tests*' | sed 's/^/-Xcc -I/' | tr '\n' ' ')
status=0
for module in AFSCore AFSClient; do
  mkdir -p "$graphs/$module"
  # shellcheck disable=SC2086
  if ! extracted=$(swift-symbolgraph-extract -module-name "$module" -I .build/debug/Modules -target "$(uname -m)-unknown-linux-gnu" \
    -output-dir "$graphs/$module" -minimum-access-level public -skip-synthesized-members $maps $includes 2>&1); then
    echo "$extracted" | grep -v 'warning:' >&2
    echo "docs: cannot read the symbols of $module from .build/debug (build it first: swift build)" >&2
    status=1
    continue
  fi
  if ! log=$(docc convert "Sources/$module/$module.docc" --fallback-display-name "$module" --fallback-bundle-identifier "org.aetherfs.$module" \
    --additional-symbol-graph-dir "$graphs/$module" --output-path "$out/$module.doccarchive" \
    --experimental-documentation-coverage --coverage-summary-level brief 2>&1); then
    echo "$log" >&2
    echo "docs: docc could not build $module" >&2
    status=1
    continue
  fi
  echo "== $module"
  echo "$log" | sed -n '/Experimental coverage output/,$p'
  warnings=$(echo "$log" | grep -c '^warning' || true)
  if [ "$warnings" -gt 0 ]; then
    echo "$log" | grep -A6 '^warning' >&2
    echo "docs: $module has $warnings DocC warning(s)" >&2
    status=1
  fi
done
exit $status
