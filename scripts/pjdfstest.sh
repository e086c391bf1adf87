#!/usr/bin/env bash
# Runs pjdfstest (the POSIX conformance suite JuiceFS and ZeroFS publish) on ext4 and on a mounted blank
# session, embedded (--store) and remote (through afs-server), in the same run, and prints the counts.
#
#   scripts/pjdfstest.sh PJDFSTEST_DIR [--bin DIR] [--only "open chmod …"] [--transports "embedded remote"]
#                        [--out FILE] [--keep]
#
# PJDFSTEST_DIR is a built checkout of github.com/pjd/pjdfstest (never committed here):
#   git clone https://github.com/pjd/pjdfstest && cd pjdfstest && autoreconf -ifs && ./configure && make pjdfstest
# (DEVELOPERS.md: "POSIX conformance"). Must run as root (pjdfstest switches users with -u/-g).
# --bin: where `aether` and `afs-server` are (default .build/release, else .build/debug; never builds).
# --only: test directories under tests/ (default: every one). --out: also write the Markdown report there,
# with every failing assertion per transport (file, number and the line prove printed).
# The file systems are tested side by side. Exit status 0 when every transport ran, whatever the counts; 1 on a set-up failure.
set -euo pipefail

die() { echo "pjdfstest.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[[ $# -ge 1 ]] || die "usage: scripts/pjdfstest.sh PJDFSTEST_DIR [--bin DIR] [--only DIRS] [--transports LIST] [--out FILE] [--keep]"
pjd="$(cd "$1" && pwd)"; shift
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin=""; only=""; transports="embedded remote"; out=""; keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --transports) transports="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) die "unknown argument $1" ;;
    esac
done
[[ -x "$pjd/pjdfstest" && -d "$pjd/tests" ]] || die "$pjd has no built pjdfstest (run: autoreconf -ifs && ./configure && make pjdfstest)"
[[ "$(id -u)" == 0 ]] || die "pjdfstest must run as root (it changes to other users with -u/-g)"
command -v prove >/dev/null || die "prove (Debian package perl) is missing"
if [[ -z "$bin" ]]; then
    if [[ -x "$repo/.build/release/aether" && -x "$repo/.build/release/afs-server" ]]; then bin="$repo/.build/release"; else bin="$repo/.build/debug"; fi
fi
[[ -x "$bin/aether" && -x "$bin/afs-server" ]] || die "no aether and afs-server in $bin (swift build first)"

if [[ -z "$only" ]]; then only="$(cd "$pjd/tests" && ls -d */ | tr -d / | tr '\n' ' ')"; fi

# Everything lives below one scratch directory on an ext4 file system the other users can enter.
work="$(mktemp -d /var/tmp/afs-pjdfstest.XXXXXX)"
chmod 755 "$work"
mounts=(); server_pid=""
cleanup() {
    for m in "${mounts[@]}"; do "$bin/aether" unmount "$m" >/dev/null 2>&1 || fusermount3 -uz "$m" 2>/dev/null || true; done
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
    if [[ $keep == 0 ]]; then rm -rf "$work"; else log "kept $work"; fi
}
trap cleanup EXIT
export AETHER_ACTOR=pjdfstest XDG_RUNTIME_DIR="$work/run" AFS_LOG_METRICS_ADDR=off
mkdir -p "$work/run" "$work/logs"

