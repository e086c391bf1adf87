#!/usr/bin/env bash
# MountBench: tools that only know local paths (git, make, tar) on a FUSE-mounted session
# (`aether mount`), side by side with the same commands on the local disk, in the same run.
# Writes a markdown section (Docs/perf/mount.md by default), prints its tables to stdout and its
# progress to stderr.
#
#   Benchmarks/MountBench/run.sh [--bin DIR] [--runs N] [--out FILE] [--work DIR] [--repo OWNER/NAME]
#                                [--tree-files N] [--only LIST] [--keep]
#
# --work: parent of the scratch directory (default /var/tmp, the local disk measured; not tmpfs).
# --repo: the repository, from the offline mirror /opt/swift-packages (default swiftlang/swift-syntax).
# --tree-files: instead of one repository, a tree of at least N files: the mirror's largest repositories
#   (each once) side by side in one new git repository with one commit (e.g. 20000 for a 20k-file tree).
# --only: a comma-separated subset of the workloads read,git,make,untar,rm,bigread (default: all).
# --keep: leave the scratch directory (logs of the mounts and the server) for inspection.
#
# It never builds anything in Swift: it uses the `aether` and `afs-server` already built in --bin
# (default .build/release, else .build/debug with a warning: a debug build is much slower).
# Workloads, each on the local disk, an embedded mount (--store) and a remote mount (afs-server):
#   git status of a real checkout with .git: warm, and the first one right after mounting (cold
#   kernel and mount caches, dropped page cache); the same two on the mounts with `aether fsmonitor`
#   (git's fsmonitor hook served from the changefeed) against plain local git; a clean `make -j2` of
#   a C project; reading the checkout with tar, cold and warm; untar of the checkout + `sync -f`;
#   `rm -rf` of a 3,000-file node_modules-like tree; one 1 GiB sequential read, warm.
# Run it as root (drop_caches, fusermount3) on a machine as idle as you can get. Exit status 1 when
# a measured command failed (the report says which, with its first error line).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
invocation="Benchmarks/MountBench/run.sh${*:+ $*}"
bin="" runs=5 out="$root/Docs/perf/mount.md" work_parent=/var/tmp
mirror=/opt/swift-packages repo_name=swiftlang/swift-syntax keep=0 tree_files="" only=all

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --work) work_parent="$2"; shift 2 ;;
        --repo) repo_name="$2"; shift 2 ;;
        --tree-files) tree_files="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive integer" >&2; exit 2; }
