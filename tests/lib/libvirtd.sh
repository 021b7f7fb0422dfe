# Shared by the libvirt backend's tests: a private virtlogd + libvirtd that leaves the host as it
# was. Source it, then:
#   libvirtd_start WORKDIR   starts both daemons in a private mount namespace (slave propagation:
#                            host mounts made later still show inside). There, tmpfs cover
#                            /etc/libvirt (our own libvirtd.conf, virtlogd.conf, qemu.conf),
#                            /run/libvirt, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt,
#                            so nothing the daemons write lands on the host, and no network, pool
#                            or filter is defined (no virbr0, no dnsmasq, no firewall rule). QEMU
#                            runs as root with its capabilities (9p passthrough keeps owners).
#                            Only the client socket is host-visible, in WORKDIR/sock. Sets
#                            LIBVIRT_URI (exported), libvirtd_pid and virtlogd_pid (host pids).
#                            Returns 0 once `virsh -c "$LIBVIRT_URI" version` answers, 1 with the
#                            logs' tails on stderr if that does not happen within
#                            LIBVIRTD_START_TIMEOUT seconds (30), 2 if the host lacks what it
#                            needs (the libvirt-qemu user, the binaries): the caller skips.
#   libvirtd_stop            (after a failed start too) destroys the daemon's domains, stops
#                            libvirtd then virtlogd by pid, kills what is left of what they
#                            started (QEMU by its pid file, anything still in the daemons' mount
#                            namespace), removes WORKDIR and, once no libvirtd or virtlogd runs
#                            on the host any more, the empty cgroups libvirt made and the mount
#                            points made for it.
# Inside the namespace, what the daemons keep is readable from outside through
# /proc/$libvirtd_pid/root: QEMU's pid files in /run/libvirt/qemu, its logs in
# /var/log/libvirt/qemu. The QEMU capability cache is on a tmpfs too, so each start probes QEMU
# again (a few seconds under TCG); LIBVIRTD_CACHE_DIR=DIR (a directory of the caller's) keeps it
# in DIR instead. The mounts are made with `mount -n`: libmount would create the host's
# /run/mount otherwise.
# What is left on the host while it runs: a tmpfs needs a mount point, so one of the five that
# the host lacks is made (Debian makes /run/libvirt only when its service starts); and without
# systemd, libvirt 9.0 makes each QEMU's cgroups itself, at the top of every v1 hierarchy it
# uses and of the unified one (here cpu, cpuset, memory, blkio, freezer, unified):
# machine/qemu-N-NAME.libvirt-qemu/{emulator,vcpuN}. It removes its qemu-* ones when a domain
# ends, not machine/. Instances may run side by side: the first to start records the host's
# state in $libvirtd_shared, the last to stop restores it (under a lock on /tmp). A mount point
# stays while any libvirtd or virtlogd runs: removing a directory unmounts what another mount
# namespace has mounted on it.

libvirtd_pid=
virtlogd_pid=
libvirtd_reaper_pid=
libvirtd_work=
libvirtd_mntns=
libvirtd_shared=/tmp/runvm-tests-libvirtd.host

# The five directories the daemons write to, covered with tmpfs inside the namespace.
libvirtd_dirs=(/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt)

# The daemons' ancestor: a subreaper that reaps them and the QEMU processes libvirtd leaves to
# its nearest subreaper. Without one, they go to the host's init, which may reap slowly, and
# libvirtd counts a zombie QEMU as running: `virsh destroy` would wait for init. It writes the
# exit status of the command it runs to RCFILE, and ends when its last child is gone.
libvirtd_reaper_py='
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
rcfile, cmd = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
_, st = os.waitpid(pid, 0)
with open(rcfile + ".new", "w") as f:
    f.write(str(os.waitstatus_to_exitcode(st)))
os.rename(rcfile + ".new", rcfile)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
'

