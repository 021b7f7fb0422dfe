#!/bin/bash
# Build the runvm guest kernel from Debian's linux-source-6.1 and a config fragment, cached
# outside the source tree. The cache key hashes the source package version, the fragment and
# RECIPE (bump it when this script changes what it builds), so a valid cache is reused and any
# change of what goes into the kernel rebuilds it. Builds are cached per ARCH
# (kernel-ARCH-KEY): a build of one architecture never evicts the other's.
#
# usage: build-kernel.sh ARCH FRAGMENT OUTDIR
#   ARCH      x86_64 or arm64 (the kernel ARCH name); a foreign one is cross-built
#             (x86_64 host: gcc-aarch64-linux-gnu; arm64 host: gcc-x86-64-linux-gnu)
#   FRAGMENT  configs/kernel-ARCH.config
#   OUTDIR    where the symlinks to the cached build are made: vmlinux, .config and the boot
#             image, bzImage (x86_64, PVH entry in vmlinux) or Image (arm64, uncompressed,
#             what QEMU -M virt -kernel boots directly)
# env: RUNVM_CACHE (default /var/cache/runvm), JOBS (default nproc), CROSS_COMPILE (default
#      as above; empty for a native build)
set -euo pipefail
RECIPE=1
# Called from runvm's make: the kernel's make must not inherit its flags or command-line
# variables (`make CC=clang` is meant for runvm; the cache key would not see it here).
unset MAKEFLAGS MFLAGS MAKELEVEL

arch=$1 fragment=$2 outdir=$3
cache=${RUNVM_CACHE:-/var/cache/runvm}
jobs=${JOBS:-$(nproc)}
tarball=/usr/src/linux-source-6.1.tar.xz

[ -f "$tarball" ] || { echo "build-kernel: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }

# images: what is kept (and linked into OUTDIR); targets: what make builds; gnu: the GNU
# triplet prefix of a cross toolchain for that arch, pkg: its Debian package.
case $arch in
x86_64) images=(vmlinux arch/x86/boot/bzImage) targets=(vmlinux bzImage) gnu=x86_64-linux-gnu- pkg=gcc-x86-64-linux-gnu ;;
arm64) images=(vmlinux arch/arm64/boot/Image) targets=(vmlinux Image) gnu=aarch64-linux-gnu- pkg=gcc-aarch64-linux-gnu ;;
*) echo "build-kernel: unsupported arch $arch (x86_64, arm64)" >&2; exit 1 ;;
esac
hostarch=$(uname -m | sed -e 's/aarch64.*/arm64/' -e 's/amd64/x86_64/')
if [ -z "${CROSS_COMPILE+set}" ]; then
	if [ "$hostarch" = "$arch" ]; then CROSS_COMPILE=; else CROSS_COMPILE=$gnu; fi
fi
export CROSS_COMPILE

srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
key=$( { echo "$srcver $RECIPE"; cat "$fragment"; } | sha256sum | cut -c1-16)
dest=$cache/kernel-$arch-$key

link_out() {
	mkdir -p "$outdir"
	for f in "${images[@]}" .config; do
		ln -sfn "$dest/$(basename "$f")" "$outdir/$(basename "$f")"
	done
}

# One build at a time per cache and arch: a second caller waits, then finds the first one's
# result; a build of the other arch does not hold up this one (nor its cache hit).
mkdir -p "$cache"
exec 9>"$cache/.lock-$arch"
if ! flock -n 9; then
	echo "build-kernel: waiting for another build in $cache"
	flock 9
fi

if [ -f "$dest/.complete" ]; then
	echo "build-kernel: cached $dest"
	link_out
	exit 0
fi

if [ -n "$CROSS_COMPILE" ] && ! command -v "${CROSS_COMPILE}gcc" >/dev/null; then
	echo "build-kernel: ${CROSS_COMPILE}gcc missing (apt-get install $pkg)" >&2
	exit 1
fi

work=$cache/build-$arch-$key
# Whatever an interrupted build of any key of this arch left behind.
rm -rf "$cache"/build-"$arch"-*
mkdir -p "$work"
echo "build-kernel: unpacking linux-source $srcver into $work"
tar -C "$work" -xJf "$tarball"
src=$work/linux-source-6.1

echo "build-kernel: configuring $arch${CROSS_COMPILE:+ (cross, ${CROSS_COMPILE}gcc)} (tinyconfig + $fragment)"
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

echo "build-kernel: building ${targets[*]} with -j$jobs (about 12 minutes on 2 cores)"
start=$(date +%s)
make -C "$src" ARCH="$arch" -j"$jobs" "${targets[@]}" 2>&1 |
	grep --line-buffered -E '^  (LD|OBJCOPY|BUILD|AR)|error|Error' || true
for f in "${images[@]}"; do
	[ -f "$src/$f" ] || { echo "build-kernel: build failed ($f missing)" >&2; exit 1; }
done
echo "build-kernel: built in $(( $(date +%s) - start ))s"

rm -rf "$dest"
mkdir -p "$dest"
for f in "${images[@]}" .config; do cp "$src/$f" "$dest/"; done
"${CROSS_COMPILE}strip" --strip-debug "$dest/vmlinux" 2>/dev/null || true
touch "$dest/.complete"
rm -rf "$work"
# Older builds of this arch (other fragments or sources) are dead weight (~20 MB each); the
# other arch's builds are kept.
for old in "$cache"/kernel-"$arch"-*; do
	[ "$old" = "$dest" ] || rm -rf "$old"
done
link_out
