# Shared by the docker tests and bench: a private dockerd with runvm registered as a runtime.
# Source it, then: dockerd_start WORKDIR [DOCKERD_FLAGS...] (sets DOCKER_HOST and dockerd_pid;
# returns non-zero with the daemon's log tail on stderr if it does not come up) and dockerd_stop
# (removes every container and user-defined network, stops the daemon by its pid, unmounts and
# removes WORKDIR). Needs RUNVM and RUNVM_CONFIG. Without DOCKERD_FLAGS the daemon runs with
# --bridge=none --iptables=false: host networking stays untouched. DOCKERD_FLAGS replace those
# (the networking suite passes its own bridge, iptables on, and restores the host itself).

D=/usr/bin/docker
dockerd_pid=

dockerd_start() {
	dockerd_work=$1
	shift
	local -a flags=("$@")
	[ $# -gt 0 ] || flags=(--bridge=none --iptables=false --ip6tables=false --ip-masq=false)
	export DOCKER_HOST=unix://$dockerd_work/docker.sock
	# The runtime as dockerd calls it: the configuration comes with it.
	cat > "$dockerd_work/runvm" <<WRAP
#!/bin/sh
RUNVM_CONFIG='$RUNVM_CONFIG' exec '$RUNVM' "\$@"
WRAP
	chmod +x "$dockerd_work/runvm"
	dockerd --data-root "$dockerd_work/data" --exec-root "$dockerd_work/exec" --pidfile "$dockerd_work/docker.pid" \
		-H "$DOCKER_HOST" "${flags[@]}" \
		--add-runtime runvm="$dockerd_work/runvm" >"$dockerd_work/dockerd.log" 2>&1 &
	dockerd_pid=$!
	for _ in $(seq 300); do "$D" version >/dev/null 2>&1 && return 0; sleep 0.1; done
	tail -5 "$dockerd_work/dockerd.log" >&2
	return 1
}

dockerd_stop() {
	if [ -n "$dockerd_pid" ]; then
		"$D" ps -aq 2>/dev/null | xargs -r "$D" rm -f >/dev/null 2>&1
		# User-defined networks: their bridges (br-*) go with them.
		"$D" network ls -q --filter type=custom 2>/dev/null | xargs -r "$D" network rm >/dev/null 2>&1
		kill -TERM "$dockerd_pid" 2>/dev/null || true
		for _ in $(seq 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$dockerd_pid" 2>/dev/null || true
		dockerd_pid=
	fi
	# Only what this run started: processes naming our directory (shims, monitors, QEMU).
	pkill -KILL -f -- "$dockerd_work/" 2>/dev/null || true
	grep -o " $dockerd_work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$dockerd_work"
}
