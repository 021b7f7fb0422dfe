#!/bin/bash
# The libvirt backend against a real libvirtd: a private virtlogd + libvirtd (tests/lib/libvirtd.sh:
# its own mount namespace, nothing written to the host, stopped by pid after), then
#   - the QEMU command line libvirt derives from the golden domain XML (virsh domxml-to-native),
#     against golden files (UPDATE_GOLDEN=1 rewrites them);
#   - what only this backend has: the domain named after the container in `virsh list`, QEMU in
#     the container's cgroup, a domain destroyed behind runvm's back (virsh destroy), failures
#     named in one line (no daemon, a refused domain, QEMU missing, the daemon killed mid-run);
#   - the integration suite's run, lifecycle, exec, net, oom, arm64 and fileio parts with
#     backend = libvirt;
#   - a Docker subset through a private dockerd (tests/libvirt/docker.sh).
# Prints TAP and closing lines for each part. Needs RUNVM and RUNVM_CONFIG, and root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/bundle.sh"
. "$here/../lib/tap.sh"
. "$here/../lib/libvirtd.sh"
: "${RUNVM:?set RUNVM to the runvm binary}"
: "${RUNVM_CONFIG:?set RUNVM_CONFIG to a runvm configuration}"

command -v virsh >/dev/null && command -v libvirtd >/dev/null ||
	tap_skip_all libvirt "libvirt is not installed (make deps installs libvirt-daemon-system and libvirt-clients)"

work=$(mktemp -d /tmp/runvm-lv-XXXXXX)
root=$work/state
rc_all=0
cleanup() {
	libvirtd_stop
	pkill -KILL -f -- "$work/" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

libvirtd_start "$work/daemon" 2>"$work/start.err"
case $? in
0) ;;
2) tap_skip_all libvirt "$(tail -1 "$work/start.err")" ;;
*)
	not_ok "a private libvirtd starts" "$(cat "$work/start.err")"
	tap_finish libvirt
	;;
esac
V=(virsh -q -c "$LIBVIRT_URI")
echo "# $("${V[@]}" version 2>&1 | tr '\n' ' ')"

# The suites' configuration: the tests' kernels, the libvirt backend, this daemon.
conf=$work/runvm.conf
sed -e '/^#*backend = /d' -e '/^\[runvm\]/a backend = libvirt' -e '/^\[libvirt\]/,$d' "$RUNVM_CONFIG" > "$conf"
printf '\n[libvirt]\nuri = %s\n' "$LIBVIRT_URI" >> "$conf"
export RUNVM_CONFIG=$conf
R=("$RUNVM" --root "$root")

# --- what libvirt would run ----------------------------------------------------------------
# One argument per line; what is not the XML's (the domain's random UUID and MAC, the tap's fd
# number, the daemon's PATH) in words.
native_args() {
	"${V[@]}" domxml-to-native qemu-argv "$1" | python3 -c '
import re, shlex, sys
a = shlex.split(sys.stdin.read())
a = a[next(i for i, w in enumerate(a) if "qemu-system" in w):]
for i, w in enumerate(a):
    w = re.sub(r"\"mac\":\"[0-9a-f:]+\"", "\"mac\":\"MAC\"", w)
    w = re.sub(r"\"type\":\"tap\",\"fd\":\"[0-9]+\"", "\"type\":\"tap\",\"fd\":\"FD\"", w)
    print("UUID" if i and a[i - 1] == "-uuid" else w)'
}
for g in x86_64-tcg aarch64-tcg; do
	got=$(native_args "$top/tests/unit/libvirt/$g.xml" 2>&1)
	if [ -n "${UPDATE_GOLDEN:-}" ]; then printf '%s\n' "$got" > "$here/golden/$g.args"; fi
	if [ "$got" = "$(cat "$here/golden/$g.args")" ]; then
		ok "$g: the QEMU command line libvirt derives matches tests/libvirt/golden/$g.args"
	else
		not_ok "$g: the QEMU command line libvirt derives" "$(diff <(printf '%s\n' "$got") "$here/golden/$g.args" | head -20)"
	fi
