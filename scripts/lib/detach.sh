# Sourced by the scripts that leave a server running (seaweedfs.sh, postgres.sh).

# Closes every descriptor above 2 in this shell. A server left running must not hold what the caller
# gave us (a pipe it reads to the end, the socket Foundation's Process watches for our exit): the caller
# would wait for the server instead of for this script.
close_inherited() {
  local fd
  for fd in $(ls /proc/$BASHPID/fd); do
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
  done
}