# Runs every selected test directory in the current directory; writes "file number status" lines.
run_suite() { # name dir
    local name="$1" dir="$2"
    log "$name: running pjdfstest in $dir"
    (cd "$dir" && for t in $only; do prove -rv "$pjd/tests/$t" 2>&1 || true; done) >"$work/logs/$name.tap"
    awk '
        /^\/.*\.t \.\./ { file = $1; sub(/^.*\/tests\//, "", file) }
        /^ok [0-9]+/ { print file, $2, "ok" }
        /^not ok [0-9]+/ { print file, $3, "fail"; $1=""; }
    ' "$work/logs/$name.tap" >"$work/logs/$name.results"
    grep -c ' ok$' "$work/logs/$name.results" >"$work/logs/$name.pass" || true
    grep -c ' fail$' "$work/logs/$name.results" >"$work/logs/$name.fail" || true
    log "$name: $(cat "$work/logs/$name.pass") passed, $(cat "$work/logs/$name.fail") failed"
}

# The suites run side by side (pjdfstest mostly sleeps, waiting for time stamps to move).
mkdir -p "$work/ext4"
run_suite ext4 "$work/ext4" &
suites=($!)

mount_session() { # name storeargs
    local name="$1"; shift
    local sid
    sid="$("$bin/aether" session create "$@" --blank --name "pjdfstest-$name" --json | sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p' | head -1)"
    [[ -n "$sid" ]] || die "$name: could not create a blank session"
    mkdir -p "$work/mnt-$name" "$work/cache-$name"
    "$bin/aether" mount "$@" --session "$sid" "$work/mnt-$name" --background --cache-dir "$work/cache-$name" \
        -o allow_other --log "$work/logs/mount-$name.log" >/dev/null || die "$name: aether mount failed: $(tail -3 "$work/logs/mount-$name.log")"
    mounts+=("$work/mnt-$name")
    chmod 755 "$work/mnt-$name"
}

for t in $transports; do
    case "$t" in
        embedded)
            mount_session embedded --store "$work/store"
            ;;
        remote)
            AFS_RATE_LIMIT=0 "$bin/afs-server" --data "$work/server" --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
                >"$work/logs/server.out" 2>"$work/logs/server.log" &
            server_pid=$!
            url=""
            for _ in $(seq 1 600); do
                url="$(sed -n 's/^afs-server listening on \(http:[^ ]*\).*/\1/p' "$work/logs/server.out")"
                [[ -n "$url" && -s "$work/server/admin.token" ]] && break
                kill -0 "$server_pid" 2>/dev/null || die "afs-server exited: $(tail -3 "$work/logs/server.log")"
                sleep 0.1
            done
            [[ -n "$url" ]] || die "afs-server did not start"
            mount_session remote --endpoint "$url" --token "$(cat "$work/server/admin.token")"
            ;;
        *) die "unknown transport $t" ;;
    esac
    run_suite "$t" "$work/mnt-$t" &
    suites+=($!)
done
wait "${suites[@]}"

report() {
    local e4; e4="$(cat "$work/logs/ext4.pass")"
    echo "# pjdfstest on a mounted blank session"
    echo
    echo "pjdfstest $(git -C "$pjd" rev-parse --short HEAD 2>/dev/null || echo '?'), directories: $only"
    echo "aether: $bin ($(date -u +%Y-%m-%d))"
    echo
    echo "| file system | passed | failed | passes vs ext4 |"
    echo "|---|---:|---:|---:|"
    echo "| ext4 (same machine) | $e4 | $(cat "$work/logs/ext4.fail") | 100 % |"
    for t in $transports; do
        local p; p="$(cat "$work/logs/$t.pass")"
        echo "| aether mount, $t | $p | $(cat "$work/logs/$t.fail") | $(awk -v a="$p" -v b="$e4" 'BEGIN { printf "%.1f %%", b ? 100 * a / b : 0 }') |"
    done
    for t in $transports; do
        echo
        echo "## Failures, $t (assertions that pass on ext4)"
        echo
        echo '```'
        # Failures per test file, with the assertion numbers.
        awk 'NR == FNR { if ($3 == "ok") okext[$1 " " $2] = 1; next }
             $3 == "fail" && (($1 " " $2) in okext) { f[$1] = f[$1] " " $2; n[$1]++ }
             END { for (k in f) { split(f[k], a, " "); l = ""; for (i = 1; i <= length(a) && i <= 24; i++) l = l " " a[i]
                   if (length(a) > 24) l = l " …"; printf "%-28s %4d:%s\n", k, n[k], l } }' \
            "$work/logs/ext4.results" "$work/logs/$t.results" | sort
        echo '```'
    done
}
report | tee ${out:+"$out"}
