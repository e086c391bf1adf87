#!/usr/bin/env bash
# ConsoleBench: how fast the web console's heaviest pages load in Debian's Chromium (Playwright), against
# a real afs-server on loopback, side by side with fetching the same data from the JSON API alone.
#
#   Benchmarks/ConsoleBench/run.sh [--bin DIR] [--runs N] [--files N] [--changes N] [--out FILE]
#
# Pages: a directory of --files files (default 5000) in a session's tree, and the compare page of a fork
# with --changes modified files (default 500) against its base. Each is loaded --runs times (default 5),
# fully (from about:blank: the document, its script, the sign-in check, the page's API calls) until every
# row is on the page; the baseline is the one API call that carries the rows, timed with the same
# browser's fetch. Prints a markdown table and writes it to --out (default stdout only).
# Uses the afs-server in --bin (default .build/release, else .build/debug with a warning); builds nothing.
# Needs Debian's chromium and Playwright in .tools/python (scripts/bootstrap.sh installs both).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="" runs=5 files=5000 changes=500 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --files) files="$2"; shift 2 ;;
    --changes) changes="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  if [ -x "$root/.build/release/afs-server" ]; then bin="$root/.build/release"; else
    bin="$root/.build/debug"; echo "run.sh: no release build; using $bin (slower: figures are not comparable)" >&2; fi
fi
[ -x "$bin/afs-server" ] || { echo "run.sh: no afs-server in $bin; build it: swift build -c release --product afs-server" >&2; exit 1; }
[ -d "$root/.tools/python/playwright" ] && [ -x /usr/bin/chromium ] || { echo "run.sh: Playwright or chromium missing: run scripts/bootstrap.sh" >&2; exit 1; }
work="$(mktemp -d /var/tmp/afs-consolebench-XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin/afs-server" --data "$work/data" --http "127.0.0.1:$port" --grpc 127.0.0.1:0 >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/data/admin.token" ] && curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break; sleep 0.1; done
echo "run.sh: afs-server from $bin on port $port; making a tree of $files files and $changes changes…" >&2
PYTHONPATH="$root/.tools/python" python3 "$here/console_bench.py" "http://127.0.0.1:$port" "$(cat "$work/data/admin.token")" \
  "$files" "$changes" "$runs" "$work" "$bin" | tee ${out:+"$out"}
