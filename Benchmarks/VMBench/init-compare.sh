#!/usr/bin/env bash
# Boot time of the workspace guest with the init it ships (busybox init running the AetherFS rc,
# dropbear and the agent) against systemd on the same Debian base, same kernel, same QEMU command
# line: the measurement behind the choice of init (Docs/perf/workspaces.md).
#
# usage: Benchmarks/VMBench/init-compare.sh GUESTDIR [RUNS]     (root; GUESTDIR holds the kernel, the
#        initramfs and bases/current, from scripts/build-guest-image.sh and scripts/build-workspace-base.sh)
#
# For systemd it builds a throwaway variant of the base with systemd-sysv, udev and dbus added (a standard
# systemd system; without udev it waits 90 s for the serial console device) with mmdebstrap (~45 s)
# and boots it with afs.init=/lib/systemd/systemd; "ready" is then systemd's "Reached target
# Multi-User System" on the console (no AetherFS services run there), for busybox init the guest's
# AFS_READY (dropbear listening and the agent up: more than systemd's line promises).
set -euo pipefail
GUEST=$(readlink -f "${1:?usage: $0 GUESTDIR [RUNS]}")
RUNS=${2:-3}
BASE=$GUEST/bases/current
[ -s "$GUEST/vmlinux" ] && [ -s "$GUEST/initramfs.cpio.gz" ] && [ -s "$BASE/root.img" ] ||
  { echo "init-compare: build the guest first (scripts/build-guest-image.sh and scripts/build-workspace-base.sh $GUEST)" >&2; exit 1; }
TMP=$(mktemp -d /var/tmp/afs-initcmp.XXXXXX)
trap 'pkill -f "aether-initcmp" 2>/dev/null || true; rm -rf "$TMP"' EXIT
TSC=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)

echo "init-compare: building a systemd variant of $(readlink "$BASE") (mmdebstrap)" >&2
PKGS=$(cut -d= -f1 "$BASE/packages.txt" | paste -sd,)
mmdebstrap --variant=minbase --mode=root --format=directory --quiet --include="$PKGS,systemd-sysv,udev,dbus" \
  bookworm "$TMP/rootfs" "deb http://deb.debian.org/debian bookworm main" >&2
: > "$TMP/rootfs/etc/machine-id"
mkdir -p "$TMP/rootfs/usr/share/aether"; echo systemd-variant > "$TMP/rootfs/usr/share/aether/base"
mib=$(( $(du -sb "$TMP/rootfs" | cut -f1) * 11 / 10 / 1048576 + 64 ))
mkfs.ext4 -q -F -L afsbase -O ^has_journal -m 0 -d "$TMP/rootfs" "$TMP/systemd.img" "${mib}M"

# boot IMAGE EXTRA_CMDLINE MARKER -> seconds from QEMU start until MARKER is on the console
boot() {
  local image=$1 extra=$2 marker=$3 vol=$TMP/vol.img console=$TMP/console.log start end i
  [ "${FRESH:-1}" = 1 ] && { rm -f "$vol"; truncate -s 2G "$vol"; mkfs.ext4 -q -F -L wsvol "$vol"; }
  rm -f "$console"
  start=$(date +%s.%N)
  qemu-system-x86_64 -name aether-initcmp -accel tcg -smp 1 -m 512 -nodefaults -no-user-config -no-reboot \
    -global virtio-mmio.force-legacy=off -display none -daemonize -pidfile "$TMP/qemu.pid" -serial "file:$console" \
    -kernel "$GUEST/vmlinux" -initrd "$GUEST/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 quiet tsc_early_khz=$TSC tsc=reliable afs.hostname=initcmp $extra" -cpu max \
    -drive "id=vol,file=$vol,format=raw,if=none,cache=none,aio=threads" -device virtio-blk-device,drive=vol \
    -drive "id=base,file=$image,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=base \
    -netdev user,id=n0 -device virtio-net-device,netdev=n0 \
    -device virtio-serial-device -chardev "socket,id=ag,path=$TMP/agent.sock,server=on,wait=off" \
    -device virtserialport,chardev=ag,name=org.aether.agent -M microvm
  for i in $(seq 1 1800); do
    grep -q "$marker" "$console" 2>/dev/null && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  kill "$(cat "$TMP/qemu.pid")" 2>/dev/null || true
  sleep 0.5
  grep -q "$marker" "$console" || { echo "timeout"; return; }
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

printf '| init | boot | runs (s) |\n|---|---|---|\n'
# "again" boots the volume the last "first" boot left (its user, keys and, for systemd, its journal).
for kind in busybox systemd; do
  for fresh in 1 0; do
    times=()
    for _ in $(seq 1 "$RUNS"); do
      if [ "$kind" = busybox ]; then
        t=$(FRESH=$fresh boot "$BASE/root.img" "" "AFS_READY")
      else
        t=$(FRESH=$fresh boot "$TMP/systemd.img" "afs.init=/lib/systemd/systemd systemd.show_status=true" "Reached target.*Multi-User System")
      fi
      times+=("$t")
    done
    printf '| %s | %s | %s |\n' "$kind" "$([ "$fresh" = 1 ] && echo "first (fresh volume)" || echo "again (same volume)")" "${times[*]}"
  done
done
