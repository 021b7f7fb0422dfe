#!/bin/bash
# A Debian 12 minbase rootfs made with debootstrap from the machine's Debian mirror, cached as
# a tarball under /var/cache/runvm so only the first run pays for it (a few minutes).
# usage: debian-rootfs.sh  -> prints the tarball's path
set -euo pipefail
cache=${RUNVM_CACHE:-/var/cache/runvm}
tar=$cache/debian-bookworm-minbase.tar
if [ -s "$tar" ]; then
	echo "$tar"
	exit 0
fi
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$cache"
exec 9>"$cache/.debian.lock"
flock 9
[ -s "$tar" ] && { echo "$tar"; exit 0; }
work=$(mktemp -d "$cache/debootstrap-XXXXXX")
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || {
	tail -5 "$work/log" >&2
	exit 1
}
tar -C "$work/root" -cf "$tar.tmp" .
mv "$tar.tmp" "$tar"
echo "$tar"
