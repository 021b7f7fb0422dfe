#!/bin/bash
# Build the runvm guest kernel from Debian's linux-source-6.1 and a config fragment, cached
# outside the source tree. The cache key hashes the source package version, the fragment and
# RECIPE (bump it when this script changes what it builds), so a valid cache is reused and any
# change of what goes into the kernel rebuilds it.
#
# usage: build-kernel.sh ARCH FRAGMENT OUTDIR
#   ARCH      x86_64 (the kernel ARCH name)
#   FRAGMENT  configs/kernel-ARCH.config
#   OUTDIR    where the symlinks vmlinux/bzImage/.config to the cached build are made
# env: RUNVM_CACHE (default /var/cache/runvm), JOBS (default nproc)
set -euo pipefail
RECIPE=1

arch=$1 fragment=$2 outdir=$3
cache=${RUNVM_CACHE:-/var/cache/runvm}
jobs=${JOBS:-$(nproc)}
tarball=/usr/src/linux-source-6.1.tar.xz

[ -f "$tarball" ] || { echo "build-kernel: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
key=$( { echo "$srcver $RECIPE"; cat "$fragment"; } | sha256sum | cut -c1-16)
dest=$cache/kernel-$arch-$key

case $arch in
x86_64) images=(vmlinux arch/x86/boot/bzImage) ;;
*) echo "build-kernel: unsupported arch $arch" >&2; exit 1 ;;
esac

link_out() {
	mkdir -p "$outdir"
	for f in "${images[@]}" .config; do
		ln -sfn "$dest/$(basename "$f")" "$outdir/$(basename "$f")"
	done
}

# One build at a time per cache: a second caller waits, then finds the first one's result.
mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
	echo "build-kernel: waiting for another build in $cache"
	flock 9
fi

if [ -f "$dest/.complete" ]; then
	echo "build-kernel: cached $dest"
	link_out
	exit 0
fi

work=$cache/build-$arch-$key
# Whatever an interrupted build of any key left behind.
rm -rf "$cache"/build-"$arch"-*
mkdir -p "$work"
echo "build-kernel: unpacking linux-source $srcver into $work"
tar -C "$work" -xJf "$tarball"
src=$work/linux-source-6.1

echo "build-kernel: configuring (tinyconfig + $fragment)"
make -C "$src" -s ARCH="$arch" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$fragment" >/dev/null
make -C "$src" -s ARCH="$arch" olddefconfig

# Every option the fragment asks for must be in the final .config: a silently dropped
# dependency would otherwise surface as a guest that cannot mount its rootfs.
missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) opt=${line%%=*}; grep -qx -- "$line" "$src/.config" && continue ;;
	"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}; ! grep -q "^$opt=" "$src/.config" && continue ;;
	*) continue ;;
	esac
	echo "build-kernel: requested \"$line\", final config has: $(grep -E "^(# )?$opt[= ]" "$src/.config" || echo unset)" >&2
	missing=1
done < "$fragment"
[ "$missing" = 0 ] || { echo "build-kernel: fragment not satisfied, aborting" >&2; exit 1; }

echo "build-kernel: building with -j$jobs (about 12 minutes on 2 cores)"
start=$(date +%s)
make -C "$src" ARCH="$arch" -j"$jobs" vmlinux bzImage 2>&1 |
	grep --line-buffered -E '^  (LD|OBJCOPY|BUILD|AR)|error|Error' || true
[ -f "$src/vmlinux" ] || { echo "build-kernel: build failed" >&2; exit 1; }
echo "build-kernel: built in $(( $(date +%s) - start ))s"

rm -rf "$dest"
mkdir -p "$dest"
for f in "${images[@]}" .config; do cp "$src/$f" "$dest/"; done
strip --strip-debug "$dest/vmlinux" 2>/dev/null || true
touch "$dest/.complete"
rm -rf "$work"
# Older builds of other fragments or sources are dead weight (~20 MB each).
for old in "$cache"/kernel-"$arch"-*; do
	[ "$old" = "$dest" ] || rm -rf "$old"
done
link_out
