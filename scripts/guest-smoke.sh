#!/usr/bin/env bash
# End-to-end check of the guest image from scripts/build-guest-image.sh with real QEMU (TCG), booted
# the way the Swift controller boots workspaces: microvm, -daemonize + -pidfile, serial to a file,
# QMP and agent on unix sockets, ssh through a user-mode-net hostfwd on a free 127.0.0.1 port.
#
# usage: scripts/guest-smoke.sh OUTDIR [RUNS]      (RUNS default 3; KEEP=1 keeps the temp dirs)
#
# Each run uses a fresh workspace (1 GiB sparse ext4 volume, new ed25519 key) and does:
#   boot 1 (no share): ssh writes /root/persist.txt and /usr/local/bin/y; agent ping/status idle,
#          with an open ssh session, with a detached background job; stop with QMP system_powerdown;
#          e2fsck proves the volume was left clean.
#   boot 2 (virtiofs share "ws" from virtiofsd): host key unchanged, both files survived, a host file
#          is readable in /workspace and a guest write appears on the host; stop with agent shutdown.
# and records timings: daemonize, boot to AFS_READY, ssh reachable, stop. A summary (min/median/max)
# is printed at the end; everything it started is killed on exit.
set -euo pipefail

OUT=$(readlink -f "${1:?usage: $0 OUTDIR [RUNS]}")
RUNS=${2:-3}
QEMU=${QEMU:-qemu-system-x86_64}
VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
MEM_MB=256
BOOT_TIMEOUT=${BOOT_TIMEOUT:-180}     # TCG on a busy 2-core box; KVM would use ~60

for f in vmlinux initramfs.cpio.gz manifest.json; do
  [ -s "$OUT/$f" ] || { echo "guest-smoke: $OUT/$f missing; run scripts/build-guest-image.sh $OUT" >&2; exit 1; }
done
for tool in "$QEMU" ssh ssh-keygen mkfs.ext4 e2fsck python3; do
  command -v "$tool" >/dev/null || { echo "guest-smoke: missing $tool" >&2; exit 1; }
