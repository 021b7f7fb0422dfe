# The jail of the VMM process, QEMU's or the kvm backend's (SECURITY.md, "The jail, by backend"),
# read from the host while a container runs, and what happens when the VMM is killed the way a seccomp filter kills it.
# Sourced by run.sh.

# Capabilities the VMM keeps for its 9p server: CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID
# (bits 0-4), MKNOD (27), SETFCAP (31).
jail_caps=000000008800001f
marker=$work/host-only-file
: >"$marker"
mkdir -p "$root/other-container" && : >"$root/other-container/state.json"

create_bg jl1 '["sleep","600"]'
"${R[@]}" start jl1 >/dev/null 2>"$work/stderr"; rc=$?
# The VMM is the monitor's child: QEMU, or the kvm backend's own VMM process (comm runvm-vmm).
qpid=$(pgrep -P "$mon_pid" 2>/dev/null | head -1)
if grep -q qemu-system "/proc/$qpid/cmdline" 2>/dev/null; then vmm=QEMU; else vmm=$(cat "/proc/$qpid/comm" 2>/dev/null); fi
out=$(cat "/proc/$qpid/status" 2>/dev/null); err=$(cat "$work/stderr")
field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' <<<"$out"; }
check "jail: the VMM ($vmm) is the running monitor's child" eval '[ "$rc" = 0 ] && [ -n "$qpid" ] && { [ "$vmm" = QEMU ] || [ "$vmm" = runvm-vmm ]; }'
check "jail: CapEff, CapPrm, CapInh, CapAmb and CapBnd are the 9p server's only ($jail_caps)" eval \
	'[ "$(field CapEff)" = $jail_caps ] && [ "$(field CapPrm)" = $jail_caps ] && [ "$(field CapInh)" = $jail_caps ] && [ "$(field CapBnd)" = $jail_caps ] && [ "$(field CapAmb)" = $jail_caps ]'
if [ "$vmm" = QEMU ]; then
	check "jail: Seccomp: 2, two filters at least (runvm's and QEMU's -sandbox)" eval '[ "$(field Seccomp)" = 2 ] && [ "$(field Seccomp_filters)" -ge 2 ]'
