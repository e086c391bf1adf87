#!/usr/bin/env bash
# Builds the Debian base image every workspace boots: a full Debian 12 root (bash, apt/dpkg, git,
# python3, build-essential, curl, sudo, dropbear, vim, less …) built with mmdebstrap from Debian's
# archive, shared read-only by every workspace. A workspace stores only what it changes (the upper
# layer of an overlay on its own volume), so ten workspaces cost one base plus ten deltas.
#
#   GUESTDIR/bases/VERSION/root.img       the base as a journal-less ext4 image (QEMU attaches it read-only)
#   GUESTDIR/bases/VERSION/rootfs/        the same tree as a directory (the bubblewrap driver's lower layer)
#   GUESTDIR/bases/VERSION/packages.txt   name=version of every installed package
#   GUESTDIR/bases/VERSION/manifest.json  version, suite, sizes, sha256 of root.img, build date
#   GUESTDIR/bases/current -> VERSION     what new workspaces get
#
# VERSION is debian-12-<hash of the installed package versions and of this script>, so a rebuild that
# installs exactly the same packages is the same version, and one that picks up security updates is a
# new one. Old versions are never touched: workspaces created on them keep booting on them until they
# are rebased (`aether workspace update ID --image current`, see Docs/ARCHITECTURE.md). Remove a
# version's directory once `aether workspace list --json` shows no workspace on it.
#
# usage: scripts/build-workspace-base.sh GUESTDIR
#   env: AFS_BASE_FORCE=1         resolve packages again (a new VERSION when anything changed)
#        AFS_DEBIAN_MIRROR=URL    Debian mirror (default http://deb.debian.org/debian)
#        AFS_DEBIAN_SECURITY=URL  security mirror (default http://deb.debian.org/debian-security)
#
# Idempotent: when bases/current was built by this very script (same sha256), nothing is done.
set -euo pipefail
shopt -s inherit_errexit

