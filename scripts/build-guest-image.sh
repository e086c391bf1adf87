#!/usr/bin/env bash
# Builds the AetherFS workspace-VM guest image from Debian packages only:
#
#   OUTDIR/vmlinuz            Debian cloud kernel (bzImage), as shipped
#   OUTDIR/vmlinux            the PVH ELF inside it (QEMU microvm boots it directly; faster than the bzImage)
#   OUTDIR/initramfs.cpio.gz  stage 1, the AetherFS system layer (init, agent, busybox) and a minimal
#                             busybox + dropbear root for workspaces without a base image
#   OUTDIR/manifest.json      kernel version, package versions, sha256 of every file, build date
#
# usage: scripts/build-guest-image.sh OUTDIR        (env: AFS_GUEST_FORCE=1 rebuilds unconditionally,
#                                                     AFS_GUEST_KERNEL_PKG=linux-image-… pins the kernel)
#
# Idempotent: a stamp records the sha256 of this script and the versions of the input packages; when it
# matches and the outputs exist, nothing is done. Downloaded .debs are cached in OUTDIR/.cache.
#
# Guest design (the details are next to the files below):
# - The initramfs holds a stage-1 /init, the kernel modules it loads, the AetherFS system layer under
#   /system (/afs: init, rc, agent, shutdown, and a static busybox with its applets in /afs/bin;
#   /etc/inittab), and a minimal read-only root (busybox, dropbear) under /lower.
# - Stage 1 finds its disks by label: the volume (ext4, label wsvol) and, when the host attached one,
#   the read-only Debian base image (label afsbase, scripts/build-workspace-base.sh). It makes / an
#   overlay: lower = /system on top of the base (or of /lower when there is no base), upper + workdir =
#   root/upper and root/work on the volume. Everything written anywhere in / survives stop/start and
#   the shared base is never written. Without a volume the upper is a tmpfs (said on the console).
# - busybox init (/afs/bin/init) then runs /afs/rc (network, user, ssh keys, virtiofs), dropbear,
#   the agent and acpid. The system layer comes with the kernel, so an image update reaches every
#   workspace whatever base it runs on.
# - Console lines starting with AFS_ are for the host (AFS_READY, AFS_VOLUME, AFS_VIRTIOFS, AFS_HOSTKEY…).
set -euo pipefail
shopt -s inherit_errexit     # errors inside $(…) stop the build too

