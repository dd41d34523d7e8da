#!/bin/sh
# deps.sh: install every Debian package Sukima needs to build, test and run.
#
# Idempotent: when everything is present it prints nothing and exits 0.
# Only apt-get is used; nothing else is ever downloaded, except the Debian
# kernel package for the standard-KVM test machine (scripts/stdkvm-kernel.sh,
# into a cache dir, not installed), which also comes from the Debian archive
# through apt-get.
set -eu

PKGS="
build-essential
pkg-config
clang-14
libclang-rt-14-dev
clang-format
cppcheck
musl-tools
libnats-dev
nats-server
libmicrohttpd-dev
libcurl4-openssl-dev
libjansson-dev
libyaml-dev
libssl-dev
libseccomp-dev
libsodium-dev
libcmocka-dev
python3
python3-pytest
busybox-static
attr
qemu-system-x86
cpio
xz-utils
zstd
kmod
strace
iproute2
procps
curl
chromium
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	else
		SUDO=
	fi
	echo "deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The Debian kernel the standard-KVM tests boot in QEMU (quiet when cached).
exec "$(dirname "$0")/stdkvm-kernel.sh"