log() { echo "build-workspace-base: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: $0 GUESTDIR"
SELF=$(readlink -f "${BASH_SOURCE[0]}")
GUEST=$(readlink -m "$1")
BASES=$GUEST/bases
MIRROR=${AFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${AFS_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
SUITE=bookworm

[ "$(id -u)" -eq 0 ] || die "run as root: mmdebstrap --mode=root and the image's file ownership need it"
for tool in mmdebstrap mkfs.ext4 e2fsck sha256sum du; do
  command -v "$tool" >/dev/null || die "missing tool '$tool' (scripts/bootstrap.sh installs it: apt-get install mmdebstrap e2fsprogs)"
done

mkdir -p "$BASES"
exec 9>"$BASES/.lock"
flock 9

SCRIPT_SHA=$(sha256sum "$SELF" | cut -d' ' -f1)
if [ "${AFS_BASE_FORCE:-0}" != 1 ] && [ -f "$BASES/current/manifest.json" ] && [ -s "$BASES/current/root.img" ] &&
   grep -q "\"builder_sha256\": \"$SCRIPT_SHA\"" "$BASES/current/manifest.json"; then
  log "up to date ($(readlink "$BASES/current"))"
  exit 0
fi

# The package set. minbase is Essential + apt + Priority: required (dpkg, apt, bash, coreutils, passwd,
# util-linux …); the rest is what people and agents reach for in a development machine. busybox
# supplies the guest's init, acpid and poweroff (the AetherFS system layer links to it): systemd is not
# the init here (Docs/perf/workspaces.md has the measurements that decided it).
PACKAGES=(
  bash coreutils apt dpkg ca-certificates curl git openssh-client build-essential python3 python3-venv
  sudo dropbear-bin openssh-sftp-server busybox less vim nano procps iproute2 iputils-ping kmod
  netbase xz-utils unzip file man-db bash-completion e2fsprogs
)

WORK=$(mktemp -d "$BASES/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/rootfs
log "mmdebstrap $SUITE (${#PACKAGES[@]} packages and their dependencies) from $MIRROR"
started=$(date +%s)
# apt sources inside the guest: the same mirrors, so `apt-get install` works there whenever the host
# can reach them (QEMU user networking NATs the guest's connections through the host).
mmdebstrap --variant=minbase --mode=root --format=directory --quiet \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  --aptopt='Acquire::Retries "3"' \
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1"/var/cache/apt/*.bin' \
  "$SUITE" "$ROOT" \
  "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY $SUITE-security main" \
  >&2 || die "mmdebstrap failed (its messages are above): check that $MIRROR is reachable"
log "mmdebstrap took $(( $(date +%s) - started )) s"

# Per-machine identity must not be baked into a shared base: the guest makes its own at first boot.
: > "$ROOT/etc/machine-id"
rm -f "$ROOT"/etc/ssh/ssh_host_* "$ROOT"/etc/dropbear/dropbear_*_host_key
echo workspace > "$ROOT/etc/hostname"
printf 'LANG=C.UTF-8\n' > "$ROOT/etc/default/locale"
: > "$ROOT/etc/fstab"
mkdir -p "$ROOT/workspace" "$ROOT/afs"
# The workspace's user, made by whatever runs the workspace (the VM's /afs/rc at every boot, the
# bubblewrap sandbox's init at every start). Idempotent.
mkdir -p "$ROOT/usr/lib/aether"
cat > "$ROOT/usr/lib/aether/setup-user" <<'EOF'
#!/bin/sh
# usage: setup-user NAME   Makes NAME the workspace's user: uid 1000, bash, passwordless sudo (the
# password is "*": keys only, and not "!", which ssh servers treat as a locked account), and
# ~/project -> /workspace, the project directory. "root" or nothing: no user. Safe to run again.
name=${1:-}
case $name in
  ""|root) exit 0 ;;
  *[!a-z0-9_-]*|[!a-z_]*) echo "AFS_USER invalid user name '$name'; no user made"; exit 2 ;;
esac
if ! getent passwd "$name" >/dev/null; then
  useradd --create-home --uid 1000 --user-group --shell /bin/bash --groups sudo --password '*' "$name" ||
    { echo "AFS_USER useradd $name failed"; exit 1; }
  echo "AFS_USER made $name"
fi
printf '%s ALL=(ALL:ALL) NOPASSWD:ALL\n' "$name" > /etc/sudoers.d/90-aether-user
chmod 440 /etc/sudoers.d/90-aether-user
home=$(getent passwd "$name" | cut -d: -f6)
mkdir -p /workspace
# A plain /workspace (no project files shared in) is the user's own directory.
if ! mountpoint -q /workspace && [ "$(stat -c %u /workspace)" = 0 ]; then chown 1000:1000 /workspace; fi
if [ ! -e "$home/project" ] && [ ! -L "$home/project" ]; then
  ln -s /workspace "$home/project" && chown -h 1000:1000 "$home/project"
fi
EOF
chmod 755 "$ROOT/usr/lib/aether/setup-user"
# A login shell anywhere (ssh, console, sudo -i) gets the same PATH and a UTF-8 locale.
cat > "$ROOT/etc/profile.d/aether.sh" <<'EOF'
# AetherFS workspace defaults.
export LANG=${LANG:-C.UTF-8}
EOF

# Package list, and the version that names this base.
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Package}=${Version}\n' | LC_ALL=C sort > "$WORK/packages.txt"
VERSION=debian-12-$( { cat "$WORK/packages.txt"; echo "$SCRIPT_SHA"; } | sha256sum | cut -c1-10)
# The guest reads its base's name from here (stage 1 prints it and records it on the volume).
mkdir -p "$ROOT/usr/share/aether"
echo "$VERSION" > "$ROOT/usr/share/aether/base"
if [ -s "$BASES/$VERSION/root.img" ] && [ -f "$BASES/$VERSION/manifest.json" ]; then
  log "$VERSION already exists (same packages, same script); making it current"
else
  # The image: journal-less (it is only ever mounted read-only), no reserved blocks, 10 % + 64 MiB of
  # room. mkfs.ext4 -d copies owners, modes, times and xattrs from the tree.
  bytes=$(du -sb "$ROOT" | cut -f1)
  mib=$(( bytes * 11 / 10 / 1048576 + 64 ))
  log "root.img: $(( bytes / 1048576 )) MiB of files in a $mib MiB ext4 image"
  mkfs.ext4 -q -F -L afsbase -O ^has_journal -m 0 -E root_owner=0:0 -d "$ROOT" "$WORK/root.img" "${mib}M" ||
    die "mkfs.ext4 -d failed"
  e2fsck -fn "$WORK/root.img" >/dev/null 2>&1 || die "e2fsck reports problems in the new root.img"
  chmod 444 "$WORK/root.img"
  {
    printf '{\n'
    printf '  "format": 1,\n'
    printf '  "version": "%s",\n' "$VERSION"
    printf '  "distribution": "debian",\n  "suite": "%s",\n' "$SUITE"
    printf '  "built_at": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "builder_sha256": "%s",\n' "$SCRIPT_SHA"
    printf '  "packages": %s,\n' "$(wc -l < "$WORK/packages.txt")"
    printf '  "files_bytes": %s,\n' "$bytes"
    printf '  "image": {"file": "root.img", "label": "afsbase", "size": %s, "sha256": "%s"}\n' \
      "$(stat -c %s "$WORK/root.img")" "$(sha256sum "$WORK/root.img" | cut -d' ' -f1)"
    printf '}\n'
  } > "$WORK/manifest.json"
  mkdir -p "$WORK/$VERSION"
  mv "$ROOT" "$WORK/root.img" "$WORK/packages.txt" "$WORK/manifest.json" "$WORK/$VERSION/"
  # Complete before it is visible under its name: a crash leaves only a .work directory behind.
  rm -rf "$BASES/$VERSION"
  mv "$WORK/$VERSION" "$BASES/$VERSION"
fi
ln -sfn "$VERSION" "$BASES/.current.new"
mv -T "$BASES/.current.new" "$BASES/current"
# Leftovers of interrupted builds (the lock says no other build is running).
find "$BASES" -mindepth 1 -maxdepth 1 -name '.work.*' ! -path "$WORK" -exec rm -rf {} + 2>/dev/null || true
log "done: $BASES/$VERSION ($(du -sh "$BASES/$VERSION/root.img" | cut -f1) image, $(wc -l < "$BASES/$VERSION/packages.txt") packages)"