log() { echo "build-guest-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
SELF=$(readlink -f "${BASH_SOURCE[0]}")
OUT=$(readlink -m "$1")
CACHE=$OUT/.cache
ARCH_LIBDIR=lib/x86_64-linux-gnu

for tool in apt-get apt-cache dpkg-deb dpkg-query cpio gzip lz4 sha256sum ldd od; do
  command -v "$tool" >/dev/null || die "missing tool '$tool' (apt-get install cpio lz4 …)"
done

mkdir -p "$OUT" "$CACHE"
# Serialise concurrent builds into the same OUTDIR (a test and a developer, say).
exec 9>"$OUT/.lock"
flock 9

# ---------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------
APT_OPTS=()
# apt-get download as root drops privileges to _apt, which cannot write most directories: keep root.
[ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o APT::Sandbox::User=root)
OUTPUTS=(vmlinux vmlinuz initramfs.cpio.gz manifest.json)
have_outputs() { local f; for f in "${OUTPUTS[@]}"; do [ -s "$OUT/$f" ] || return 1; done; }
# Without usable apt metadata an existing image is kept (offline CI); with none, that is an error.
no_apt() {
  if have_outputs && [ "${AFS_GUEST_FORCE:-0}" != 1 ]; then
    log "warning: $*; keeping the existing image in $OUT"; exit 0
  fi
  die "$*"
}

# Installed version if installed, else apt's candidate. AFS_GUEST_FROM_DEBS=1 ignores installed
# packages (everything but libc, zlib and libcrypt then comes from downloaded .debs).
pkg_installed() {
  [ "${AFS_GUEST_FROM_DEBS:-0}" = 1 ] && return 1
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'
}
apt_candidate() { apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }' || true; }
pkg_version() {
  if pkg_installed "$1"; then dpkg-query -W -f='${Version}' "$1"; else apt_candidate "$1"; fi
}

# The kernel: whatever linux-image-cloud-amd64 currently depends on (e.g. linux-image-6.1.0-56-cloud-amd64).
KPKG=${AFS_GUEST_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
  KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
         awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }' || true)
  [ -n "$KPKG" ] || no_apt "apt-cache cannot resolve linux-image-cloud-amd64: run 'apt-get update' (as root) and check that apt sources include Debian main"
fi
KREL=${KPKG#linux-image-}
KVER=$(apt_candidate "$KPKG")
[ -n "$KVER" ] || no_apt "apt has no candidate for $KPKG: run 'apt-get update' (as root) / check apt sources"
BBVER=$(pkg_version busybox-static); [ -n "$BBVER" ] || no_apt "busybox-static unknown to apt: run 'apt-get update' (as root)"
DBVER=$(pkg_version dropbear-bin);   [ -n "$DBVER" ] || no_apt "dropbear-bin unknown to apt: run 'apt-get update' (as root)"

SCRIPT_SHA=$(sha256sum "$SELF" | cut -d' ' -f1)
STAMP_WANT=$(printf '%s\n' "script=$SCRIPT_SHA" "kernel=$KPKG=$KVER" "busybox-static=$BBVER" "dropbear-bin=$DBVER")
if [ "${AFS_GUEST_FORCE:-0}" != 1 ] && have_outputs && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP_WANT" ]; then
  log "up to date ($KREL, $OUT)"
  exit 0
fi
log "building guest image for $KPKG $KVER into $OUT"

# Download one package version into the cache (once). apt-get download verifies it against the
# (signed) package index. A failure is retried once after 'apt-get update' when we are root.
cached_deb() {  # NAME VERSION -> path, or nothing
  local f
  for f in "$CACHE/$1"_*.deb; do
    [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$2" ] && { echo "$f"; return 0; }
  done
  return 0
}
apt_download() { (cd "$CACHE" && apt-get "${APT_OPTS[@]}" -q download "$1" >&2); }
fetch_deb() {  # NAME VERSION -> prints the .deb path
  local name=$1 ver=$2 deb f
  deb=$(cached_deb "$name" "$ver")
  if [ -z "$deb" ]; then
    log "apt-get download $name=$ver"
    if ! apt_download "$name=$ver"; then
      [ "$(id -u)" -eq 0 ] ||
        die "apt-get download $name=$ver failed: run as root, or 'sudo apt-get update' first; check apt sources"
      log "apt-get download failed; running apt-get update and retrying"
      apt-get -q update >&2 || true
      apt_download "$name=$ver" ||
        die "apt-get download $name=$ver failed: check apt sources and network (apt's message is above)"
    fi
    deb=$(cached_deb "$name" "$ver")
    [ -n "$deb" ] || die "apt-get download $name=$ver left no .deb in $CACHE"
    # Drop other cached versions of the same package (kernels are 27 MB each).
    for f in "$CACHE/$name"_*.deb; do [ "$f" = "$deb" ] || rm -f "$f"; done
  fi
  echo "$deb"
}

WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/stage          # becomes the initramfs
LOWER=$STAGE/lower         # the minimal root, used when no base image is attached
SYSTEM=$STAGE/system       # the AetherFS system layer, on top of whichever root

# ---------------------------------------------------------------------------------------------------
# Kernel: vmlinuz, vmlinux, modules
# ---------------------------------------------------------------------------------------------------
KDEB=$(fetch_deb "$KPKG" "$KVER")
log "extracting $(basename "$KDEB")"
mkdir -p "$WORK/kpkg"
dpkg-deb -x "$KDEB" "$WORK/kpkg"
BZ=$WORK/kpkg/boot/vmlinuz-$KREL
MODDIR=$WORK/kpkg/lib/modules/$KREL
[ -f "$BZ" ] && [ -f "$MODDIR/modules.order" ] || die "$KDEB lacks boot/vmlinuz-$KREL or modules.order"
cp "$BZ" "$WORK/vmlinuz"
# All initramfs files get the kernel's build time as mtime (reproducible archive).
EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$BZ")}

# vmlinux: the bzImage header says exactly where the compressed kernel is (boot protocol >= 2.08):
# setup_sects at 0x1f1, payload_offset at 0x248, payload_length at 0x24c. Debian compresses with LZ4
# (legacy frame, magic 02 21 4c 18); the payload ends with the 4-byte uncompressed size, which lz4
# would misread as another block, so it is cut off and checked instead. Scanning for the magic (what
# scripts/extract-vmlinux does) also works but can hit a false match; the header cannot.
u_le() { od -An -t "u$2" -j "$1" -N "$2" "$BZ" | tr -d ' '; }
[ "$(od -An -c -j $((0x202)) -N 4 "$BZ" | tr -d ' ')" = "HdrS" ] || die "$BZ is not a bzImage"
SETUP_SECTS=$(u_le $((0x1f1)) 1); [ "$SETUP_SECTS" -eq 0 ] && SETUP_SECTS=4
PAYLOAD_OFF=$(( (SETUP_SECTS + 1) * 512 + $(u_le $((0x248)) 4) ))
PAYLOAD_LEN=$(u_le $((0x24c)) 4)
MAGIC=$(od -An -tx1 -j "$PAYLOAD_OFF" -N 4 "$BZ" | tr -d ' ')
[ "$MAGIC" = 02214c18 ] || die "kernel payload at $PAYLOAD_OFF is not LZ4 (magic $MAGIC); teach this script that format"
WANT_SIZE=$(od -An -tu4 -j $((PAYLOAD_OFF + PAYLOAD_LEN - 4)) -N 4 "$BZ" | tr -d ' ')
log "vmlinux: LZ4 payload at byte $PAYLOAD_OFF, $PAYLOAD_LEN bytes -> $WANT_SIZE bytes"
dd if="$BZ" iflag=skip_bytes,count_bytes skip="$PAYLOAD_OFF" count=$((PAYLOAD_LEN - 4)) bs=1M status=none |
  lz4 -dc > "$WORK/vmlinux" ||
  die "lz4 failed to decompress the kernel payload"
[ "$(stat -c %s "$WORK/vmlinux")" = "$WANT_SIZE" ] || die "vmlinux has the wrong size"
[ "$(head -c 4 "$WORK/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] || die "vmlinux is not an ELF file"
# QEMU boots an ELF kernel only through the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY).
grep -q 'CONFIG_PVH=y' "$WORK/kpkg/boot/config-$KREL" || die "$KREL is not built with CONFIG_PVH"

# Modules. The cloud kernel has virtio as modules (ext4, tmpfs and devtmpfs are built in). The .deb
# ships no modules.dep (depmod makes it at install time), so dependencies are read from each module's
# "depends=" modinfo string and a load order is computed here (dependencies first); the guest just
# insmods in that order. virtio_pci is for a future q35 machine; virtio_balloon lets QEMU reclaim
# freed guest memory when a balloon device is added.
WANT_MODULES="virtio_mmio virtio_pci virtio_blk virtio_net virtio_console virtio_balloon fuse virtiofs overlay button evdev"
declare -A MODPATH=()
while read -r rel; do
  n=$(basename "$rel" .ko); MODPATH[${n//-/_}]=$rel
done < "$MODDIR/modules.order"
declare -A SEEN=()
ORDER=()
add_module() {
  local m=${1//-/_} dep deps
  [ -n "${SEEN[$m]:-}" ] && return 0
  SEEN[$m]=1
  [ -n "${MODPATH[$m]:-}" ] || die "module $m not in $KPKG (built in? then drop it from WANT_MODULES)"
  deps=$(grep -aoE 'depends=[a-z0-9_,-]*' "$MODDIR/${MODPATH[$m]}" | head -n1 | cut -d= -f2)
  for dep in ${deps//,/ }; do add_module "$dep"; done
  ORDER+=("$m")
}
for m in $WANT_MODULES; do add_module "$m"; done
mkdir -p "$STAGE/modules" "$STAGE/proc" "$STAGE/sys" "$STAGE/dev" "$STAGE/vol" "$STAGE/newroot"
for m in "${ORDER[@]}"; do cp "$MODDIR/${MODPATH[$m]}" "$STAGE/modules/$m.ko"; done
printf '%s\n' "${ORDER[@]}" > "$STAGE/modules/load.order"
log "modules: ${ORDER[*]}"
rm -rf "$WORK/kpkg"

# ---------------------------------------------------------------------------------------------------
# Userland: busybox-static and dropbear (+ the shared libraries it needs)
# ---------------------------------------------------------------------------------------------------
# Use the installed package when it is the wanted version, else download and unpack it.
pkg_root() {  # NAME VERSION -> directory that holds the package's files
  if pkg_installed "$1" && [ "$(dpkg-query -W -f='${Version}' "$1")" = "$2" ]; then echo /; return; fi
  local deb dir=$WORK/pkgs/$1
  deb=$(fetch_deb "$1" "$2")
  mkdir -p "$dir"; dpkg-deb -x "$deb" "$dir"; echo "$dir"
}
mkdir -p "$LOWER"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin,$ARCH_LIBDIR,lib64,etc,root,home,tmp,var/tmp,var/log,run,proc,sys,dev,mnt,workspace}
mkdir -p "$SYSTEM/afs/bin" "$SYSTEM/etc"

BBROOT=$(pkg_root busybox-static "$BBVER")
BB=${BBROOT%/}/bin/busybox
[ -x "$BB" ] || die "busybox-static has no /bin/busybox"
# It runs before any library is available (stage 1), so it must be static.
[[ "$(ldd "$BB" 2>&1 || true)" == *"not a dynamic executable"* ]] || die "$BB is not static"
# The one busybox: /afs/bin/busybox in the system layer, with every applet linked beside it, so the
# AetherFS scripts find the same tools on the minimal root and on a Debian base (the scripts put
# /afs/bin first in PATH; what busybox lacks, such as useradd, comes from the base).
cp "$BB" "$SYSTEM/afs/bin/busybox"
"$BB" --list | while read -r app; do
  case $app in busybox|linuxrc) continue ;; esac
  ln -sf busybox "$SYSTEM/afs/bin/$app"
done
# The minimal root's applets point at it too (relative links, resolved in the merged root).
# Relative, so it resolves both in stage 1 (under /newroot) and in the booted root.
ln -s ../afs/bin/busybox "$LOWER/bin/busybox"
"$BB" --list-full | while read -r app; do
  case $app in bin/busybox|linuxrc) continue ;; esac
  up=$(dirname "$app" | sed 's|[^/]*|..|g')
  ln -sf "$up/bin/busybox" "$LOWER/$app"
done

DBROOT=$(pkg_root dropbear-bin "$DBVER")
LIBPATH=""
if [ "$DBROOT" != / ]; then
  # Not installed: its libraries probably are not either.
  for lib in libtomcrypt1 libtommath1 libgmp10; do
    pkg_installed "$lib" && continue
    r=$(pkg_root "$lib" "$(pkg_version "$lib")")
    LIBPATH=$LIBPATH:$r/usr/$ARCH_LIBDIR:$r/$ARCH_LIBDIR
  done
fi
cp "${DBROOT%/}/usr/sbin/dropbear" "$LOWER/usr/sbin/dropbear"
cp "${DBROOT%/}/usr/bin/dropbearkey" "$LOWER/usr/bin/dropbearkey"
# Copy every library ldd resolves into /lib/x86_64-linux-gnu (searched by Debian's ld.so without a
# cache); the interpreter goes to its PT_INTERP path /lib64/ld-linux-x86-64.so.2.
for bin in "$LOWER/usr/sbin/dropbear" "$LOWER/usr/bin/dropbearkey"; do
  deps=$(LD_LIBRARY_PATH=${LIBPATH#:} ldd "$bin") || die "ldd $bin failed"
  if grep -q 'not found' <<<"$deps"; then die "unresolved libraries for $bin: $(grep 'not found' <<<"$deps" | tr -s '\n\t' ' ')"; fi
  while read -r lib; do
    case $lib in
      */ld-linux-x86-64.so.2) cp -L "$lib" "$LOWER/lib64/ld-linux-x86-64.so.2" ;;
      /*) cp -L "$lib" "$LOWER/$ARCH_LIBDIR/$(basename "$lib")" ;;
    esac
  done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps")
done

# ---------------------------------------------------------------------------------------------------
# Root file system contents (lower layer)
# ---------------------------------------------------------------------------------------------------
chmod 1777 "$LOWER/tmp" "$LOWER/var/tmp"
chmod 700 "$LOWER/root"
ln -s /run "$LOWER/var/run"
mkdir -p -m 700 "$LOWER/root/.ssh"
mkdir -p "$LOWER/etc/dropbear" "$LOWER/etc/aether"
cat > "$LOWER/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$LOWER/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
# "*": no password login for anyone; dropbear runs with -s (keys only) anyway.
printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' > "$LOWER/etc/shadow"
chmod 600 "$LOWER/etc/shadow"
printf '/bin/sh\n/bin/ash\n' > "$LOWER/etc/shells"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' > "$LOWER/etc/nsswitch.conf"
echo workspace > "$LOWER/etc/hostname"
cat > "$LOWER/etc/profile" <<'EOF'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=${HOME:-/root}
PS1='\u@\h:\w\$ '
EOF

# busybox init. /etc/inittab and /afs are the system layer: stage 1 removes any copy of them from the
# persistent upper layer at every boot, so an image update always takes effect.
cat > "$SYSTEM/etc/inittab" <<'EOF'
# AetherFS guest (busybox init). Managed by the image; edits are discarded at boot.
::sysinit:/afs/rc
::respawn:/usr/sbin/dropbear -F -E -s -p 22 -r /etc/dropbear/dropbear_ed25519_host_key -P /run/afs/dropbear.pid -K 60
::respawn:/afs/agent
::respawn:/afs/bin/acpid -f -c /afs/acpi -l /run/acpid.log -p /run/afs/acpid.pid
::once:/afs/ready
::shutdown:/afs/shutdown
EOF

# --- stage 1 ---------------------------------------------------------------------------------------
# Runs in the initramfs (rootfs, a tmpfs). The overlay's lower layers are /system on rootfs and
# either the base image's ext4 or /lower on rootfs, used in place. busybox switch_root cannot be used: it deletes everything on rootfs before exec'ing the new
# init, i.e. the lower layer under the live overlay. Stage 1 does what switch_root does minus the
# deletion: move the overlay mount onto / and chroot into it. The result is the same as switch_root
# (the overlay is the mount at /, so pivot_root in containers works and nothing is chroot-confined
# relative to it), and /lower simply stays in the RAM it was unpacked into (6 MB). The alternative,
# copying /lower to a separate tmpfs that switch_root would skip, costs ~0.2 s under TCG for nothing.
cat > "$STAGE/init" <<'EOF'
#!/system/afs/bin/busybox sh
# AetherFS guest stage 1: modules, volume, base, overlay root, then busybox init inside it.
export PATH=/system/afs/bin
say() { echo "$*" > /dev/console; }
# A broken guest must not reboot-loop (panic=-1 + init exit would): report and power off, so the host
# sees the VM exit and can show the console tail.
fatal() { say "AFS_FATAL $*"; sync; sleep 1; poweroff -f; while :; do sleep 60; done; }

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=755 devtmpfs /dev
exec < /dev/console > /dev/console 2>&1
say "AFS_INIT stage1 uptime=$(cut -d' ' -f1 /proc/uptime)"
WANT_INIT=
for arg in $(cat /proc/cmdline); do
  case $arg in afs.init=*) WANT_INIT=${arg#afs.init=} ;; esac
done

# Each insmod costs ~40 ms under TCG: the PCI transport only when there is a PCI bus (not on microvm).
pci=no; [ -n "$(ls /sys/bus/pci/devices 2>/dev/null)" ] && pci=yes
while read -r m; do
  case $m in virtio_pci*) [ $pci = yes ] || continue ;; esac
  insmod "/modules/$m.ko" 2>/dev/null || say "AFS_INIT insmod $m failed"
done < /modules/load.order

# Disks are found by label, never by order (virtio-mmio enumeration order is not the command line's):
# wsvol is the workspace's volume, afsbase the shared read-only base. virtio-blk probes synchronously
# on insmod, but wait briefly for as many nodes as there are virtio block devices.
disks=$(grep -lx 0x0002 /sys/bus/virtio/devices/*/device 2>/dev/null | wc -l)
i=0; while [ "$(ls /dev/vd? 2>/dev/null | wc -l)" -lt "$disks" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
VOLDEV=$(findfs LABEL=wsvol 2>/dev/null || true)
BASEDEV=$(findfs LABEL=afsbase 2>/dev/null || true)
# A lone unlabelled disk is the volume (images made before labels were checked).
[ -z "$VOLDEV" ] && [ -z "$BASEDEV" ] && [ "$disks" = 1 ] && [ -b /dev/vda ] && VOLDEV=/dev/vda

if [ -n "$VOLDEV" ]; then
  # An attached volume that does not mount is fatal: silently using a tmpfs would lose the user's work.
  # noinit_itable: the host made the volume sparse with lazy inode tables; zeroing them would only
  # allocate host disk for zeros. discard: deleted files give their space back to the host.
  mount -t ext4 -o noatime,discard,noinit_itable "$VOLDEV" /vol || fatal "cannot mount $VOLDEV as ext4 (host must mkfs.ext4 -L wsvol)"
  VOLUME=persistent
else
  mount -t tmpfs -o mode=755 tmpfs /vol || fatal "cannot mount tmpfs"
  VOLUME=tmpfs
  say "AFS_VOLUME none: no disk labelled wsvol, using a tmpfs upper layer; changes will NOT survive a stop"
fi
mkdir -p /vol/root/upper /vol/root/work || fatal "cannot create /vol/root/{upper,work}"
# System-managed paths come from the image, never from the upper layer; /tmp starts empty each boot.
rm -rf /vol/root/upper/afs /vol/root/upper/etc/inittab /vol/root/upper/tmp /vol/root/upper/run
boots=$(( $(cat /vol/root/boots 2>/dev/null || echo 0) + 1 )); echo "$boots" > /vol/root/boots
[ "$VOLUME" = persistent ] && say "AFS_VOLUME $VOLDEV mounted, persistent root, boot=$boots"

# The root's bottom layer: the shared base (mounted read-only; the host attaches it read-only too),
# or the minimal root in the initramfs.
mkdir -p /base
if [ -n "$BASEDEV" ]; then
  mount -t ext4 -o ro,noatime "$BASEDEV" /base || fatal "cannot mount the base image $BASEDEV read-only"
  ROOTLOWER=/base
  BASE=$(cat /base/usr/share/aether/base 2>/dev/null || echo unknown)
else
  ROOTLOWER=/lower
  BASE=minimal
fi
# The upper layer was made over this base: a different one means the workspace was rebased.
[ -f /vol/root/base ] && [ "$(cat /vol/root/base)" != "$BASE" ] && say "AFS_BASE rebased from $(cat /vol/root/base) to $BASE"
[ "$VOLUME" = persistent ] && echo "$BASE" > /vol/root/base
say "AFS_BASE $BASE"

rm -rf /modules                       # loaded; free the RAM
# index=off: the lowers (rootfs, no UUID) are new every boot, so stored origin file handles mean nothing.
mount -t overlay overlay -o lowerdir=/system:$ROOTLOWER,upperdir=/vol/root/upper,workdir=/vol/root/work,index=off /newroot ||
  fatal "cannot mount the overlay root"

mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /newroot/run
mkdir -p /newroot/run/afs/lower /newroot/run/afs/vol
echo "$VOLUME" > /newroot/run/afs/volume
echo "$BASE" > /newroot/run/afs/base
# Keep the layers reachable: the lower read-only for inspection, the volume for shutdown to remount
# read-only (the overlay root itself cannot be unmounted).
if [ "$ROOTLOWER" = /base ]; then
  mount --move /base /newroot/run/afs/lower
else
  mount --bind /lower /newroot/run/afs/lower && mount -o remount,bind,ro /newroot/run/afs/lower
fi
mount --move /vol /newroot/run/afs/vol
mount --move /dev /newroot/dev
mount --move /sys /newroot/sys
mount --move /proc /newroot/proc
# The upper layer can shadow anything, including init itself (a user deleting /bin/busybox): say so
# instead of panicking.
[ -x /newroot/afs/bin/init ] && [ -x /newroot/bin/sh ] ||
  fatal "/afs/bin/init or /bin/sh missing in the overlay root (removed via the upper layer root/upper?)"
# afs.init=/lib/systemd/systemd boots the base's systemd instead (only to measure it: the AetherFS
# services, ready marker and agent run under busybox init; Docs/perf/workspaces.md says why).
INIT=/afs/bin/init
[ "$WANT_INIT" = /lib/systemd/systemd ] && [ -x /newroot/lib/systemd/systemd ] && INIT=$WANT_INIT
[ "$INIT" = /afs/bin/init ] || say "AFS_INIT exec $INIT"
# switch_root without the deletion of rootfs (see above).
cd /newroot || fatal "cannot enter the new root"
mount --move . / || fatal "cannot move the overlay onto /"
exec chroot . $INIT
EOF
chmod 755 "$STAGE/init"

# --- /afs/rc: sysinit, runs once in the overlay root before the services --------------------------
cat > "$SYSTEM/afs/rc" <<'EOF'
#!/afs/bin/sh
# AetherFS guest: one-shot setup before dropbear and the agent start (busybox init sysinit).
export PATH=/afs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "$*" > /dev/console; }
mkdir -p /dev/pts /dev/shm /run/afs
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
[ -d /tmp ] || mkdir -m 1777 /tmp

# Kernel command line (afs.* parameters are not kernel parameters and are left to user space).
SSHKEY= HOST=workspace IP=10.0.2.15/24 GW=10.0.2.2 DNS=10.0.2.3 USERNAME=
for arg in $(cat /proc/cmdline); do
  case $arg in
    afs.sshkey=*)   SSHKEY=${arg#afs.sshkey=} ;;   # base64 of authorized_keys line(s)
    afs.user=*)     USERNAME=${arg#afs.user=} ;;   # the workspace's user (uid 1000, sudo)
    afs.hostname=*) HOST=${arg#afs.hostname=} ;;
    afs.ip=*)       IP=${arg#afs.ip=} ;;
    afs.gw=*)       GW=${arg#afs.gw=} ;;
    afs.dns=*)      DNS=${arg#afs.dns=} ;;
  esac
done

hostname "$HOST"
printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost\n' "$HOST" > /etc/hosts

# Network for QEMU user-mode networking (slirp: guest 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3).
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  ip addr add "$IP" dev eth0
  ip route add default via "$GW"
  echo "nameserver $DNS" > /etc/resolv.conf
else
  say "AFS_NET no eth0"
fi

# One machine id per workspace, made at its first boot (a shared base ships it empty).
if [ ! -s /etc/machine-id ]; then
  tr -d '-' < /proc/sys/kernel/random/uuid > /etc/machine-id
fi

# The workspace's user (uid 1000, the ids the host shows the project's files with): the base's
# setup-user makes it (bash, passwordless sudo, ~/project); on the minimal root, the same entries by
# hand. The password is "*": keys only (dropbear refuses a locked "!" account even with a key).
case $USERNAME in
  ""|root) USERNAME= ;;
  *[!a-z0-9_-]*|[!a-z_]*) say "AFS_USER invalid user name '$USERNAME'; no user made"; USERNAME= ;;
esac
if [ -n "$USERNAME" ] && [ -x /usr/lib/aether/setup-user ]; then
  /usr/lib/aether/setup-user "$USERNAME" > /dev/console 2>&1 || say "AFS_USER setup-user $USERNAME failed"
elif [ -n "$USERNAME" ] && ! grep -q "^$USERNAME:" /etc/passwd; then
  echo "$USERNAME:x:1000:1000::/home/$USERNAME:/bin/sh" >> /etc/passwd
  echo "$USERNAME:x:1000:" >> /etc/group
  echo "$USERNAME:*:19000:0:99999:7:::" >> /etc/shadow
  mkdir -p "/home/$USERNAME" /workspace && chown 1000:1000 "/home/$USERNAME" /workspace
  ln -s /workspace "/home/$USERNAME/project" && chown -h 1000:1000 "/home/$USERNAME/project"
  say "AFS_USER made $USERNAME"
fi

# authorized_keys: the host-supplied key(s) replace the previously host-supplied ones; keys the user
# added to the file stay. /etc/aether/managed_keys.USER remembers which lines the host owns.
install_keys() {  # USER HOME UID:GID
  ak=$2/.ssh/authorized_keys managed=/etc/aether/managed_keys.$1
  [ "$1" = root ] && [ -f /etc/aether/managed_keys ] && mv /etc/aether/managed_keys "$managed"
  mkdir -p "$2/.ssh" /etc/aether
  chmod 700 "$2/.ssh"
  printf '%s\n' "$key" > "$managed.new"
  { [ -f "$ak" ] && cat "$managed" "$managed.new" 2>/dev/null | grep -vxF -f - "$ak"
    cat "$managed.new"; } > "$ak.new"
  chmod 600 "$ak.new"; mv "$ak.new" "$ak"; mv "$managed.new" "$managed"
  chown -R "$3" "$2/.ssh"
}
if [ -n "$SSHKEY" ]; then
  key=$(echo "$SSHKEY" | base64 -d 2>/dev/null | sed -e 's/\r$//' -e '/^[[:space:]]*$/d')
  if [ -n "$key" ]; then
    chmod 700 /root
    install_keys root /root 0:0
    [ -n "$USERNAME" ] && install_keys "$USERNAME" "/home/$USERNAME" 1000:1000
  else
    say "AFS_SSH afs.sshkey is not valid base64; authorized_keys unchanged"
  fi
fi

# Host key: generated once and kept in /etc/dropbear on the persistent overlay. Explicit ed25519
# generation here (milliseconds) instead of dropbear -R, which generates lazily inside the first
# connection. The public key goes to the console so the host can pin it instead of trusting on first use.
# The .pub is saved at generation because "dropbearkey -y" takes over a second under TCG.
hk=/etc/dropbear/dropbear_ed25519_host_key
if [ ! -s "$hk" ]; then
  mkdir -p /etc/dropbear
  dropbearkey -t ed25519 -f "$hk.tmp" 2>/dev/null | grep '^ssh-' | cut -d' ' -f1,2 > "$hk.pub.tmp" &&
    mv "$hk.pub.tmp" "$hk.pub" && mv "$hk.tmp" "$hk" || say "AFS_SSH host key generation failed"
  # dropbearkey writes via a hard-linked temp file; a crash can leave it behind. Make the key durable
  # now: a key lost to a crash would change the host key on the next boot.
  rm -f /etc/dropbear/*.tmp*
  sync
fi
[ -s "$hk.pub" ] || dropbearkey -y -f "$hk" 2>/dev/null | grep '^ssh-' | cut -d' ' -f1,2 > "$hk.pub"
say "AFS_HOSTKEY $(cat "$hk.pub")"

# udev would make this link; there is no udev.
for d in /sys/class/virtio-ports/*; do
  [ -r "$d/name" ] || continue
  mkdir -p /dev/virtio-ports
  ln -sf "../$(basename "$d")" "/dev/virtio-ports/$(cat "$d/name")"
done

# Shared workspace files (virtiofs tag "ws"), when the host attached them.
mkdir -p /workspace
if grep -qw virtiofs /proc/filesystems && mount -t virtiofs ws /workspace 2>/dev/null; then
  echo ws > /run/afs/virtiofs
  say "AFS_VIRTIOFS mounted tag ws at /workspace"
else
  echo none > /run/afs/virtiofs
  say "AFS_VIRTIOFS none (no virtiofs tag ws); /workspace is a plain directory"
fi
EOF

# --- /afs/ready: prints AFS_READY once dropbear listens and the agent has its port open -------------
cat > "$SYSTEM/afs/ready" <<'EOF'
#!/afs/bin/sh
export PATH=/afs/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo $$ > /run/afs/ready.pid
listening() { awk 'FNR > 1 && $4 == "0A" && $2 ~ /:0016$/ { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
i=0
until [ -e /run/afs/agent.up ] && listening; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then
    echo "AFS_ERROR not ready after 60 s: agent=$([ -e /run/afs/agent.up ] && echo up || echo down) ssh=$(listening && echo up || echo down)" > /dev/console
    rm -f /run/afs/ready.pid; exit 1
  fi
  sleep 0.1
done
echo "AFS_READY uptime=$(cut -d' ' -f1 /proc/uptime) volume=$(cat /run/afs/volume) virtiofs=$(cat /run/afs/virtiofs) agent=$(cat /run/afs/agent.up) ssh=22 base=$(cat /run/afs/base)" > /dev/console
rm -f /run/afs/ready.pid
EOF

# --- /afs/agent --------------------------------------------------------------------------------------
cat > "$SYSTEM/afs/agent" <<'EOF'
#!/afs/bin/sh
# AetherFS guest agent: a line protocol on the virtio-serial port named org.aether.agent.
#   ping            -> pong uptime=<s>
#   status          -> conns=<n> tasks=<n> uptime=<s>
#   version         -> afs-agent 1 kernel=<release>
#   shutdown        -> bye        (then a clean poweroff)
#   anything else   -> err unknown-command
# Any command may carry one token ("status 42"); the reply then ends in " id=42". Use it: a reply to
# a host that hung up is not lost but held by virtio-serial and read by the NEXT client, which must
# skip lines that are not its own. The agent writes "AFS_AGENT ready" once when it starts (also held
# until a host connects), so clients skip lines starting with "AFS_AGENT" too.
#
# The port reads EOF while no host is connected (and after the host disconnects), so the agent loops.
export PATH=/afs/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo $$ > /run/afs/agent.pid
dev=
i=0
# Ports appear shortly after virtio_console loads (the host announces them); wait only if a
# virtio-serial device (virtio id 3) exists at all.
grep -qx 0x0003 /sys/bus/virtio/devices/*/device 2>/dev/null || i=50
while [ -z "$dev" ] && [ $i -lt 50 ]; do
  for d in /sys/class/virtio-ports/*; do
    [ "$(cat "$d/name" 2>/dev/null)" = org.aether.agent ] && dev=/dev/$(basename "$d")
  done
  [ -n "$dev" ] || { sleep 0.1; i=$((i + 1)); }
done
if [ -z "$dev" ]; then
  echo "AFS_AGENT no virtio-serial port org.aether.agent; agent disabled" > /dev/console
  echo none > /run/afs/agent.up
  exec sleep 2147483647      # init would respawn us in a tight loop otherwise
fi
exec 3<> "$dev"
echo org.aether.agent > /run/afs/agent.up

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# conns: established TCP connections to port 22 (0x0016), state 01, IPv4 and IPv6.
# tasks: user processes, i.e. processes below an ssh session (below a per-connection dropbear child,
# not counting that child) plus processes that outlived their session (re-parented to init: nohup,
# setsid, daemons a user started). Kernel threads and the system services (init, dropbear listener,
# agent, acpid: their pids are in /run/afs/*.pid) are not counted. 0 means nobody is doing anything.
status_line() {
  conns=$(awk 'FNR > 1 && $4 == "01" && $2 ~ /:0016$/ { n++ } END { print n + 0 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  sys=" 1 $(cat /run/afs/*.pid 2>/dev/null | tr '\n' ' ') "
  master=$(cat /run/afs/dropbear.pid 2>/dev/null)
  tasks=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v sys="$sys" -v master="${master:-none}" '
    { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " "); ppid[pid] = f[2] }
    END {
      n = 0
      for (p in ppid) {
        if (p == 1 || p == 2 || ppid[p] == 2) continue          # init, kthreadd, kernel threads
        q = p; hops = 0
        while (ppid[q] != 1 && ppid[q] != 0 && (ppid[q] in ppid) && hops++ < 64) q = ppid[q]
        if (ppid[q] != 1) continue                                # vanished meanwhile
        if (index(sys, " " q " ")) {                              # under a system service
          if (q == master && p != q && ppid[p] != q) n++          # below an ssh session child
          continue
        }
        n++                                                       # detached user process
      }
      print n
    }')
  echo "conns=$conns tasks=$tasks uptime=$(uptime_s)"
}

poweroff_now() {
  # The flag makes /afs/shutdown end in an immediate poweroff (instead of init's 2 s of sleeps).
  : > /run/afs/fast-poweroff
  poweroff            # busybox: SIGUSR2 to init, which runs ::shutdown:/afs/shutdown
}

reply() { if [ -n "$id" ]; then echo "$* id=$id" >&3; else echo "$*" >&3; fi; }

echo "AFS_AGENT ready" >&3
cr=$(printf '\r')
while :; do
  while IFS= read -r line <&3; do
    line=${line%"$cr"}
    set -f; set -- $line; set +f          # split into words, no globbing
    cmd=${1:-} id=${2:-}
    case $cmd in
      "")       ;;
      ping)     reply "pong uptime=$(uptime_s)" ;;
      status)   reply "$(status_line)" ;;
      version)  reply "afs-agent 1 kernel=$(uname -r)" ;;
      shutdown)
        # If the host hung up, the reply may wait for the next client; power off regardless.
        (sleep 3; poweroff_now) &
        reply "bye"
        poweroff_now ;;
      *)        reply "err unknown-command" ;;
    esac
  done
  sleep 0.25          # EOF: no host connected; poll until one is
done
EOF

# --- shutdown: ACPI power button and ::shutdown ------------------------------------------------------
mkdir -p "$SYSTEM/afs/acpi/PWRF"
# busybox acpid maps the power-button key event to PWRF/00000080 and runs that file.
cat > "$SYSTEM/afs/acpi/PWRF/00000080" <<'EOF'
#!/afs/bin/sh
echo "AFS_ACPI power button" > /dev/console
: > /run/afs/fast-poweroff
exec /sbin/poweroff
EOF

cat > "$SYSTEM/afs/shutdown" <<'EOF'
#!/afs/bin/sh
# Run by init on poweroff/reboot/halt. Stops everything, then makes the volume consistent: the
# overlay root cannot be unmounted while it is /, so both it and the volume's ext4 are remounted
# read-only (ext4 then commits its journal and is clean, as after umount).
export PATH=/afs/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "AFS_SHUTDOWN uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/console
# User processes (anything but init, kernel threads and this script) still alive?
others() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v self=$$ '
    { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ") }
    pid != 1 && pid != 2 && f[2] != 2 && pid != self && f[2] != self && f[1] != "Z" { n++ }
    END { exit !n }'
}
# SIGTERM gives programs up to 2 s to save their work; most are gone at the first check.
kill -TERM -1 2>/dev/null        # every process but init and this script
i=0
while [ $i -lt 40 ] && others; do sleep 0.05; i=$((i + 1)); done
kill -KILL -1 2>/dev/null
sync
grep -q ' /workspace virtiofs ' /proc/mounts && umount /workspace 2>/dev/null
mount -o remount,ro / 2>/dev/null || echo "AFS_SHUTDOWN remount / ro failed" > /dev/console
if [ "$(cat /run/afs/volume 2>/dev/null)" = persistent ]; then
  mount -o remount,ro /run/afs/vol 2>/dev/null || echo "AFS_SHUTDOWN remount volume ro failed" > /dev/console
fi
sync
if [ -e /run/afs/fast-poweroff ]; then
  echo "AFS_POWEROFF" > /dev/console
  poweroff -f
fi
# Otherwise (reboot/halt typed in the guest) init finishes with the requested action.
EOF
chmod 755 "$SYSTEM"/afs/rc "$SYSTEM"/afs/ready "$SYSTEM"/afs/agent "$SYSTEM"/afs/shutdown "$SYSTEM"/afs/acpi/PWRF/00000080

# ---------------------------------------------------------------------------------------------------
# Pack
# ---------------------------------------------------------------------------------------------------
# Reproducible archive: fixed owner and mtimes, sorted names, gzip without name/timestamp. gzip
# because the kernel decompresses it fast enough and the file name promises it.
find "$STAGE" -exec touch -h -d "@$EPOCH" {} +
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort |
   cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n > "$WORK/initramfs.cpio.gz"
INITRD_RAW=$(du -sb "$STAGE" | cut -f1)

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
  printf '{\n'
  printf '  "format": 2,\n'
  printf '  "built_at": "%s",\n' "$BUILT"
  printf '  "builder_sha256": "%s",\n' "$SCRIPT_SHA"
  printf '  "kernel_release": "%s",\n' "$KREL"
  printf '  "kernel_package": "%s",\n' "$KPKG"
  printf '  "kernel_package_version": "%s",\n' "$KVER"
  printf '  "busybox_static_version": "%s",\n' "$BBVER"
  printf '  "dropbear_bin_version": "%s",\n' "$DBVER"
  printf '  "modules": "%s",\n' "${ORDER[*]}"
  printf '  "initramfs_uncompressed_bytes": %s,\n' "$INITRD_RAW"
  printf '  "guest": {"agent_port": "org.aether.agent", "virtiofs_tag": "ws", "volume_device": "/dev/vda", "volume_label": "wsvol", "ready_marker": "AFS_READY", "required_cmdline": "console=ttyS0 panic=-1 tsc_early_khz=<host TSC kHz> tsc=reliable", "sshkey_param": "afs.sshkey=<base64>", "user_param": "afs.user=<name>", "base_label": "afsbase"},\n'
  printf '  "files": {\n'
  sep=
  for f in vmlinux vmlinuz initramfs.cpio.gz; do
    printf '%s    "%s": {"sha256": "%s", "size": %s}' "$sep" "$f" "$(sha "$WORK/$f")" "$(size "$WORK/$f")"
    sep=$',\n'
  done
  printf '\n  }\n}\n'
} > "$WORK/manifest.json"

# Install: each file by rename (readers never see a half-written file); the stamp last.
# (A VM booting during a rebuild may still pair an old kernel with a new initramfs: build into a
# fresh OUTDIR when that matters.)
rm -f "$OUT/.stamp"
for f in vmlinux vmlinuz initramfs.cpio.gz manifest.json; do mv -f "$WORK/$f" "$OUT/$f"; done
printf '%s\n' "$STAMP_WANT" > "$OUT/.stamp"
log "done: initramfs $(size "$OUT/initramfs.cpio.gz") bytes ($INITRD_RAW uncompressed), vmlinux $(size "$OUT/vmlinux"), vmlinuz $(size "$OUT/vmlinuz")"
