#!/bin/bash
# Multi-arch builds through runvm with no binfmt_misc (issue #15 point 3): each RUN step of an
# arm64 Dockerfile runs in an aarch64 guest (TCG on x86_64). The classic builder of a private
# dockerd whose default runtime is runvm (BuildKit runs its own runc), then buildah with
# `--runtime runvm --isolation oci` (its default chroot isolation runs no runtime), storage in
# the work directory; with RUNVM_TEST_DEBOOTSTRAP=1 also an arm64 Debian made by `debootstrap
# --foreign` with its second stage run in a runvm container. Prints TAP and a closing line.
# Needs RUNVM and RUNVM_CONFIG, root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/bundle.sh"
. "$here/../lib/tap.sh"
: "${RUNVM:?set RUNVM to the runvm binary}"
: "${RUNVM_CONFIG:?set RUNVM_CONFIG to a runvm configuration}"
. "$here/../lib/dockerd.sh"
. "$here/lib.sh"
if ! command -v dockerd >/dev/null || [ ! -x "$D" ]; then
	tap_skip_all build "docker.io is not installed (make deps installs it)"
fi

work=$(mktemp -d /tmp/runvm-bd-XXXXXX)
# binfmt_misc entries this run disabled, enabled again at the end.
disabled=()
binfmt_dir=/proc/sys/fs/binfmt_misc
# binfmt CMD: CMD (sh) with binfmt_misc at $binfmt_dir, mounted in a private mount namespace
# when the host has not mounted it (the entries are the kernel's, mounted or not).
binfmt() {
	if grep -q " $binfmt_dir binfmt_misc " /proc/mounts; then
		sh -c "$1"
	else
		unshare -m sh -c "mount -t binfmt_misc binfmt_misc $binfmt_dir && { $1; }"
	fi
}
cleanup() {
	local e
	for e in "${disabled[@]}"; do binfmt "echo 1 > $binfmt_dir/$e"; done
	[ -z "${bud_ctr:-}" ] || $B rm -a >/dev/null 2>&1
	# buildah's storage: its overlay mounts go with dockerd_stop's umount of $work.
	dockerd_stop
}
trap cleanup EXIT

# 1. No aarch64 entry may be active: one (qemu-user-static's qemu-aarch64) is disabled for the
# run and enabled again at the end, so that a pass means a VM ran each step, not binfmt.
entries=$(binfmt "cd $binfmt_dir && for e in *; do case \$e in register|status) continue;; esac
	grep -qx enabled \$e && { case \$e in *aarch64*|*arm64*) echo \$e; continue;; esac
	sed -n 's/^magic //p' \$e | grep -q '^7f454c4602.\{26\}b700' && echo \$e; }; done" 2>"$work/last")
for e in $entries; do binfmt "echo 0 > $binfmt_dir/$e" 2>>"$work/last" && disabled+=("$e"); done
left=$(binfmt "cd $binfmt_dir && for e in $entries; do grep -qx enabled \$e && echo \$e; done" 2>>"$work/last")
echo "aarch64 entries: ${entries:-none}; still enabled: ${left:-none}" >> "$work/last"
check "no binfmt_misc entry for aarch64 is active (disabled for this run: ${entries:-none})" test -z "$left"

if ! dockerd_start "$work" --bridge=none --iptables=false --ip6tables=false --ip-masq=false --default-runtime runvm; then
	not_ok "dockerd started"
	tap_finish build
fi
host_kernel=$(uname -r)
make_rootfs "$work/rootfs-arm64" arm64 2>"$work/last" && arm64_archive "$work/rootfs-arm64" rvbase-arm64:latest "$work/base.tar" 2>>"$work/last" &&
	"$D" load -i "$work/base.tar" >>"$work/last" 2>&1
check "an arm64 busybox base image (docker load)" eval '[ "$("$D" image inspect -f "{{.Architecture}}" rvbase-arm64 2>/dev/null)" = arm64 ]'

# Each step records its machine and kernel; the second reads what the first wrote.
mkdir -p "$work/ctx"
cat > "$work/ctx/Dockerfile" <<'DF'
FROM rvbase-arm64:latest
RUN uname -m > /step1-arch && uname -r > /step1-kernel && grep -c "^CPU implementer" /proc/cpuinfo > /step1-cpus
RUN cat /step1-arch > /step2-read && uname -m > /step2-arch && uname -r > /step2-kernel
DF
# show: what the built image holds, one line per file.
show='for f in /step1-arch /step1-kernel /step1-cpus /step2-read /step2-arch /step2-kernel; do echo "$f $(cat $f)"; done'
# built_ok OUT: the files say two aarch64 steps on a guest kernel (6.1, not the host's).
built_ok() {
	local k
	for f in step1-arch step2-read step2-arch; do grep -qx "/$f aarch64" <<<"$1" || return 1; done
	grep -qx '/step1-cpus [1-9][0-9]*' <<<"$1" || return 1
	for f in step1-kernel step2-kernel; do
		k=$(sed -n "s|^/$f ||p" <<<"$1")
		[[ "$k" == 6.1.* ]] && [ "$k" != "$host_kernel" ] || return 1
	done
}

