#!/usr/bin/env bash
# A real PostgreSQL 15 (Debian's `postgresql`) for tests and benchmarks: a throwaway cluster owned by the
# postgres user, in a directory it can reach, on a free loopback port.
#
#   scripts/postgres.sh start DIR   initdb DIR/data (once) and start it; waits until it accepts connections,
#                                   creates database "aether", then prints shell assignments:
#                                   PG_URL=postgres://postgres@127.0.0.1:PORT/aether PG_PORT=PORT
#   scripts/postgres.sh stop DIR    pg_ctl stop -m fast (DIR is kept; a later start reuses its port)
#
# Trust authentication on 127.0.0.1 only: the cluster is a test fixture, never a deployment.
set -euo pipefail
die() { echo "postgres.sh: $*" >&2; exit 1; }

# shellcheck source=lib/detach.sh
. "$(dirname "$0")/lib/detach.sh"

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] || die "PostgreSQL is not installed (run scripts/bootstrap.sh: Debian's postgresql)"
  echo "$d"
}

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local dir="$1" bin port
  bin="$(bindir)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  # The postgres user must reach the directory: every parent searchable, the directory its own.
  chown postgres: "$dir"
  chmod 700 "$dir"
  local p="$dir"
  while [ "$p" != / ]; do p="$(dirname "$p")"; [ -x "$p" ] || chmod o+x "$p" 2>/dev/null || true; done
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  # A restart keeps the port, so clients reconnect to the same address.
  if [ -f "$dir/port" ]; then port="$(cat "$dir/port")"; else port="$(free_port)"; fi
  ( close_inherited; as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=200" start >/dev/null </dev/null ) \
    || { tail -20 "$dir/postgres.log" >&2; die "pg_ctl start failed (log: $dir/postgres.log)"; }
  echo "$port" > "$dir/port"
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc \
    "SELECT 1 FROM pg_database WHERE datname = 'aether'" | grep -q 1 \
    || as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres aether
  echo "PG_URL=postgres://postgres@127.0.0.1:$port/aether PG_PORT=$port"
}

stop() {
  local dir="$1" bin
  bin="$(bindir)"
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) [ $# -eq 2 ] || die "usage: scripts/postgres.sh start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: scripts/postgres.sh stop DIR"; stop "$2" ;;
  *) die "usage: scripts/postgres.sh start DIR | stop DIR" ;;
esac