done
args=$(cat "$here/golden/x86_64-tcg.args")
check_args() { grep -qx -- "$1" <<<"$args"; }
if check_args "-accel" && check_args "tcg" && check_args "-no-acpi" && ! grep -q -- "-device.*usb\|balloon\|-vnc\|-spice" <<<"$args" &&
	grep -q "virtio-9p-pci" <<<"$args" && grep -q "virtserialport.*runvm.agent" <<<"$args"; then
	ok "the domain is TCG, no ACPI, no USB, balloon or display; 9p shares and the agent's port"
else
	not_ok "the domain's devices" "$args"
fi

# --- this backend's own ---------------------------------------------------------------------
bundle=$work/bundle
mkdir -p "$bundle"
make_rootfs "$bundle/rootfs"

# A container that runs until killed, created in the background (create returns once its VM is
# up); sets mon_pid.
create_bg() {
	local id=$1
	make_config "$bundle" '["sleep","300"]' "${2:-}"
	"${R[@]}" --log "$work/$id.log" create --bundle "$bundle" --pid-file "$work/$id.pid" "$id" </dev/null \
		>"$work/$id.out" 2>"$work/$id.err"
	mon_pid=$(cat "$work/$id.pid" 2>/dev/null)
}
state_of() { "${R[@]}" state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null; }
qemu_pid_of() { cat "/proc/$libvirtd_pid/root/run/libvirt/qemu/runvm-$1.pid" 2>/dev/null; }

out=$("$RUNVM" check 2>&1)
if grep -q "^libvirt  *yes, $LIBVIRT_URI: libvirt 9\|^libvirt  *yes, .*QEMU" <<<"$out" &&
	grep -q "^run would use *backend libvirt, accelerator tcg" <<<"$out"; then
	ok "runvm check: the daemon reachable, its versions, the backend run would use"
else
	not_ok "runvm check shows the libvirt backend" "$out"
fi

cg=/runvm-lv-test-$$
create_bg lv-a 'c["linux"]["cgroupsPath"] = "'$cg'"'
qp=$(qemu_pid_of lv-a)
if [ -n "$mon_pid" ] && "${V[@]}" list --name | grep -qx runvm-lv-a && [ "$(state_of lv-a)" = created ]; then
	ok "create: a transient domain named runvm-ID (virsh list), the container created"
else
	not_ok "create: the domain in virsh list" "$(cat "$work/lv-a.err")" "$("${V[@]}" list --all 2>&1)"
fi
if "${V[@]}" dumpxml runvm-lv-a | grep -q "<runvm:container[^>]*>lv-a</runvm:container>"; then
	ok "the domain's metadata names the container"
else
	not_ok "the domain's metadata names the container" "$("${V[@]}" dumpxml runvm-lv-a 2>&1 | head -20)"
fi
if [ -n "$qp" ] && grep -q ":$cg\$" "/proc/$qp/cgroup" && ! grep -q "machine" "/proc/$qp/cgroup"; then
	ok "QEMU (pid $qp) moved from libvirt's machine cgroups into the container's ($cg)"
else
	not_ok "QEMU in the container's cgroup" "pid=$qp" "$(cat "/proc/$qp/cgroup" 2>&1)"
fi
"${R[@]}" start lv-a 2>"$work/err"
"${R[@]}" pause lv-a 2>>"$work/err"
st=$("${V[@]}" domstate runvm-lv-a 2>&1)
"${R[@]}" resume lv-a 2>>"$work/err"
if [ "$st" = paused ] && [ "$("${V[@]}" domstate runvm-lv-a 2>&1)" = running ] && [ "$(state_of lv-a)" = running ]; then
	ok "pause and resume suspend and run the domain"
else
	not_ok "pause and resume" "domstate while paused: $st" "$(cat "$work/err")"