# 2. The classic builder, its containers on runvm (the daemon's default runtime).
start=$(date +%s)
DOCKER_BUILDKIT=0 "$D" build --network none --platform linux/arm64 -t rvbuilt-arm64 "$work/ctx" >"$work/last" 2>&1
rc=$?
check "docker build --platform linux/arm64 (classic builder, $(($(date +%s) - start)) s): two RUN steps" test "$rc" = 0
out=$("$D" run --rm --network none rvbuilt-arm64 sh -c "$show" 2>>"$work/last")
printf 'host kernel %s\n%s\n' "$host_kernel" "$out" >> "$work/last"
check "... docker run of the result: each step ran in an aarch64 guest (kernel $(sed -n 's|^/step1-kernel ||p' <<<"$out")), the second read the first's file" \
	built_ok "$out"
"$D" info --format '{{.DefaultRuntime}}' > "$work/last" 2>&1
check "... the daemon's default runtime is runvm" grep -qx runvm "$work/last"

# 3. buildah, with storage of its own and runvm as its OCI runtime (the wrapper dockerd_start
# wrote, which carries RUNVM_CONFIG).
if ! command -v buildah >/dev/null; then
	skip "buildah bud --arch arm64 --isolation oci --runtime runvm" "buildah is not installed (make deps installs it)"
else
	B="buildah --root $work/buildah/root --runroot $work/buildah/run --storage-driver vfs"
	bud_ctr=
	$B pull -q "docker-archive:$work/base.tar" >"$work/last" 2>&1 && $B tag "$(tail -1 "$work/last")" rvbase-arm64:latest >>"$work/last" 2>&1
	start=$(date +%s)
	$B bud --runtime "$work/runvm" --isolation oci --network none --arch arm64 -t rvbuilt-arm64 "$work/ctx" >>"$work/last" 2>&1
	rc=$?
	check "buildah $(buildah --version | cut -d' ' -f3) bud --arch arm64 --isolation oci --runtime runvm ($(($(date +%s) - start)) s): two RUN steps" test "$rc" = 0
	bud_ctr=$($B from -q --arch arm64 rvbuilt-arm64 2>"$work/last")
	out=$($B run --runtime "$work/runvm" --isolation oci --network none "$bud_ctr" sh -c "$show" 2>>"$work/last")
	printf 'host kernel %s\n%s\n' "$host_kernel" "$out" >> "$work/last"
	check "... buildah run of the result (runvm): each step ran in an aarch64 guest, the second read the first's file" built_ok "$out"
fi

# 4. An arm64 Debian: debootstrap's first stage on the host (it unpacks only), the second one
# (dpkg and the maintainer scripts, arm64 programs) in an aarch64 guest.
if [ "${RUNVM_TEST_DEBOOTSTRAP:-0}" != 1 ]; then
	skip "debootstrap --foreign --arch arm64, the second stage in runvm" "RUNVM_TEST_DEBOOTSTRAP=1 runs it (about 9 minutes here)"
else
	mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
	mirror=${mirror:-http://deb.debian.org/debian}
	ds=$work/debootstrap
	mkdir -p "$ds"
	start=$(date +%s)
	debootstrap --foreign --variant=minbase --arch arm64 bookworm "$ds/rootfs" "$mirror" >"$work/last" 2>&1
	rc=$?
	check "debootstrap --foreign --arch arm64 bookworm ($(($(date +%s) - start)) s)" test "$rc" = 0
	# Where debootstrap believes it runs in docker (/.dockerenv), its first stage makes /proc a
	# symlink to /proc, which no container can mount on; the second stage makes it a directory.
	[ ! -L "$ds/rootfs/proc" ] || { rm "$ds/rootfs/proc" && mkdir "$ds/rootfs/proc"; }
	# container=lxc: debootstrap then skips its mknod probe of the target. QEMU's 9p server
	# refuses to chmod a device node it has just made (ENXIO, the CVE-2023-2861 fix), so mknod
	# on the rootfs share fails; /dev itself is a tmpfs in the guest.
	make_config "$ds" '["/bin/sh","/debootstrap/debootstrap","--second-stage"]' 'c["process"]["env"] += ["container=lxc"]'
	start=$(date +%s)
	timeout 1800 "$RUNVM" run --bundle "$ds" "rvds-$$" >"$work/last" 2>&1 </dev/null
	rc=$?
	check "... its second stage in a runvm container, an aarch64 guest ($(($(date +%s) - start)) s)" test "$rc" = 0
	make_config "$ds" '["/usr/bin/dpkg","--print-architecture"]'
	out=$("$RUNVM" run --bundle "$ds" "rvds2-$$" 2>"$work/last" </dev/null)
	echo "out=$out" >> "$work/last"
	check "... runvm run of the result: dpkg --print-architecture is arm64" test "$out" = arm64
fi

tap_finish build