done
[ -x "$VIRTIOFSD" ] || { echo "guest-smoke: missing $VIRTIOFSD (qemu-system-common)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/afs-smoke.XXXXXX)
RESULTS=$TMP/results.tsv
: > "$RESULTS"
FAILS=0

log() { echo "[$(date +%T)] $*" >&2; }
fail() { log "FAIL: $*"; FAILS=$((FAILS + 1)); }
die() { log "FATAL: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
record() { printf '%s\t%s\n' "$1" "$2" >> "$RESULTS"; }

# --- cleanup: only processes this script started, by PID, checked against their command line ----------
cleanup() {
  local rc=$? f pid
  for f in "$TMP"/*/qemu.pid "$TMP"/*/virtiofsd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null) || continue
    if [ -n "$pid" ] && grep -qa -e aether-ws- -e virtiofsd "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  jobs -p | xargs -r kill 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- small helpers (python3 for unix sockets: no socat here) -------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# agent SOCK CMD: sends "CMD <id>", returns the reply line for that id (without " id=…"). Lines that
# are not for us are skipped: "AFS_AGENT ready" and replies the guest queued for an earlier client
# that hung up (virtio-serial keeps them until the next connection). QEMU serves one client at a time
# with a listen backlog of 1, so connect() can fail with EAGAIN while another client is being let go:
# retry it.
agent() {
  python3 - "$1" "$2" <<'EOF'
import os, socket, sys, time
path, cmd = sys.argv[1], sys.argv[2]
rid = str(os.getpid())
deadline = time.time() + 15
while True:
    s = socket.socket(socket.AF_UNIX); s.settimeout(15)
    try:
        s.connect(path); break
    except BlockingIOError:
        s.close()
        if time.time() > deadline: sys.exit("agent: connect: EAGAIN for 15 s")
        time.sleep(0.02)
s.sendall(f"{cmd} {rid}\n".encode())
f = s.makefile("rb")
while True:
    line = f.readline()
    if not line: sys.exit("agent: connection closed")
    line = line.decode().strip()
    if line.endswith(f" id={rid}"):
        print(line[: -len(f" id={rid}")]); break
EOF
}

# qmp SOCK COMMAND: runs one QMP command after the capabilities handshake, prints the "return" JSON.
qmp() {
  python3 - "$1" "$2" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
f = s.makefile("rwb")
json.loads(f.readline())                                   # greeting
def cmd(name):
    f.write(json.dumps({"execute": name}).encode() + b"\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m: return m
cmd("qmp_capabilities")
r = cmd(sys.argv[2])
if "error" in r: sys.exit(f"qmp: {r['error']}")
print(json.dumps(r["return"]))
EOF
}

# Alive = exists and not a zombie (a daemonized QEMU can be reaped late; kill(pid, 0) says "alive").
alive() { local st; st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }
wait_exit() {  # PID TIMEOUT_S -> 0 when gone in time
  local end; end=$(awk -v t="$2" -v n="$(now)" 'BEGIN { printf "%.3f", n + t }')
  while alive "$1"; do
    awk -v e="$end" -v n="$(now)" 'BEGIN { exit !(n > e) }' && return 1
    sleep 0.01
  done
}

# TSC frequency for tsc_early_khz. Under TCG the guest reads the host TSC, so the guest clock runs at
# the rate this says; with tsc=reliable the kernel keeps the TSC clocksource (otherwise the watchdog
# compares it with jiffies, which TCG loses under load, and falls back to jiffies).
tsc_khz() {
  if grep -q constant_tsc /proc/cpuinfo; then
    awk -F: '/^cpu MHz/ { printf "%d\n", $2 * 1000; exit }' /proc/cpuinfo
  else
    echo 2600000
  fi
}
TSC_KHZ=$(tsc_khz)

# --- one workspace ----------------------------------------------------------------------------------
# The exact argv the controller should use; SHARE=1 adds virtiofs (shared memory backend, modern
# virtio-mmio because libvhost-user refuses legacy devices, vhost-user-fs device with tag ws).
qemu_argv() {  # WS ID PORT SHARE
  local ws=$1 id=$2 port=$3 share=$4 machine=microvm key
  key=$(base64 -w0 < "$ws/id.pub")
  [ "$share" = 1 ] && machine=microvm,memory-backend=mem
  ARGV=("$QEMU" -name "aether-ws-$id" -M "$machine" -accel tcg -cpu max -smp 1 -m "$MEM_MB"
        -nodefaults -no-user-config -no-reboot -display none
        -global virtio-mmio.force-legacy=off
        -daemonize -pidfile "$ws/qemu.pid" -serial "file:$ws/console.log"
        -kernel "$OUT/vmlinux" -initrd "$OUT/initramfs.cpio.gz"
        -append "console=ttyS0 panic=-1 quiet tsc_early_khz=$TSC_KHZ tsc=reliable afs.hostname=ws-$id afs.sshkey=$key"
        -drive "id=vol,file=$ws/volume.img,format=raw,if=none,cache=none,aio=threads,discard=unmap"
        -device virtio-blk-device,drive=vol
        -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-device,netdev=n0
        -device virtio-serial-device
        -chardev "socket,id=agent,path=$ws/agent.sock,server=on,wait=off"
        -device virtserialport,chardev=agent,name=org.aether.agent
        -qmp "unix:$ws/qmp.sock,server=on,wait=off")
  if [ "$share" = 1 ]; then
    ARGV+=(-object "memory-backend-memfd,id=mem,size=${MEM_MB}M,share=on"
           -chardev "socket,id=vfs,path=$ws/vfs.sock"
           -device vhost-user-fs-device,chardev=vfs,tag=ws)
  fi
}

start_virtiofsd() {  # WS
  local ws=$1 i
  rm -f "$ws/vfs.sock"
  setsid "$VIRTIOFSD" --socket-path="$ws/vfs.sock" -o source="$ws/share" -o cache=auto \
    > "$ws/virtiofsd.log" 2>&1 < /dev/null &
  echo $! > "$ws/virtiofsd.pid"
  for i in $(seq 200); do [ -S "$ws/vfs.sock" ] && return 0; sleep 0.01; done
  die "virtiofsd did not create its socket: $(tail -n 5 "$ws/virtiofsd.log")"
}

boot() {  # WS ID PORT SHARE LABEL  -> sets QPID; records daemonize/ready/ssh timings
  local ws=$1 id=$2 port=$3 share=$4 label=$5 t0
  rm -f "$ws/console.log" "$ws/qemu.pid"
  [ "$share" = 1 ] && start_virtiofsd "$ws"
  qemu_argv "$ws" "$id" "$port" "$share"
  printf '%s\n' "${ARGV[@]}" > "$ws/argv.$label"
  t0=$(now)
  "${ARGV[@]}" || die "qemu failed to start ($label)"
  record "$label.daemonize_s" "$(since "$t0")"
  QPID=$(cat "$ws/qemu.pid")
  while ! grep -q -e AFS_READY -e AFS_FATAL -e AFS_ERROR "$ws/console.log" 2>/dev/null; do
    alive "$QPID" || die "qemu exited during boot ($label): $(tail -n 20 "$ws/console.log")"
    [ "$(since "$t0" | cut -d. -f1)" -lt "$BOOT_TIMEOUT" ] || die "no AFS_READY after ${BOOT_TIMEOUT}s ($label)"
    sleep 0.02
  done
  grep -q AFS_READY "$ws/console.log" || die "guest failed ($label): $(grep AFS_ "$ws/console.log")"
  record "$label.ready_s" "$(since "$t0")"
  [ -s "$ws/known_hosts" ] || pin_hostkey "$ws"
  until ssh_ws "$ws" "$port" true 2> "$ws/ssh.err"; do
    [ "$(since "$t0" | cut -d. -f1)" -lt "$BOOT_TIMEOUT" ] || die "ssh not reachable ($label): $(cat "$ws/ssh.err")"
    sleep 0.05
  done
  record "$label.ssh_s" "$(since "$t0")"
  record "$label.qemu_rss_mib" "$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$QPID/status")"
  log "$label: $(grep AFS_READY "$ws/console.log")"
}

# The ssh options the controller should use: the known_hosts entry is pinned from the console's
# AFS_HOSTKEY line (no trust-on-first-use), under an alias so a changing forwarded port does not matter.
ssh_opts() {  # WS PORT ALIAS
  SSH_OPTS=(-i "$1/id" -p "$2" -o IdentitiesOnly=yes -o BatchMode=yes
            -o UserKnownHostsFile="$1/known_hosts" -o HostKeyAlias="$3"
            -o StrictHostKeyChecking=yes -o LogLevel=ERROR -o ConnectTimeout=5
            -o ServerAliveInterval=15 -o ServerAliveCountMax=3)
}
ssh_ws() {  # WS PORT CMD...
  local ws=$1 port=$2; shift 2
  ssh_opts "$ws" "$port" "$(cat "$ws/alias")"
  ssh "${SSH_OPTS[@]}" root@127.0.0.1 "$@"
}
pin_hostkey() {  # WS
  local hk; hk=$(grep -m1 '^AFS_HOSTKEY ' "$1/console.log" | cut -d' ' -f2,3)
  [ -n "$hk" ] || die "no AFS_HOSTKEY on the console"
  echo "$(cat "$1/alias") $hk" > "$1/known_hosts"
}

expect_eq() {  # WHAT GOT WANT
  if [ "$2" = "$3" ]; then log "ok: $1 = '$2'"; else fail "$1: got '$2', want '$3'"; fi
}

# --- the test ---------------------------------------------------------------------------------------
run_once() {
  local n=$1 id ws port t0 st u0 h0 u1 h1 hk
  id=smoke$n-$$
  ws=$TMP/ws$n
  mkdir -p "$ws/share"
  t0=$(now)
  truncate -s 1G "$ws/volume.img"
  mkfs.ext4 -q -F -L wsvol "$ws/volume.img"
  record "volume_create_s" "$(since "$t0")"
  ssh-keygen -q -t ed25519 -N '' -C "aether-smoke-$n" -f "$ws/id"
  echo "aether-ws-$id" > "$ws/alias"

  # boot 1: no share
  port=$(free_port)
  boot "$ws" "$id" "$port" 0 boot1
  ssh_ws "$ws" "$port" 'echo hi > /root/persist.txt; mkdir -p /usr/local/bin; echo x > /usr/local/bin/y; sync' ||
    fail "ssh write"
  u0=$(agent "$ws/agent.sock" ping | sed 's/.*uptime=//'); h0=$(now)
  expect_eq "agent status idle" "$(agent "$ws/agent.sock" status | sed 's/ uptime=.*//')" "conns=0 tasks=0"
  # An ssh session that ends by itself (a killed client could leave its command running, re-parented).
  ssh_ws "$ws" "$port" 'sleep 6' < /dev/null &
  local sess=$!
  for _ in $(seq 50); do st=$(agent "$ws/agent.sock" status); [[ $st == conns=1* ]] && break; sleep 0.1; done
  expect_eq "agent status during an ssh session" "$(sed 's/ uptime=.*//' <<<"$st")" "conns=1 tasks=1"
  wait "$sess" || fail "ssh session"
  ssh_ws "$ws" "$port" 'setsid sleep 300 < /dev/null > /dev/null 2>&1 &'
  for _ in $(seq 50); do st=$(agent "$ws/agent.sock" status); [[ $st == conns=0* ]] && break; sleep 0.1; done
  expect_eq "agent status with a detached job, no session" "$(sed 's/ uptime=.*//' <<<"$st")" "conns=0 tasks=1"
  u1=$(agent "$ws/agent.sock" ping | sed 's/.*uptime=//'); h1=$(now)
  record "guest_clock_rate" "$(awk -v u0="$u0" -v u1="$u1" -v h0="$h0" -v h1="$h1" 'BEGIN { printf "%.4f", (u1 - u0) / (h1 - h0) }')"
  expect_eq "QMP query-status" "$(qmp "$ws/qmp.sock" query-status | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')" running
  t0=$(now)
  qmp "$ws/qmp.sock" system_powerdown > /dev/null
  wait_exit "$QPID" 30 || die "QEMU still running 30 s after system_powerdown: $(tail -n 5 "$ws/console.log")"
  record "stop_powerdown_s" "$(since "$t0")"
  grep -q AFS_POWEROFF "$ws/console.log" || fail "no AFS_POWEROFF after system_powerdown"
  e2fsck -fn "$ws/volume.img" > "$ws/fsck1.log" 2>&1 && log "ok: volume clean after system_powerdown" ||
    fail "e2fsck after powerdown: $(tail -n 3 "$ws/fsck1.log")"

  # boot 2: virtiofs share, persistence, agent shutdown
  echo "from-host-$n" > "$ws/share/fromhost.txt"
  port=$(free_port)
  boot "$ws" "$id" "$port" 1 boot2
  hk=$(grep -m1 '^AFS_HOSTKEY ' "$ws/console.log" | cut -d' ' -f2,3)
  expect_eq "host key after restart" "$hk" "$(cut -d' ' -f2,3 "$ws/known_hosts")"
  expect_eq "files after restart" "$(ssh_ws "$ws" "$port" 'cat /root/persist.txt /usr/local/bin/y' | tr '\n' ' ')" "hi x "
  grep -q 'AFS_VIRTIOFS mounted' "$ws/console.log" || fail "virtiofs not mounted: $(grep AFS_VIRTIOFS "$ws/console.log")"
  expect_eq "virtiofs host->guest" "$(ssh_ws "$ws" "$port" 'cat /workspace/fromhost.txt')" "from-host-$n"
  ssh_ws "$ws" "$port" "echo from-guest-$n > /workspace/fromguest.txt"
  expect_eq "virtiofs guest->host" "$(cat "$ws/share/fromguest.txt" 2>/dev/null)" "from-guest-$n"
  t0=$(now)
  expect_eq "agent shutdown" "$(agent "$ws/agent.sock" shutdown)" "bye"
  wait_exit "$QPID" 30 || die "QEMU still running 30 s after agent shutdown"
  record "stop_agent_s" "$(since "$t0")"
  wait_exit "$(cat "$ws/virtiofsd.pid")" 5 || { log "virtiofsd still running after QEMU exit; killing it"; kill "$(cat "$ws/virtiofsd.pid")"; }
  e2fsck -fn "$ws/volume.img" > "$ws/fsck2.log" 2>&1 && log "ok: volume clean after agent shutdown" ||
    fail "e2fsck after agent shutdown: $(tail -n 3 "$ws/fsck2.log")"
  record "volume_du_kib" "$(du -k "$ws/volume.img" | cut -f1)"
  [ "$n" = 1 ] && { cp "$ws/argv.boot1" "$TMP/argv.plain"; cp "$ws/argv.boot2" "$TMP/argv.virtiofs"; cp "$ws/console.log" "$TMP/console.boot2"; }
  return 0
}

log "image: $OUT ($(stat -c %s "$OUT/initramfs.cpio.gz") byte initramfs), $RUNS runs, tsc_early_khz=$TSC_KHZ"
for n in $(seq "$RUNS"); do
  log "=== run $n/$RUNS"
  run_once "$n"
done

# One argument per line, options joined with their values, shell-quoted where needed.
show_argv() {
  sed "s|afs.sshkey=[^ ]*|afs.sshkey=<base64>|" "$1" | awk '
    { a = $0; if (a ~ /[ <>]/) a = "\"" a "\"" }
    NR == 1 { line = a; next }
    a ~ /^-/ { print line " \\"; line = "  " a; next }
    { line = line " " a }
    END { print line }'
}
echo
echo "QEMU argv, no share:"; show_argv "$TMP/argv.plain"
echo "QEMU argv, virtiofs share (virtiofsd --socket-path=WS/vfs.sock -o source=DIR -o cache=auto runs first):"
show_argv "$TMP/argv.virtiofs"
ssh_opts WS PORT aether-ws-ID
echo "ssh: ssh ${SSH_OPTS[*]} root@127.0.0.1 CMD"
echo "     (WS/known_hosts holds one line: \"aether-ws-ID <key type> <key>\" from the console's AFS_HOSTKEY line)"
echo
echo "guest console, boot 2 of run 1:"; sed 's/^/  | /' "$TMP/console.boot2"
echo
printf '%-22s %8s %8s %8s %4s\n' metric min median max n
sort -k1,1 -s "$RESULTS" | awk -F'\t' '
  function flush() {
    if (name == "") return
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    printf "%-22s %8.3f %8.3f %8.3f %4d\n", name, v[1], med, v[n], n
  }
  $1 != name { flush(); name = $1; n = 0 }
  { v[++n] = $2 + 0 }
  END { flush() }'
if [ "$FAILS" -gt 0 ]; then echo "guest-smoke: $FAILS check(s) FAILED"; exit 1; fi
echo "guest-smoke: all checks passed"