# Whether PID runs (a zombie has ended).
libvirtd_alive() {
	local st
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# TERM, then KILL after a bounded wait.
libvirtd_kill() {
	local pid=$1
	libvirtd_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do libvirtd_alive "$pid" || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	for _ in $(seq 50); do libvirtd_alive "$pid" || return 0; sleep 0.1; done
}

# Whether any libvirtd or virtlogd runs on the host (ours, another instance's, the host's own).
libvirtd_any() {
	ps -eo stat=,comm= | awk '$1 !~ /^Z/ && ($2 == "libvirtd" || $2 == "virtlogd") { f = 1 } END { exit !f }'
}

libvirtd_lock() {
	exec {libvirtd_lockfd}</tmp && flock -w 120 "$libvirtd_lockfd"
}

libvirtd_unlock() {
	[ -n "${libvirtd_lockfd:-}" ] && exec {libvirtd_lockfd}<&-
	libvirtd_lockfd=
}

libvirtd_cgroups() {
	find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | LC_ALL=C sort
}

libvirtd_logs() {
	local f
	for f in "$libvirtd_work"/start.log "$libvirtd_work"/virtlogd.log "$libvirtd_work"/libvirtd.log; do
		[ -s "$f" ] || continue
		echo "--- ${f##*/}"
		tail -n 10 "$f"
	done
}

libvirtd_start() {
	local work q deadline
	if ! getent passwd libvirt-qemu >/dev/null; then
		echo "libvirtd: no libvirt-qemu user: libvirtd's QEMU driver will not start without it" \
			"(install libvirt-daemon-system, or useradd -r libvirt-qemu)" >&2
		return 2
	fi
	for q in libvirtd virtlogd virsh unshare flock python3 qemu-system-x86_64; do
		if ! command -v "$q" >/dev/null; then
			echo "libvirtd: $q not found" >&2
			return 2
		fi
	done
	work=$(realpath -m "$1") || return 1
	mkdir -p "$work/etc" "$work/sock" || return 1
	libvirtd_work=$work
	libvirtd_pid=
	virtlogd_pid=
	libvirtd_reaper_pid=

	cat >"$work/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$work/sock"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
listen_tls = 0
listen_tcp = 0
log_outputs = "3:file:$work/libvirtd.log"
EOF
	cat >"$work/etc/virtlogd.conf" <<EOF
log_outputs = "3:file:$work/virtlogd.log"
EOF
	# QEMU as root, capabilities kept: the 9p passthrough server sets files' owners. Files
	# keep their owners (no chown, no remembered-owner xattrs on the host's files).
	cat >"$work/etc/qemu.conf" <<EOF
user = "root"
group = "root"
clear_emulator_capabilities = 0
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "logd"
EOF
	: >"$work/start.log"
	libvirtd_lock || return 1
	# The host as it was before the first instance: what the last one to stop restores.
	if [ ! -d "$libvirtd_shared" ]; then
		mkdir -p "$libvirtd_shared/members" && libvirtd_cgroups >"$libvirtd_shared/cgroups" &&
			: >"$libvirtd_shared/made" || { libvirtd_unlock; return 1; }
	fi
	for q in "${libvirtd_dirs[@]}"; do
		if [ ! -d "$q" ]; then
			mkdir -p "$q" && echo "$q" >>"$libvirtd_shared/made" || { libvirtd_unlock; return 1; }
		fi
	done
	# The namespace lives as long as the daemons: the shell only sets it up and starts them,
	# under our subreaper (see libvirtd_reaper_py).
	env -u LIBVIRT_DEFAULT_URI -u LIBVIRT_LOG_OUTPUTS -u LIBVIRT_LOG_FILTERS \
		W="$work" CACHE="${LIBVIRTD_CACHE_DIR:-}" DIRS="${libvirtd_dirs[*]}" \
		python3 -c "$libvirtd_reaper_py" "$work/start.rc" unshare -m --propagation slave bash -c '
		set -e
		for d in $DIRS; do mount -n -t tmpfs -o mode=0755,size=64m libvirt "$d"; done
		if [ -n "$CACHE" ]; then mkdir -p "$CACHE"; mount -n --bind "$CACHE" /var/cache/libvirt; fi
		cp "$W"/etc/*.conf /etc/libvirt/
		mkdir -p /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt/qemu /run/libvirt/qemu
		virtlogd -d -f /etc/libvirt/virtlogd.conf -p "$W/virtlogd.pid"
		for _ in $(seq 50); do [ -S /run/libvirt/virtlogd-sock ] && break; sleep 0.1; done
		libvirtd -d -f /etc/libvirt/libvirtd.conf -p "$W/libvirtd.pid"
	' >>"$work/start.log" 2>&1 </dev/null {libvirtd_lockfd}<&- &
	libvirtd_reaper_pid=$!
	: >"$libvirtd_shared/members/$libvirtd_reaper_pid"
	for _ in $(seq 200); do [ -s "$work/start.rc" ] && break; sleep 0.1; done
	libvirtd_unlock
	q=$(cat "$work/start.rc" 2>/dev/null) || true
	virtlogd_pid=$(cat "$work/virtlogd.pid" 2>/dev/null) || true
	libvirtd_pid=$(cat "$work/libvirtd.pid" 2>/dev/null) || true
	libvirtd_mntns=$(readlink "/proc/${virtlogd_pid:-0}/ns/mnt" 2>/dev/null) || true
	export LIBVIRT_URI="qemu:///system?socket=$work/sock/libvirt-sock"
	# A client that connects while the drivers initialize waits for them: bound each try too.
	deadline=$((SECONDS + ${LIBVIRTD_START_TIMEOUT:-30}))
	while [ "$q" = 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
		if ! libvirtd_alive "$libvirtd_pid"; then
			echo "libvirtd: the daemon exited" >&2
			break
		fi
		timeout $((deadline - SECONDS + 1)) virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "libvirtd: not answering on $LIBVIRT_URI within ${LIBVIRTD_START_TIMEOUT:-30} s" \
		"(setup exit status: ${q:-none})" >&2
	libvirtd_logs >&2
	return 1
}

libvirtd_stop() {
	local d pid p root qemu_pids=() new
	[ -n "$libvirtd_work" ] || return 0
	# The namespace's files, while one of its daemons holds it.
	root=
	for pid in "$libvirtd_pid" "$virtlogd_pid"; do
		libvirtd_alive "$pid" && root=/proc/$pid/root && break
	done
	if [ -n "$root" ]; then
		for p in "$root"/run/libvirt/qemu/*.pid; do
			[ -f "$p" ] && qemu_pids+=("$(cat "$p" 2>/dev/null || true)")
		done
	fi
	if libvirtd_alive "$libvirtd_pid"; then
		for d in $(virsh -c "$LIBVIRT_URI" list --name 2>/dev/null); do
			virsh -c "$LIBVIRT_URI" destroy "$d" >/dev/null 2>&1 || true
		done
	fi
	libvirtd_kill "$libvirtd_pid"
	libvirtd_kill "$virtlogd_pid"
	# What they left: QEMU (in a mount namespace of its own), anything else in theirs.
	for pid in "${qemu_pids[@]}"; do
		[ -n "$pid" ] && grep -qs qemu "/proc/$pid/comm" && kill -KILL "$pid" 2>/dev/null
	done
	if [ -n "$libvirtd_mntns" ]; then
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$libvirtd_mntns" ] && kill -KILL "${p#/proc/}" 2>/dev/null
		done
	fi
	# The subreaper reaps them all and then ends: nothing of ours is left, zombies included.
	for pid in "$libvirtd_pid" "$virtlogd_pid" "${qemu_pids[@]}"; do
		for _ in $(seq 50); do [ -n "$pid" ] && [ -e "/proc/$pid" ] || break; sleep 0.1; done
	done
	libvirtd_kill "$libvirtd_reaper_pid"
	[ -z "$libvirtd_reaper_pid" ] || wait "$libvirtd_reaper_pid" 2>/dev/null || true
	rm -rf "$libvirtd_work"
	# The last instance out restores the host: libvirt's new cgroups below a "machine"
	# partition, deepest first and only empty ones (rmdir refuses the others), then the mount
	# points made for the namespaces.
	if libvirtd_lock; then
		[ -z "$libvirtd_reaper_pid" ] || rm -f "$libvirtd_shared/members/$libvirtd_reaper_pid"
		for p in "$libvirtd_shared"/members/*; do
			[ -e "$p" ] && ! libvirtd_alive "${p##*/}" && rm -f "$p"
		done
		if [ -d "$libvirtd_shared" ] && [ -z "$(ls -A "$libvirtd_shared/members" 2>/dev/null)" ]; then
			new=$(libvirtd_cgroups | LC_ALL=C comm -13 "$libvirtd_shared/cgroups" - | grep -E '/machine(/|$)' || true)
			for _ in 1 2 3; do
				printf '%s\n' "$new" | awk 'NF { print gsub("/", "/"), $0 }' | sort -rn | cut -d' ' -f2- |
					while read -r d; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
				printf '%s\n' "$new" | while read -r d; do [ -n "$d" ] && [ -d "$d" ] && exit 1; done && break || true
				sleep 0.2
			done
			# Else a later instance's stop does it.
			if ! libvirtd_any; then
				tac "$libvirtd_shared/made" 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done
				rm -rf "$libvirtd_shared"
			fi
		fi
		libvirtd_unlock
	fi
	libvirtd_work= libvirtd_pid= virtlogd_pid= libvirtd_reaper_pid= libvirtd_mntns=
	unset LIBVIRT_URI
}