else
	# Every thread but the main one (which only answers the monitor) is a vCPU or the I/O
	# thread, each with the process's filter and its own.
	threads_filtered() {
		local n=0 t f
		for t in /proc/$qpid/task/*; do
			[ "$t" = "/proc/$qpid/task/$qpid" ] && continue
			f=$(awk '$1 == "Seccomp_filters:" {print $2}' "$t/status" 2>/dev/null)
			[ "${f:-0}" -ge 2 ] || return 1
			n=$((n + 1))
		done
		[ "$n" -ge 2 ]
	}
	check "jail: Seccomp: 2 for the process, and its vCPU and I/O threads add a filter of their own" eval \
		'[ "$(field Seccomp)" = 2 ] && [ "$(field Seccomp_filters)" -ge 1 ] && threads_filtered'
fi
check "jail: NoNewPrivs: 1" test "$(field NoNewPrivs)" = 1
check "jail: runs as uid and gid 65534" eval '[ "$(field Uid)" = "65534 65534 65534 65534" ] && [ "$(field Gid)" = "65534 65534 65534 65534" ]'
ns_differ() { [ "$(readlink "/proc/$qpid/ns/$1")" != "$(readlink "/proc/$mon_pid/ns/$1")" ] && [ -n "$(readlink "/proc/$qpid/ns/$1")" ]; }
check "jail: mount, pid and ipc namespaces of its own" eval 'ns_differ mnt && ns_differ pid && ns_differ ipc'
check "jail: its network namespace is the container's (the monitor's)" eval '! ns_differ net'
check "jail: PID 1 of its pid namespace" eval '[ "$(field NSpid | awk "{print \$NF}")" = 1 ]'

# What it sees: /proc/PID/root is its root. Positive checks first, so that an unreadable root
# cannot pass for a hidden one.
r=/proc/$qpid/root
if [ "$vmm" = QEMU ]; then
	check "jail: it sees its binary, the rootfs share and the console log" eval \
		'[ -x "$r/usr/bin/qemu-system-x86_64" ] && [ -e "$r$bundle/rootfs/bin/sh" ] && [ -e "$r$root/jl1/console.log" ]'
else
	# It opened everything before the jail: its root holds its own /proc and nothing else.
	check "jail: it sees its own /proc (itself as PID 1) and nothing else at all" eval \
		'[ -e "$r/proc/1/status" ] && [ "$(ls -A "$r")" = proc ]'
fi
check "jail: the host's files are not visible (a file in /tmp, /etc/passwd, /root, /run, /home)" eval \
	'[ ! -e "$r$marker" ] && [ ! -e "$r/etc/passwd" ] && [ ! -e "$r/root" ] && [ ! -e "$r/run" ] && [ ! -e "$r/home" ]'
check "jail: no other container's state, nor its own beyond the console log" eval \
	'[ ! -e "$r$root/other-container" ] && [ ! -e "$r$root/jl1/state.json" ] && [ ! -e "$r$root/jl1/ctl.sock" ]'
mi=$(cat "/proc/$qpid/mountinfo" 2>/dev/null)
# mountinfo: field 5 is the mount point, 6 its options; after " - " the type.
root_line=$(awk '$5 == "/"' <<<"$mi")
check "jail: its root is a read-only tmpfs" eval '[[ "$root_line" == *" - tmpfs "* ]] && [[ "$(awk "{print \$6}" <<<"$root_line")" == ro,* ]]'
if [ "$vmm" = QEMU ]; then
	check "jail: every mount is nosuid, the rootfs share nodev,noexec" eval \
		'! awk "{print \$6}" <<<"$mi" | grep -vq nosuid && [[ "$(awk -v p="$bundle/rootfs" "\$5 == p {print \$6}" <<<"$mi")" == *nodev*noexec* ]]'
else
	check "jail: two mounts only, its root and its /proc, both nosuid" eval \
		'[ "$(awk "{print \$5}" <<<"$mi" | sort | tr "\n" " ")" = "/ /proc " ] && ! awk "{print \$6}" <<<"$mi" | grep -vq nosuid'
fi
check "jail: nothing of the host's /run, /home, /root, /var mounted (the container's own paths aside)" eval \
	'! awk "{print \$5}" <<<"$mi" | grep -v "^$work/" | grep -Eq "^/(run|home|root|var)(/|$)"'

# The VMM killed from outside: a SIGSYS sent from outside is not forced onto PID 1 of a pid
# namespace (only SIGKILL is), so it dies here of the one signal that is, and the container must
# survive that: stopped, deleted, nothing left. (A denied syscall made by the VMM itself: below.)
kill -KILL "$qpid" 2>/dev/null
status=$(wait_status jl1)
st=$(status_of jl1)
check "jail: the VMM killed: the container reports stopped" eval '[ -n "$status" ] && [ "$st" = stopped ]'
"${R[@]}" delete jl1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "jail: delete succeeds and leaves nothing" eval '[ "$rc" = 0 ] && nothing_left jl1 && [ ! -e /proc/$qpid ] && [ ! -e /proc/$mon_pid ]'
# A syscall outside the filter, made by the jailed VMM itself: tests/integration/vmm-syscall.c
# stands in for a QEMU a guest has taken over (it runs the real one as its child), and makes a
# denied unshare once the guest asks for it by creating /vmm-syscall-now. The filter must kill it
# with SIGSYS, the container report stopped with the hypervisor's status 159 (128 + SIGSYS),
# and delete leave nothing. (The kvm backend's VMM is runvm's own fork, no binary to stand in
# for: test_backends shows that the same filter kills a process that makes a denied call.)
qemu_bin=$(command -v qemu-system-x86_64 || true)
if [ "$vmm" != QEMU ]; then
	skip "jail: a denied syscall kills the VMM" "the VMM here is $vmm, runvm's own process: no QEMU binary to stand in for"
elif [ "$(uname -m)" != x86_64 ] || [ -z "$qemu_bin" ] || ! command -v cc >/dev/null; then
	skip "jail: a denied syscall kills the VMM" "needs an x86_64 host with qemu-system-x86_64 and a C compiler"
else
	cc -O2 -DREAL_QEMU="\"$qemu_bin\"" -o "$work/vmm-syscall" "$here/vmm-syscall.c"
	sed -e "s|^#binary = .*|binary = $work/vmm-syscall|" "$RUNVM_CONFIG" >"$work/jail-syscall.conf"
	rm -f "$bundle/rootfs/vmm-syscall-now"
	RUNVM_CONFIG=$work/jail-syscall.conf create_bg jl2 '["sh","-c","sleep 1; touch /vmm-syscall-now; sleep 600"]'
	RUNVM_CONFIG=$work/jail-syscall.conf "${R[@]}" start jl2 >/dev/null 2>"$work/stderr"
	vpid=$(pgrep -P "$mon_pid" 2>/dev/null | head -1)
	before=$(grep -E '^(Seccomp|NoNewPrivs):' "/proc/$vpid/status" 2>/dev/null | tr -s '\t\n' '  ')
	status=$(wait_status jl2)
	st=$(status_of jl2)
	log=$(cat "$work/jl2.err" "$root/jl2/error" 2>/dev/null | tr '\n' ' ')
	out="stand-in $vpid ($before), monitor status ${status:-none}, state ${st:-none}: $log" err=$(cat "$work/stderr") rc=
	check "jail: a denied syscall kills the VMM (SIGSYS); the container reports stopped" \
		eval '[ -n "$vpid" ] && [[ "$before" == *"Seccomp: 2"* ]] && [ -e "$bundle/rootfs/vmm-syscall-now" ] && [ -n "$status" ] && [ "$st" = stopped ] && [[ "$log" == *"status 159"* ]]'
	RUNVM_CONFIG=$work/jail-syscall.conf "${R[@]}" delete jl2 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
	check "jail: after the denied syscall, delete succeeds and leaves nothing" \
		eval '[ "$rc" = 0 ] && nothing_left jl2 && ! kill -0 "$vpid" 2>/dev/null && ! kill -0 "$mon_pid" 2>/dev/null'
	# A VMM the filter failed to kill is still running: take it down for the rest of the run.
	[ "$rc" = 0 ] || "${R[@]}" delete --force jl2 >/dev/null 2>&1
	rm -f "$bundle/rootfs/vmm-syscall-now" "$work/vmm-syscall"
fi
rm -rf "$root/other-container" "$marker"