[[ -z "$tree_files" || "$tree_files" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --tree-files needs a positive integer" >&2; exit 2; }
for w in ${only//,/ }; do
    [[ $w =~ ^(all|read|git|make|untar|rm|bigread)$ ]] || { echo "run.sh: --only: unknown workload $w (read,git,make,untar,rm,bigread)" >&2; exit 2; }
done
# want W: whether workload W runs.
want() { [[ $only == all || ",$only," == *",$1,"* ]]; }

# fd 3 is the real stderr: a trap can run inside `measure`, whose stderr goes to a file.
exec 3>&2
log() { printf '[mountbench %(%H:%M:%S)T] %s\n' -1 "$*" >&3; }
die() { log "error: $*"; exit 1; }

# --- Binaries -------------------------------------------------------------------------------------
# Default: release; a debug build still works but its figures are pessimistic (unoptimised Swift).
if [[ -z "$bin" ]]; then
    bin="$root/.build/release"
    if [[ ! -x "$bin/aether" || ! -x "$bin/afs-server" ]]; then
        bin="$root/.build/debug"
        log "warning: no release build in .build/release; using .build/debug: figures from a debug build are pessimistic"
    fi
fi
bin="$(cd "$bin" 2>/dev/null && pwd)" || die "--bin: no such directory"
build_type="$(basename "$(readlink -f "$bin")")"
[[ "$build_type" == release ]] || log "warning: $build_type build: figures from a debug build are pessimistic"

# --- Scratch, cleanup -----------------------------------------------------------------------------
work="$(mktemp -d "$work_parent/afs-mountbench.XXXXXX")"
mkdir -p "$work/bin" "$work/logs" "$work/home"
server_pid="" mount_pid=""
mount_pids=()

# Everything this script started goes on exit, also on Ctrl-C and failures: mounts first (politely,
# then lazily), then the mount processes and the server we started (by pid), then the scratch
# directory, but never while anything is still mounted under it (rm -rf would walk into a session).
cleanup() {
    local rc=$? m p
    trap - EXIT INT TERM
    for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
        log "cleanup: unmounting $m"
        "$work/bin/aether" unmount "$m" >/dev/null 2>&1 || fusermount3 -uz "$m" 2>/dev/null || true
    done
    for p in "${mount_pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null || true; done
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    if awk -v w="$work/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        log "cleanup: something is still mounted under $work; leaving it in place"
    elif ((keep)); then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

built="$(date -u -r "$bin/aether" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo '?')"
# Copies of the binaries: a rebuild may replace .build/* at any moment (and briefly remove them);
# a copy keeps the whole run on one build. The background mount re-executes itself from the copy.
# aether-fsmonitor (git's fsmonitor hook) beside aether, where `aether fsmonitor enable` looks for it.
for tool in aether afs-server aether-fsmonitor; do
    for try in $(seq 30); do
        cp "$bin/$tool" "$work/bin/$tool" 2>/dev/null && "$work/bin/$tool" --help >/dev/null 2>&1 && break
        rm -f "$work/bin/$tool"; sleep 2   # missing or half-written: a link step is running
    done
    [[ -x "$work/bin/$tool" ]] || die "no working $tool in $bin after 60 s"
done
# A private HOME, so ~/.config/aether/config.toml and $AFS_* cannot redirect a command.
# No fixed metrics port (127.0.0.1:9464 by default) taken from whoever else mounts on this machine.
unset AFS_STORE AFS_TOKEN AFS_AETHER_SERVER_ENDPOINT AFS_DATA AFS_HTTP AFS_GRPC AETHER_CONFIG XDG_CONFIG_HOME
mkdir -p "$work/home/.config/aether"
printf '[logging]\nmetrics_addr = "off"\n' > "$work/home/.config/aether/config.toml"
aether() { HOME="$work/home" "$work/bin/aether" "$@"; }

# --- Measuring ------------------------------------------------------------------------------------
declare -A S=() F=()     # S[key]: samples in µs, space-separated; F[key]: why it failed
errors="$work/logs/last-error"
# measure KEY CMD...: runs CMD once, appends its wall time to S[KEY]; on failure keeps the first
# error line in F[KEY] and returns 1 (callers stop that workload but the run goes on).
measure() {
    local key=$1 t0 t1 rc=0; shift
    t0=${EPOCHREALTIME/./}
    "$@" >/dev/null 2>"$errors" || rc=$?
    t1=${EPOCHREALTIME/./}
    if ((rc == 0)); then S[$key]+="$((t1 - t0)) "; return 0; fi
    F[$key]="exit $rc: $(grep -m1 . "$errors" || echo 'no message')"
    log "FAILED $key: ${F[$key]}"
    return 1
}
# stats KEY -> "median min max" (µs); the median of an even count is the mean of the middle two.
stats() {
    printf '%s\n' ${S[$1]:-} | sort -n | awk 'NF { a[++n] = $1 }
        END { if (n) print (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2), a[1], a[n] }'
}
fmt() { awk -v u="$1" 'BEGIN { if (u < 1e4) printf "%.1f ms", u / 1e3; else if (u < 1e6) printf "%.0f ms", u / 1e3; else printf "%.2f s", u / 1e6 }'; }
cell() {
    local st; st="$(stats "$1")"
    if [[ -n "${F[$1]:-}" ]]; then echo "**failed**"; return; fi
    [[ -n "$st" ]] || { echo "—"; return; }
    set -- $st; echo "$(fmt "$1") ($(fmt "$2")–$(fmt "$3"))"
}
ratio() {
    local a b; a="$(stats "$1")" b="$(stats "$2")"
    [[ -n "$a" && -n "$b" && -z "${F[$1]:-}" ]] || { echo "—"; return; }
    awk -v m="${a%% *}" -v l="${b%% *}" 'BEGIN { r = m / l; printf (r < 10 ? "%.2f×" : "%.0f×"), r }'
}

drop_note=""
drop_caches() {
    sync
    if ! { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
        drop_note="drop_caches failed (not root, or not permitted here): cold figures are only a fresh mount cache"
    fi
}

# --- Workloads (each a function, so measure times exactly the command) ----------------------------
git_status() { git -C "$1" status; }
# Until the session holds every change durably: a mount acknowledges close, unlink, mkdir and rmdir
# before the service has them (write-back), and the kernel does not pass sync(2)/syncfs(2) on to
# FUSE, so `sync -f` alone would stop the clock early. `t` is the caller's target (bash scoping).
settle() { sync -f "$1" && { [[ $t == local ]] || aether sync "$1" > /dev/null; }; }
build() { make -C "$1" -j2 -s && settle "$1"; }
read_tree() { tar -cf - -C "$1" . | wc -c > "$work/logs/bytes-$2"; }
# The plain `tar -xf` a user types. As root GNU tar also restores owners, modes and times: it
# creates directories 0700 and chmods them at the end. Builds whose mount refuses a directory chmod
# fail there; then the same runs are also timed without those steps (untar_alt) so there is a figure.
untar() { tar -xf "$work/repo.tar" -C "$1" && settle "$1"; }
remove_tree() { rm -rf "$1" && settle "$(dirname "$1")"; }
# A node_modules-like tree: 150 packages × (package.json, README, 2 dirs × 9 small files) = 3,000 files.
gen_modules() {
    local d=$1 p k f
    for p in $(seq -w 1 150); do
        mkdir -p "$d/pkg$p/lib" "$d/pkg$p/dist"
        printf '{"name":"pkg%s","version":"1.0.%s","main":"lib/index.js"}\n' "$p" "$p" > "$d/pkg$p/package.json"
        printf '# pkg%s\n' "$p" > "$d/pkg$p/README.md"
        for k in lib dist; do for f in $(seq 1 9); do printf 'module.exports = %s;\n' "$p$f" > "$d/pkg$p/$k/m$f.js"; done; done
    done
}
seq_read() { dd if="$1" of=/dev/null bs=1M status=none; }
untar_alt() { tar --no-same-owner --no-same-permissions -xf "$work/repo.tar" -C "$1" && settle "$1"; }

# A generated C project, because no real C project with a Makefile is available offline here
# (the mirror has only Swift packages; BoringSSL inside swift-crypto/nio-ssl is C++ without one):
# 10 modules × 20 files, each with 4 inlinable helpers of loops and switches, one header per module,
# main.c calling all 200 functions, a Makefile with -MMD dependency files like real projects.
gen_cproject() {
    local d=$1 m f k fn calls="" includes=""
    mkdir -p "$d/include"
    cat > "$d/include/common.h" <<'EOF'
#ifndef COMMON_H
#define COMMON_H
#include <stdint.h>
#include <string.h>
static inline uint32_t mix32(uint32_t x) { x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; return x ^ (x >> 16); }
typedef struct { uint32_t v[16]; uint32_t n; } bench_state;
#endif
EOF
    local tpl='static uint32_t step@K@(bench_state *s, uint32_t x) {
    uint32_t acc = x * 2654435761u + @K@u;
    for (uint32_t i = 0; i < 16; i++) {
        s->v[i] = mix32(s->v[i] + acc + i * @K@u);
        switch ((s->v[i] >> 3) & 7) {
        case 0: acc += s->v[i]; break;
        case 1: acc ^= s->v[i] << 1; break;
        case 2: acc -= s->v[i] >> 2; break;
        case 3: acc = (acc << 5) | (acc >> 27); break;
        default: acc += i; break;
        }
    }
    for (int a = 0; a < 15; a++)
        for (int b = a + 1; b < 16; b++)
            if (s->v[a] > s->v[b]) { uint32_t t = s->v[a]; s->v[a] = s->v[b]; s->v[b] = t; }
    s->n++;
    return acc;
}
'
    for m in $(seq -w 0 9); do
        mkdir -p "$d/src/m$m"
        includes+="#include \"m$m.h\""$'\n'
        { echo "#ifndef M${m}_H"; echo "#define M${m}_H"; echo '#include "common.h"'
          for f in $(seq -w 0 19); do echo "uint32_t m${m}_f${f}(uint32_t seed);"; done; echo "#endif"; } > "$d/include/m$m.h"
        for f in $(seq -w 0 19); do
            fn="m${m}_f${f}" calls+="    x ^= $fn(x);"$'\n'
            { printf '#include "common.h"\n#include "m%s.h"\n\n' "$m"
              for k in $(seq 1 4); do printf '%s\n' "${tpl//@K@/$((k * 7 + 10#$f))}"; done
              printf 'uint32_t %s(uint32_t seed) {\n    bench_state s;\n    memset(&s, 0, sizeof s);\n    uint32_t x = seed ^ %du;\n' "$fn" "$((10#$m * 100 + 10#$f))"
              for k in $(seq 1 4); do printf '    x = step%d(&s, x);\n' "$((k * 7 + 10#$f))"; done
              printf '    return x ^ s.v[0] ^ s.n;\n}\n'; } > "$d/src/m$m/f$f.c"
        done
    done
    printf '#include <stdio.h>\n%s\nint main(void) {\n    uint32_t x = 1;\n%s    printf("%%08x\\n", x);\n    return 0;\n}\n' "$includes" "$calls" > "$d/main.c"
    printf '%s\n' 'CC ?= gcc' 'CFLAGS ?= -O2 -Wall' 'SRCS := main.c $(wildcard src/*/*.c)' 'OBJS := $(SRCS:.c=.o)' \
        '' 'app: $(OBJS)' $'\t$(CC) -o $@ $(OBJS)' '' '%.o: %.c' $'\t$(CC) $(CFLAGS) -Iinclude -MMD -MP -c $< -o $@' '' \
        'clean:' $'\trm -f app $(OBJS) $(OBJS:.o=.d)' '' '.PHONY: clean' '-include $(OBJS:.o=.d)' > "$d/Makefile"
}

# --- Setup: the seed tree (repository with .git + C project), imported into each transport -------
started_epoch=$EPOCHSECONDS
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
git -C "$root" diff --quiet HEAD 2>/dev/null || commit+=" (work tree has uncommitted changes)"
log "work dir $work; $build_type binaries from $bin; commit $commit; load $load_start"

seed="$work/seed"
mkdir -p "$seed"
if [[ -n "$tree_files" ]]; then
    # The largest repositories first, each once (the mirror holds some under two spellings).
    log "building a tree of at least $tree_files files from the mirror's repositories"
    mkdir -p "$seed/repo"
    declare -A taken=()
    total=0 picked=0
    while read -r n g; do
        key="$(tr 'A-Z' 'a-z' <<<"${g#"$mirror"/}")"
        [[ -n "${taken[$key]:-}" ]] && continue
        taken[$key]=1
        name="$(basename "$(dirname "$g")")-$(basename "$g" .git)"
        mkdir -p "$seed/repo/$name"
        git -C "$g" archive HEAD | tar -x -C "$seed/repo/$name"
        total=$((total + n)) picked=$((picked + 1))
        ((total >= tree_files)) && break
    done < <(for g in "$mirror"/*/*.git; do echo "$(git -C "$g" ls-tree -r --name-only HEAD 2>/dev/null | wc -l) $g"; done | sort -rn)
    ((total >= tree_files)) || die "the mirror holds only $total files in its repositories' HEADs"
    git -C "$seed/repo" init -q -b main
    git -C "$seed/repo" add -A
    # No background auto-gc (it would change .git while the tree is imported); packed, like a clone.
    git -C "$seed/repo" config gc.auto 0
    git -C "$seed/repo" config maintenance.auto false
    git -C "$seed/repo" -c user.name=mountbench -c user.email=mountbench@localhost commit -qm "$picked repositories of the mirror"
    git -C "$seed/repo" gc --quiet
    repo_name="$picked of the mirror's largest repositories in one git repository"
else
    [[ -d "$mirror/$repo_name.git" ]] || die "no $mirror/$repo_name.git (the offline Swift package mirror)"
    log "cloning $repo_name from $mirror"
    git clone --quiet --no-hardlinks "$mirror/$repo_name.git" "$seed/repo"
fi
repo_head="$(git -C "$seed/repo" rev-parse --short HEAD)"
repo_files="$(find "$seed/repo" -type f | wc -l)" repo_git_files="$(find "$seed/repo/.git" -type f | wc -l)"
repo_bytes="$(du -sb "$seed/repo" | cut -f1)"
tar -cf "$work/repo.tar" -C "$seed/repo" .
tar_entries="$(tar -tf "$work/repo.tar" | wc -l)"
log "generating the C project and a node_modules-like tree"
gen_cproject "$seed/cproj"
gen_modules "$work/modules"
cp -a "$seed" "$work/local"
if want make; then
    # One untimed build: checks the project and puts gcc and the headers in the page cache for every target.
    log "warm-up build of the C project (untimed)"
    make -C "$work/local/cproj" -j2 -s >/dev/null
fi

declare -A targs=() session=()
log "embedded: importing the seed (--from-dir keeps .git)"
targs[embedded]="--store $work/store"
session[embedded]="$(aether session create ${targs[embedded]} --name mountbench --from-dir "$seed")"

log "remote: starting afs-server"
env AFS_RATE_LIMIT=0 "$work/bin/afs-server" --data "$work/server" --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
    >"$work/logs/server.out" 2>"$work/logs/server.log" </dev/null 3>&- &
server_pid=$!
url=""
for _ in $(seq 120); do
    url="$(sed -n 's/^afs-server listening on \(http:[^ ]*\).*/\1/p' "$work/logs/server.out")"
    [[ -n "$url" ]] && break
    kill -0 "$server_pid" 2>/dev/null || die "afs-server exited: $(tail -3 "$work/logs/server.log")"
    sleep 0.5
done
[[ -n "$url" && -s "$work/server/admin.token" ]] || die "afs-server did not print its endpoint in 60 s"
targs[remote]="--endpoint $url --token $(cat "$work/server/admin.token")"
log "remote: $url; importing the seed (uploaded as a tar, .git included)"
session[remote]="$(aether session create ${targs[remote]} --name mountbench --from-dir "$seed")"

# mount_session T MNT CACHE: a background mount; sets mount_pid (to wait for its exit on unmount).
mount_session() {
    local out
    mkdir -p "$2" "$3"
    out="$(aether mount ${targs[$1]} --session "${session[$1]}" "$2" --background --cache-dir "$3" \
        --log "$work/logs/mount-$1.log")" || die "aether mount failed: $(tail -3 "$work/logs/mount-$1.log")"
    mount_pid="$(sed -n 's/^mount process \([0-9]*\) .*/\1/p' <<<"$out")"
    mount_pids+=("$mount_pid")
}
# `aether unmount` returns once the kernel let go; the mount process then uploads what is pending
# and exits (and, with --store, releases the store): wait for that too.
unmount_session() {
    aether unmount "$1" >/dev/null 2>&1 || { log "aether unmount $1 failed; fusermount3 -uz"; fusermount3 -uz "$1" || true; }
    for _ in $(seq 240); do kill -0 "$mount_pid" 2>/dev/null || return 0; sleep 0.5; done
    log "warning: mount process $mount_pid still running 120 s after unmount"
}

declare -A compat=()
# run_target T: every workload on target T (local, embedded, remote). The targets run one after
# the other, so a change of load during the run shifts one target's samples more than another's:
# keep the machine quiet, and read the load average printed with the figures.
run_target() {
    local t=$1 dir i mnt="$work/mnt-$1" last_untar=none
    # 1. Reading the checkout, cold then warm. Mounts: a new mount with an empty --cache-dir for
    #    each run, then drop_caches (page cache of the store, the server and the disk); warm = the
    #    same read again on that mount.
    want read && for i in $(seq "$runs"); do
        log "$t: read cold/warm, run $i/$runs"
        dir="$work/local"
        if [[ $t != local ]]; then mount_session "$t" "$mnt" "$work/cache-$t-cold-$i"; dir="$mnt"; fi
        drop_caches
        measure "read-cold/$t" read_tree "$dir/repo" "$t" && measure "read-warm/$t" read_tree "$dir/repo" "$t"
        [[ $t == local ]] || unmount_session "$mnt"
    done
    dir="$work/local"
    if [[ $t != local ]]; then mount_session "$t" "$mnt" "$work/cache-$t"; dir="$mnt"; fi
    # 2. git status, warm: the first run (index refresh, cache fill) is not counted.
    if want git; then
    log "$t: git status ×$runs (+1 warm-up)"
    git_status "$dir/repo" >/dev/null 2>&1 || true
    for i in $(seq "$runs"); do measure "git/$t" git_status "$dir/repo" || break; done
    # 2b. git status, first after mounting: a new mount with an empty cache and dropped page cache
    #     (local: dropped page cache). The index was refreshed by the warm runs above, so this
    #     measures whether it stays valid across mounts (stable inode numbers and times).
    for i in $(seq "$runs"); do
        log "$t: git status right after mounting, run $i/$runs"
        if [[ $t != local ]]; then unmount_session "$mnt"; mount_session "$t" "$mnt" "$work/cache-$t-first-$i"; fi
        drop_caches
        measure "git-first/$t" git_status "$dir/repo" || break
    done
    # 2c. The same two with git's fsmonitor hook served by the mount (`aether fsmonitor enable`);
    #     the local baseline stays plain git. Two untimed runs settle the token in the index.
    if [[ $t != local ]]; then
        aether fsmonitor enable "$dir/repo" >/dev/null
        git_status "$dir/repo" >/dev/null 2>&1 || true
        git_status "$dir/repo" >/dev/null 2>&1 || true
        log "$t: git status with fsmonitor ×$runs"
        for i in $(seq "$runs"); do measure "git-fsm/$t" git_status "$dir/repo" || break; done
        for i in $(seq "$runs"); do
            log "$t: git status with fsmonitor right after mounting, run $i/$runs"
            unmount_session "$mnt"; mount_session "$t" "$mnt" "$work/cache-$t-fsm-$i"
            drop_caches
            measure "git-fsm-first/$t" git_status "$dir/repo" || break
        done
        aether fsmonitor disable "$dir/repo" >/dev/null
    fi
    fi
    # 3. Clean build: `make clean` (not timed), then `make -j2`.
    want make && for i in $(seq "$runs"); do
        log "$t: make -j2, run $i/$runs"
        make -C "$dir/cproj" -s clean >/dev/null 2>&1 || true
        measure "make/$t" build "$dir/cproj" || break
    done
    # 4. Untar into a new empty directory, then sync -f of that file system. On the mount every
    #    close() publishes the file durably (FUSE flush), so tar's exit is when the session has all.
    want untar && for i in $(seq "$runs"); do
        log "$t: untar, run $i/$runs"
        mkdir -p "$dir/untar-$i"
        measure "untar/$t" untar "$dir/untar-$i" && last_untar="untar-$i" || break
    done
    if [[ -n "${F[untar/$t]:-}" ]]; then
        for i in $(seq "$runs"); do
            log "$t: untar without owners and modes, run $i/$runs"
            mkdir -p "$dir/untar-alt-$i"
            measure "untar-alt/$t" untar_alt "$dir/untar-alt-$i" && last_untar="untar-alt-$i" || break
        done
    fi
    # 5. rm -rf of a node_modules-like tree, copied in (untimed) before each run.
    want rm && for i in $(seq "$runs"); do
        log "$t: rm -rf of 3,000 files, run $i/$runs"
        cp -r "$work/modules" "$dir/modules-$i"
        sync -f "$dir"
        measure "rm/$t" remove_tree "$dir/modules-$i" || break
    done
    # 6. One 1 GiB file read sequentially, warm (written and read once untimed first).
    if want bigread; then
        log "$t: 1 GiB sequential read ×$runs"
        head -c $((1 << 30)) /dev/urandom > "$dir/big.bin"
        seq_read "$dir/big.bin"
        for i in $(seq "$runs"); do measure "bigread/$t" seq_read "$dir/big.bin" || break; done
        rm -f "$dir/big.bin"
    fi
    [[ $t == local ]] && return 0
    # Compatibility checks, untimed: what a user would do next on the mount.
    local expected got
    expected="$(cat "$work/logs/bytes-local" 2>/dev/null || true)" got="$(cat "$work/logs/bytes-$t" 2>/dev/null || true)"
    want read && compat["tar of the checkout: same bytes as local/$t"]="$([[ -n "$got" && "$got" == "$expected" ]] && echo ok || echo "**differs**: $got vs $expected bytes")"
    got="$(git -C "$dir/repo" status --porcelain 2>&1 | head -3 | tr '\n' ' ')"
    compat["git status clean after import/$t"]="$([[ -z "$got" ]] && echo ok || echo "**not clean**: \`$got\`")"
    got="$("$dir/cproj/app" 2>&1 || true)" expected="$("$work/local/cproj/app" 2>&1 || true)"
    want make && compat["built binary runs from the mount, same output/$t"]="$([[ "$got" == "$expected" ]] && echo ok || echo "**fails**: \`$got\`")"
    if got="$(ln -s Package.swift "$dir/repo/compat-link" 2>&1 && readlink "$dir/repo/compat-link" 2>&1)" && [[ "$got" == Package.swift ]]
    then compat["\`ln -s\` + \`readlink\`/$t"]=ok; else compat["\`ln -s\` + \`readlink\`/$t"]="**fails**: \`$(head -1 <<<"$got")\`"; fi
    rm -f "$dir/repo/compat-link"
    # A tracked file to edit: Package.swift at the top of a package, else the first file git tracks.
    local edited=Package.swift
    [[ -f "$dir/repo/$edited" ]] || edited="$(git -C "$dir/repo" ls-files | sed -n 1p)"
    echo "// mountbench" >> "$dir/repo/$edited"
    if got="$(git -C "$dir/repo" -c user.name=mountbench -c user.email=mountbench@localhost commit -q -am 'mountbench edit' 2>&1)" \
        && got="$(git -C "$dir/repo" fsck --no-dangling 2>&1)"; then compat["git commit -a + git fsck/$t"]=ok
    else compat["git commit -a + git fsck/$t"]="**fails**: \`$(head -1 <<<"$got")\`"; fi
    unmount_session "$mnt"
    want untar || return 0
    # Published? Read the last untar back through the service itself, not the mount.
    got="$(aether session export ${targs[$t]} "${session[$t]}" -o - 2>/dev/null | tar -tf - | grep -c "^\(\./\)\{0,1\}$last_untar/" || true)"
    compat["untar visible through the API after unmount/$t"]="$((got == tar_entries)) $got of $tar_entries entries"
    # "1 …" means the check passed: keep "ok"; otherwise say what was seen.
    local k
    k="untar visible through the API after unmount/$t"
    [[ ${compat[$k]} == 1\ * ]] && compat[$k]=ok || compat[$k]="**fails**: ${compat[$k]#* }"
}

for t in local embedded remote; do run_target "$t"; done

# --- Report ---------------------------------------------------------------------------------------
elapsed=$((EPOCHSECONDS - started_epoch))
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
labels=("git/\`git status\`, warm (repository)" "git-first/\`git status\`, first after mounting (cold caches)" \
    "git-fsm/\`git status\` with \`aether fsmonitor\` on the mounts, warm (local: plain git)" \
    "git-fsm-first/\`git status\` with \`aether fsmonitor\`, first after mounting (local: plain git, cold)" "make/clean \`make -j2\` (C project) until durable" \
    "read-cold/\`tar -cf - . \\| wc -c\` of the repository, cold" "read-warm/\`tar -cf - . \\| wc -c\` of the repository, warm" \
    "untar/\`tar -xf repo.tar\` into an empty directory until durable" "rm/\`rm -rf\` of a 3,000-file node_modules-like tree until durable" \
    "bigread/one 1 GiB file read sequentially (\`dd bs=1M\`), warm")
table() {
    echo "| workload | local disk | embedded mount (\`--store\`) | ratio | remote mount (HTTP) | ratio |"
    echo "|---|---:|---:|---:|---:|---:|"
    local l k
    for l in "${labels[@]}"; do
        k="${l%%/*}" b="${l%%/*}"
        # The monitored rows compare with plain local git (warm, or first after dropping caches).
        case $k in git-fsm) b=git ;; git-fsm-first) b=git-first ;; esac
        echo "| ${l#*/} | $(cell "$b/local") | $(cell "$k/embedded") | $(ratio "$k/embedded" "$b/local") | $(cell "$k/remote") | $(ratio "$k/remote" "$b/local") |"
    done
    [[ -n "${S[untar-alt/embedded]:-}${S[untar-alt/remote]:-}" ]] && echo "| where plain \`tar -xf\` failed: \`tar --no-same-owner --no-same-permissions -xf\` + \`sync -f\` (ratio to the local plain one) | $(cell untar/local) | $(cell untar-alt/embedded) | $(ratio untar-alt/embedded untar/local) | $(cell untar-alt/remote) | $(ratio untar-alt/remote untar/local) |"
    echo
    echo "| check (untimed) | embedded | remote |"
    echo "|---|---|---|"
    for k in "tar of the checkout: same bytes as local" "git status clean after import" "built binary runs from the mount, same output" \
        "\`ln -s\` + \`readlink\`" "git commit -a + git fsck" "untar visible through the API after unmount"; do
        echo "| $k | ${compat["$k/embedded"]:-—} | ${compat["$k/remote"]:-—} |"
    done
}
# The targets of the mount's issue, judged from this run: "KEY/label/max ratio embedded/max ratio remote"
# (the 1 GiB read is judged by throughput instead). Also written as JSON beside the report
# (${out%.md}.json), which afs-bench reads into PERFORMANCE.md's target table.
targets=("git/warm \`git status\`/1.5/1.5" "git-first/first \`git status\` after mounting/5/5" "make/clean \`make -j2\`/1.2/1.5" \
    "untar/\`tar -xf\` + sync/2/4" "rm/\`rm -rf\` of 3,000 files/3/3" "read-cold/tree read, cold/3/3" "read-warm/tree read, warm/1.5/1.5")
# numeric_ratio KEY BASE -> the ratio as a plain number, or nothing.
numeric_ratio() {
    local a b; a="$(stats "$1")" b="$(stats "$2")"
    [[ -n "$a" && -n "$b" && -z "${F[$1]:-}" ]] || return 0
    awk -v m="${a%% *}" -v l="${b%% *}" 'BEGIN { printf "%.3f", m / l }'
}
# verdict VALUE LIMIT [ge] -> met / not met / — (no figure)
verdict() {
    [[ -n "$1" ]] || { echo "—"; return; }
    awk -v v="$1" -v l="$2" -v ge="${3:-}" 'BEGIN { ok = ge ? v >= l : v <= l; print ok ? "met" : "**not met**" }'
}
judgements() {
    echo "| target (issue 12) | limit, embedded / remote | embedded | | remote | |"
    echo "|---|---|---:|---|---:|---|"
    local t k rest what me mr re rr json="" sep=""
    for t in "${targets[@]}"; do
        k="${t%%/*}" rest="${t#*/}"; what="${rest%%/*}"; rest="${rest#*/}"; me="${rest%%/*}"; mr="${rest#*/}"
        re="$(numeric_ratio "$k/embedded" "$k/local")" rr="$(numeric_ratio "$k/remote" "$k/local")"
        echo "| $what | ≤ ${me}× / ≤ ${mr}× | ${re:+${re}×} | $(verdict "$re" "$me") | ${rr:+${rr}×} | $(verdict "$rr" "$mr") |"
        json+="$sep{\"what\": \"$what\", \"target\": \"≤ ${me}× embedded, ≤ ${mr}× remote\", \"embedded\": \"${re:+${re}×}\", \"remote\": \"${rr:+${rr}×}\", \"met\": $( [[ -n "$re$rr" ]] && [[ "$(verdict "$re" "$me")$(verdict "$rr" "$mr")" == metmet ]] && echo true || echo false ), \"measured\": $( [[ -n "$re$rr" ]] && echo true || echo false )}"
        sep=", "
    done
    # 1 GiB read: bytes per second of the median run.
    local ge gr
    ge="$(stats bigread/embedded)" gr="$(stats bigread/remote)"
    [[ -n "$ge" && -z "${F[bigread/embedded]:-}" ]] && ge="$(awk -v u="${ge%% *}" 'BEGIN { printf "%.2f", 1073741824 / (u / 1e6) / 1e9 }')" || ge=""
    [[ -n "$gr" && -z "${F[bigread/remote]:-}" ]] && gr="$(awk -v u="${gr%% *}" 'BEGIN { printf "%.2f", 1073741824 / (u / 1e6) / 1e9 }')" || gr=""
    echo "| one 1 GiB sequential read, warm | ≥ 1 GB/s | ${ge:+$ge GB/s} | $(verdict "$ge" 1 ge) | ${gr:+$gr GB/s} | $(verdict "$gr" 1 ge) |"
    json+="$sep{\"what\": \"one 1 GiB sequential read, warm\", \"target\": \"≥ 1 GB/s\", \"embedded\": \"${ge:+$ge GB/s}\", \"remote\": \"${gr:+$gr GB/s}\", \"met\": $( [[ -n "$ge$gr" ]] && [[ "$(verdict "$ge" 1 ge)$(verdict "$gr" 1 ge)" == metmet ]] && echo true || echo false ), \"measured\": $( [[ -n "$ge$gr" ]] && echo true || echo false )}"
    echo "{\"run\": \"$started\", \"commit\": \"$commit\", \"repository\": \"$repo_name\", \"targets\": [$json]}" > "$work/targets.json"
}
failures() {
    local k
    for k in "${!F[@]}"; do echo "- \`$k\` failed: \`${F[$k]}\`"; done | sort
}
{
    echo "<!-- Written by Benchmarks/MountBench/run.sh. Do not edit: the next run rewrites it. -->"
    echo
    echo "Run $started on commit $commit with **$build_type** binaries (\`aether\` built $built; the commit is the work tree's HEAD at the start): \`$invocation\`, $runs runs per cell, in $((elapsed / 60)) min $((elapsed % 60)) s."
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r); local disk and scratch in \`$work_parent\` ($(findmnt -no FSTYPE,SOURCE -T "$work_parent" | tr -s ' ')). Load average (1/5/15 min) at start $load_start, at end $load_end: the machine is shared, so absolute times move with load; compare the ratios, measured in the same run."
    [[ "$build_type" == release ]] || echo "**Debug build: unoptimised Swift in \`aether\` and \`afs-server\`; the mount figures are pessimistic.**"
    echo
    echo "Each cell is the median of $runs runs with min–max; *ratio* = mount median ÷ local median. *Local* is a \`cp -a\` of the same tree on the local disk, same commands."
    echo "*Embedded*: \`aether mount --store STORE --session ID MNT --background --cache-dir C\` (the mount holds the store). *Remote*: a child \`afs-server --data D --http 127.0.0.1:0 --grpc 127.0.0.1:0\` (\`AFS_RATE_LIMIT=0\`), \`aether mount --endpoint URL --token ADMIN …\`. Each transport's session was made with \`aether session create --from-dir\` of the tree, \`.git\` included."
    echo
    if [[ -n "$tree_files" ]]; then echo "- Repository: $repo_name (\`git archive HEAD\` of each into its own directory, \`git init\`, one commit; \`--tree-files $tree_files\`): $repo_files files ($repo_git_files in \`.git\`), $((repo_bytes / 1048576)) MiB, $tar_entries tar entries."
    else echo "- Repository: \`git clone --no-hardlinks $mirror/$repo_name.git\` (HEAD $repo_head): $repo_files files ($repo_git_files in \`.git\`), $((repo_bytes / 1048576)) MiB, $tar_entries tar entries."; fi
    [[ $only == all ]] || echo "- Only the workloads \`$only\` ran (\`--only\`); other rows show —."
    echo "- C project: **generated** (no real C project with a Makefile is offline here): 200 \`.c\` files in 10 directories + \`main.c\`, 11 headers, gcc \`-O2 -MMD\`, linked into one binary; \`make clean\` (untimed) before each \`make -j2\`, then \`sync -f\`, and on the mounts \`aether sync\` (until the session holds every \`.o\` and \`.d\` durably)."
    echo "- \`git status\`: the first run on each mount (index refresh, cache fill) is a warm-up and not counted."
    echo "- \`git status\`, first after mounting: the warm runs refreshed the index; then, per run, an unmount, a new mount with an empty \`--cache-dir\`, and drop_caches (local: drop_caches). It shows whether git's index stays valid across mounts."
    echo "- With \`aether fsmonitor\`: \`aether fsmonitor enable REPO\` on the mount, two untimed runs to settle the token, then the same two measurements; the local baseline is plain git (no monitor)."
    echo "- *Until durable*: the mounts acknowledge \`close\`, \`unlink\`, \`mkdir\` and \`rmdir\` before the session has them (write-back) and the kernel does not pass \`sync -f\` on to FUSE, so every writing workload ends with \`sync -f DIR\` and, on the mounts, \`aether sync DIR\`, which returns once the service holds every change durably: the clock stops when the session has everything."
    echo "- \`rm -rf\`: 150 packages × 20 small files, copied in with \`cp -r\` and \`sync -f\` (untimed) before each run. 1 GiB read: \`head -c 1GiB /dev/urandom\` written through the target and read once (untimed), then \`dd bs=1M\` timed."
    echo "- Reads: cold = a new mount with an empty \`--cache-dir\` and \`echo 3 > /proc/sys/vm/drop_caches\` (local: drop_caches only); warm = the same command again right after. The remote server's in-process caches stay warm (it keeps running).${drop_note:+ **$drop_note.**}"
    echo "- Untar: plain \`tar -xf\` as root (so it also restores owners, modes and times) into a new directory, until durable (above); where it fails on a mount, an extra row times it without owners and modes. The checks export the session through the service after unmount to confirm every entry arrived."
    echo
    table
    echo
    judgements
    if [[ ${#F[@]} -gt 0 ]]; then echo; echo "Failures:"; echo; failures; fi
} > "$work/report.md"
mkdir -p "$(dirname "$out")"
cp "$work/report.md" "$out"
cp "$work/targets.json" "${out%.md}.json"
table
log "wrote $out in $((elapsed / 60)) min $((elapsed % 60)) s"
# Like afs-bench: the report is written either way, but a failed command makes the exit status 1.
if [[ ${#F[@]} -gt 0 ]]; then echo; failures; exit 1; fi