fi
"${V[@]}" destroy runvm-lv-a >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$mon_pid" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$mon_pid" 2>/dev/null && [ "$(state_of lv-a)" = stopped ] &&
	grep -q "destroyed from outside runvm" "$work/lv-a.log"; then
	ok "virsh destroy: the monitor ends, the container is stopped, the reason logged"
else
	not_ok "virsh destroy of a running container" "state=$(state_of lv-a)" "$(tail -3 "$work/lv-a.log")"
fi
"${R[@]}" delete lv-a 2>"$work/err"
if [ ! -e "$root/lv-a" ] && ! "${V[@]}" list --all --name | grep -q runvm-lv-a && [ ! -e "/sys/fs/cgroup/memory$cg" ]; then
	ok "delete cleans up: no state, no domain, no cgroup"
else
	not_ok "delete after virsh destroy" "$(cat "$work/err")"
fi
for d in /sys/fs/cgroup/*"$cg"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done

# expect_fail NAME NEEDLE ID [PY]: `run` (of config.json changed by PY) fails with status 1, one
# line on stderr holding NEEDLE, nothing left (no state, no domain).
expect_fail() {
	local name=$1 needle=$2 id=$3
	make_config "$bundle" '["true"]' "${4:-}"
	timeout 120 "${R[@]}" run --bundle "$bundle" "$id" </dev/null >/dev/null 2>"$work/err"
	local rc=$? lines
	lines=$(wc -l <"$work/err")
	if [ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -q -- "$needle" "$work/err" && [ ! -e "$root/$id" ] &&
		! "${V[@]}" list --all --name | grep -q "runvm-$id"; then
		ok "$name: $(cat "$work/err")"
	else
		not_ok "$name" "rc=$rc lines=$lines" "$(cat "$work/err")"
	fi
}
sed "s|^uri = .*|uri = qemu:///system?socket=$work/no-such-sock|" "$conf" > "$work/nodaemon.conf"
RUNVM_CONFIG=$work/nodaemon.conf expect_fail "no daemon" "libvirt's daemon is not running" lv-nod
sed "/^\[libvirt\]/a machine = not a machine" "$conf" > "$work/badxml.conf"
RUNVM_CONFIG=$work/badxml.conf expect_fail "XML the schema refuses: libvirt's message" "failed to validate" lv-badx
sed "/^\[libvirt\]/a machine = no-such-machine" "$conf" > "$work/badmachine.conf"
RUNVM_CONFIG=$work/badmachine.conf expect_fail "a machine type QEMU lacks: libvirt's message" "libvirt cannot start domain" lv-badm

# A container choosing its backend (io.runvm.backend): only where the configuration allows it.
annot='c["annotations"] = {"io.runvm.backend": "libvirt"}'
sed -e 's/^backend = libvirt/backend = qemu/' "$conf" > "$work/qemu.conf"
RUNVM_CONFIG=$work/qemu.conf expect_fail "the io.runvm.backend annotation, not allowed: refused" \
	"backend_annotation = true" lv-annot "$annot"
sed -i '/^\[runvm\]/a backend_annotation = true' "$work/qemu.conf"
make_config "$bundle" '["true"]' "$annot"
RUNVM_CONFIG=$work/qemu.conf "${R[@]}" --debug --log "$work/annot.log" run --bundle "$bundle" lv-annot </dev/null \
	>/dev/null 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q "backend libvirt, accelerator" "$work/annot.log"; then
	ok "the annotation, allowed: the container runs under libvirt though the configuration says qemu"
else
	not_ok "the io.runvm.backend annotation, allowed" "rc=$rc" "$(grep -m3 "backend\|error" "$work/annot.log")"
fi

# virtio-fs (`[libvirt] virtiofsd`; here QEMU 7.2's C virtiofsd, libvirt starting one per
# writable share): the rootfs and the bind mounts' share over it, the container's writes on the
# host, the host's files in the guest, virtiofsd in the container's cgroup with QEMU.
vfsd=/usr/lib/qemu/virtiofsd
if [ -x "$vfsd" ]; then
	sed "/^\[libvirt\]/a virtiofsd = $vfsd" "$conf" > "$work/vfs.conf"
	mkdir -p "$work/bsrc" && echo from-the-host > "$work/bsrc/x"
	rm -f "$bundle/rootfs/vfs-out"
	make_config "$bundle" '["sh","-c","grep \" / \" /proc/mounts | cut -d\" \" -f3; cat /b/x; echo from-the-guest > /vfs-out"]' \
		'c["mounts"].append({"destination": "/b", "type": "bind", "source": "'"$work/bsrc"'", "options": ["rbind"]})'
	out=$(RUNVM_CONFIG=$work/vfs.conf timeout 120 "${R[@]}" run --bundle "$bundle" lv-vfs </dev/null 2>"$work/err")
	rc=$?
	if [ "$rc" = 0 ] && [ "$out" = "virtiofs
from-the-host" ] && [ "$(cat "$bundle/rootfs/vfs-out" 2>/dev/null)" = from-the-guest ]; then
		ok "virtio-fs: the rootfs mounted virtiofs, a bind mount read, the guest's write on the host"
	else
		not_ok "virtio-fs: the rootfs and a bind mount" "rc=$rc out=$out" "$(tail -3 "$work/err")"
	fi
	cg=/runvm-lv-vfs-$$
	RUNVM_CONFIG=$work/vfs.conf create_bg lv-vfs2 'c["linux"]["cgroupsPath"] = "'$cg'"'
	vp=$(pgrep -f "virtiofsd.*$bundle/rootfs" | head -1)
	if [ -n "$vp" ] && grep -q "memory:$cg\$" "/proc/$vp/cgroup" && grep -q ":cpu:$cg\$" "/proc/$vp/cgroup"; then
		ok "virtio-fs: virtiofsd (pid $vp) is in the container's cgroup with QEMU"
	else
		not_ok "virtiofsd in the container's cgroup" "pid=$vp" "$(cat "/proc/$vp/cgroup" 2>&1)" "$(cat "$work/lv-vfs2.err")"
	fi
	"${R[@]}" delete -f lv-vfs2 2>/dev/null
	for d in /sys/fs/cgroup/*"$cg"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
else
	skip "virtio-fs" "no $vfsd (qemu-system-common)"
fi

# The daemon killed while a container runs: the connection is lost, the container ends with an
# error naming it, and QEMU (libvirtd's child, now no one's) is killed by runvm.
create_bg lv-b
qp=$(qemu_pid_of lv-b)
"${R[@]}" start lv-b 2>/dev/null
kill -KILL "$libvirtd_pid"
for _ in $(seq 150); do kill -0 "$mon_pid" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$mon_pid" 2>/dev/null && [ -n "$qp" ] && ! libvirtd_alive "$qp" &&
	grep -q "connection to libvirt's daemon" "$work/lv-b.log"; then
	ok "libvirtd killed mid-run: the monitor says so and ends, QEMU is gone"
else
	not_ok "libvirtd killed mid-run" "monitor alive: $(kill -0 "$mon_pid" 2>/dev/null && echo yes)" \
		"qemu $qp alive: $(libvirtd_alive "$qp" && echo yes)" "$(tail -3 "$work/lv-b.log")"
fi
"${R[@]}" delete -f lv-b 2>/dev/null
[ ! -e "$root/lv-b" ] && ok "delete after the daemon died leaves nothing" || not_ok "delete after the daemon died"
libvirtd_stop
tap_plan
tap_summary libvirt
[ "$tap_fail" = 0 ] || rc_all=1

# --- the shared suites, through a fresh daemon -------------------------------------------
if ! libvirtd_start "$work/daemon" 2>"$work/start.err"; then
	echo "not ok - a private libvirtd starts again"
	cat "$work/start.err"
	exit 1
fi
sed -i "s|^uri = .*|uri = $LIBVIRT_URI|" "$conf"
IT_ONLY="run lifecycle exec net oom arm64 fileio" "$top/tests/integration/run.sh" || rc_all=1
"$here/docker.sh" || rc_all=1
exit $rc_all
