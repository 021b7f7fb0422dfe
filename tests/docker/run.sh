#!/bin/bash
# Docker end to end: a real dockerd (Debian's docker.io) with runvm registered as a runtime,
# each check run under runvm and compared with the same command under runc. dockerd runs with
# --bridge=none --iptables=false (networking is another suite) on its own socket and
# directories, and is stopped by its pid, with what it created removed, also on failure.
# Prints TAP and a closing "N passed, N failed" line. Needs RUNVM and RUNVM_CONFIG.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/bundle.sh"
. "$here/../lib/tap.sh"
: "${RUNVM:?set RUNVM to the runvm binary}"
: "${RUNVM_CONFIG:?set RUNVM_CONFIG to a runvm configuration}"

. "$here/../lib/dockerd.sh"
. "$here/lib.sh"
if ! command -v dockerd >/dev/null || [ ! -x "$D" ]; then
	tap_skip_all docker "docker.io is not installed (make deps installs it)"
fi

work=$(mktemp -d /tmp/runvm-dk-XXXXXX)
trap dockerd_stop EXIT

if ! dockerd_start "$work"; then
	not_ok "dockerd started"
	tap_finish docker
fi
# Every container this run creates, by ID, for the last check: a stream, since the daemon keeps
# too few events for `docker events --since` to reach back to the first.
"$D" events --filter type=container --filter event=create --format '{{.Actor.ID}}' >"$work/created" 2>/dev/null &
events_pid=$!
echo "# docker $("$D" version --format '{{.Server.Version}}'), runc $(runc --version | head -1)"
make_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | "$D" import - rvtest >/dev/null

# container_cgroups ROOT IDS_FILE: the cgroup directories under ROOT named by an ID in IDS_FILE.
container_cgroups() {
	find "$1" -maxdepth 5 -type d -regextype posix-extended -regex '.*/(docker-)?[0-9a-f]{64}(\.scope)?' 2>/dev/null |
		grep -F -f "$2"
}

both "run --rm: output" run --rm RUNTIME --network none rvtest echo hello from docker
both "run --rm: exit 3" run --rm RUNTIME --network none rvtest sh -c 'exit 3'
both "run --rm: not found is 127" run --rm RUNTIME --network none rvtest no-such-program
for rt in runvm runc; do
	"$D" run --rm --runtime=$rt --network none --name "k-$rt" rvtest sleep 600 >/dev/null 2>&1 &
	bg=$!
	for _ in $(seq 100); do [ "$("$D" inspect -f '{{.State.Status}}' "k-$rt" 2>/dev/null)" = running ] && break; sleep 0.1; done
	"$D" kill "k-$rt" >/dev/null 2>&1
	wait "$bg"; eval "rc_$rt=\$?"
done
echo "runvm $rc_runvm runc $rc_runc" > "$work/last"
check "run --rm, then docker kill: 137 as with runc" test "$rc_runvm" = 137 -a "$rc_runc" = 137
printf 'line one\nline two\n' > "$work/stdin"
stdin_file=$work/stdin both "run -i: piped stdin" run --rm -i RUNTIME --network none rvtest sh -c 'cat; echo end'
both "run -e -w -u" run --rm RUNTIME --network none -e FOO=bar -w /tmp -u 1000:100 rvtest sh -c 'echo $FOO $(pwd) $(id -u):$(id -g)'
both "run --read-only" run --rm RUNTIME --network none --read-only rvtest sh -c 'touch /x 2>/dev/null; echo $?'
both "hostname is the container's" run --rm RUNTIME --network none --hostname rvhost rvtest hostname

out=$(script -qc "stty rows 40 cols 100; $D run --rm -t --runtime=runvm --network none rvtest sh -c 'sleep 0.5; tty; stty size'" /dev/null </dev/null | tr -d '\r')
echo "$out" > "$work/last"
check "run -t: a pty of the caller's size" eval '[[ "$out" == */dev/pts/* ]] && [[ "$out" == *"40 100"* ]]'

# A linux/arm64 image (Debian's busybox-static:arm64) runs in an aarch64 TCG guest that runvm
# picks from the image's binary: no flag beyond --runtime. runc has nothing to compare here (no
# binfmt emulation on this host), so the expected results are written out. Two VM starts only.
# rvtest-arm64 comes from `docker import --platform linux/arm64`, which before docker 23.0
# records the daemon's own architecture whatever the flag says (moby#42813); rvtest-arm64-img,
# whose image config says linux/arm64 as a pulled image's does, comes from `docker load`.
# arm64_image (lib.sh) makes that one.
if make_rootfs "$work/rootfs-arm64" arm64 2>"$work/last" &&
	tar -C "$work/rootfs-arm64" -c . | "$D" import --platform linux/arm64 - rvtest-arm64 >>"$work/last" 2>&1 &&
	arm64_image "$work/rootfs-arm64" rvtest-arm64-img:latest >>"$work/last" 2>&1; then
	echo "# docker import --platform linux/arm64 recorded $("$D" image inspect -f '{{.Os}}/{{.Architecture}}' rvtest-arm64)"
	arch=$("$D" image inspect -f '{{.Os}}/{{.Architecture}}' rvtest-arm64-img 2>"$work/last")
	check "docker load with an arm64 image config: the image is $arch" test "$arch" = linux/arm64
	out=$(printf 'piped in\n' | "$D" run --rm -i --runtime=runvm --network none rvtest-arm64 \
		sh -c 'uname -m; cat; echo to-stderr >&2; exit 3' 2>"$work/err"); rc=$?
	# Docker itself warns on stderr when the image's platform is not the host's.
	err=$(grep -v "WARNING: The requested image's platform" "$work/err")
	printf 'exit %s\nout=%s\nerr=%s\n' "$rc" "$out" "$(cat "$work/err")" > "$work/last"
	check "imported arm64 image, no flag: uname -m is aarch64" eval '[ "$(head -1 <<<"$out")" = aarch64 ]'
	check "... stdin, stdout, stderr and exit 3" eval '[ "$rc" = 3 ] && [ "$out" = "aarch64
piped in" ] && [ "$err" = to-stderr ]'
	cid=$("$D" run -d --runtime=runvm --network none rvtest-arm64-img sleep 600 2>"$work/last")
	out=$("$D" exec "$cid" uname -m 2>>"$work/last")
	check "exec into a running linux/arm64 container: uname -m is aarch64" test "$out" = aarch64
	out=$("$D" exec "$cid" sh -c 'echo in-exec; exit 4' 2>>"$work/last"); rc=$?
	echo "exit $rc out=$out" >> "$work/last"
	check "... exec: output and exit code 4" eval '[ "$rc" = 4 ] && [ "$out" = in-exec ]'
	"$D" rm -f "$cid" >>"$work/last" 2>&1
	check "rm -f of the running arm64 container: it and its VM are gone" eval '! "$D" inspect "$cid" >/dev/null 2>&1 && ! pgrep -f "$cid.*qemu" >/dev/null'
else
	not_ok "arm64 busybox images (docker import --platform linux/arm64, docker load)" "$(head -c 600 "$work/last")"
fi

# A Debian image (debootstrap, cached): dynamic binaries, bash, NSS, dpkg.
if deb=$("$here/../lib/debian-rootfs.sh" 2>"$work/last"); then
	"$D" import - rvdebian <"$deb" >/dev/null
	both "Debian image: bash, dpkg, NSS" run --rm RUNTIME --network none rvdebian bash -c 'cat /etc/debian_version; dpkg -s coreutils | grep ^Status; id -un 65534; echo $((6*7))'
	both "Debian image: exit code and stderr" run --rm RUNTIME --network none rvdebian bash -c 'ls /nonexistent; exit 2'
else
	not_ok "Debian rootfs from debootstrap" "$(cat "$work/last")"
fi

mkdir -p "$work/vol-vm" "$work/vol-rc"
echo from-host > "$work/vol-vm/in"; echo from-host > "$work/vol-rc/in"
out_vm=$("$D" run --rm --runtime=runvm --network none -v "$work/vol-vm:/data" rvtest sh -c 'cat /data/in; echo from-container > /data/out' 2>"$work/last")
out_rc=$("$D" run --rm --runtime=runc --network none -v "$work/vol-rc:/data" rvtest sh -c 'cat /data/in; echo from-container > /data/out' 2>>"$work/last")
check "-v hostdir:/data: read inside, a write visible on the host, as runc" eval '[ "$out_vm" = from-host ] && [ "$out_vm" = "$out_rc" ] && [ "$(cat "$work/vol-vm/out")" = from-container ]'
both "-v hostdir:/data:ro refuses writes" run --rm RUNTIME --network none -v "$work/vol-vm:/data:ro" rvtest sh -c 'echo x > /data/nope 2>/dev/null; echo $?'
check "... and nothing was written through it" test ! -e "$work/vol-vm/nope"
both "--tmpfs" run --rm RUNTIME --network none --tmpfs /scratch:size=1m rvtest sh -c 'grep -c " /scratch tmpfs" /proc/mounts; echo data > /scratch/f && cat /scratch/f'
both "--init" run --rm RUNTIME --network none --init rvtest sh -c 'cat /proc/1/cmdline | tr "\0" " "; echo'
both "the container's process is PID 1, as with runc" run --rm RUNTIME --network none rvtest sh -c 'echo $$'
both "/etc/hostname, /etc/hosts and /etc/resolv.conf come from docker" run --rm RUNTIME --network none --hostname hn1 rvtest sh -c 'cat /etc/hostname; grep -c hn1 /etc/hosts; test -e /etc/resolv.conf && echo resolv'

both "--network none: loopback only" run --rm RUNTIME --network none rvtest sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'
"$D" run --rm --runtime=runvm --network host rvtest true >"$work/last" 2>&1; rc=$?
check "--network host is refused with a clear error" eval '[ "$rc" != 0 ] && grep -q "network namespace cannot be shared" "$work/last"'

# Resources size the VM (host cgroup limits are the networking-and-resources issue's).
mem=$("$D" run --rm --runtime=runvm --network none --memory 256m rvtest sh -c 'sed -n "s/MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo' 2>"$work/last")
echo "MemTotal $mem kB" >> "$work/last"
check "--memory 256m: the guest shows about 256 MiB ($((mem / 1024)) MiB)" eval '[ "${mem:-0}" -gt $((240 * 1024)) ] && [ "$mem" -lt $((272 * 1024)) ]'
out=$("$D" run --rm --runtime=runvm --network none --cpus 2 rvtest nproc 2>"$work/last")
check "--cpus 2: the guest has 2 CPUs" test "$out" = 2
# A process filling its memory is OOM-killed and its shell goes on, as under runc's memcg.
both "--memory 64m: a memory hog is OOM-killed (137), the container goes on" \
	run --rm RUNTIME --network none --memory 64m rvtest sh -c 'tail /dev/zero; echo status $?'

# The host cgroup: docker stats reads the VM's cost there, and it goes with the container.
cid=$("$D" run -d --runtime=runvm --network none --memory 128m rvtest sleep 600 2>"$work/last")
pid=$("$D" inspect -f '{{.State.Pid}}' "$cid" 2>>"$work/last")
grep -h "memory:" "/proc/$pid/cgroup" >> "$work/last" 2>&1
limit=$(cat "/sys/fs/cgroup/memory/docker/$cid/memory.limit_in_bytes" 2>>"$work/last")
usage=$("$D" stats --no-stream --format '{{.MemUsage}}' "$cid" 2>>"$work/last")
echo "limit $limit usage $usage" >> "$work/last"
check "the monitor is in docker's cgroup, limited to the guest plus the VMM ($((limit >> 20)) MiB), docker stats reads it ($usage)" \
	eval 'grep -q "memory:/docker/$cid" "/proc/$pid/cgroup" && [ "$((limit >> 20))" = $((128 + 16 + 160)) ] && [[ "$usage" != 0B* ]]'
"$D" update --memory 200m --memory-swap 200m "$cid" >>"$work/last" 2>&1; rc=$?
limit=$(cat "/sys/fs/cgroup/memory/docker/$cid/memory.limit_in_bytes" 2>>"$work/last")
check "docker update --memory changes the host limit (now $((limit >> 20)) MiB)" eval '[ "$rc" = 0 ] && [ "$((limit >> 20))" = $((200 + 16 + 160)) ]'
"$D" rm -f "$cid" >/dev/null 2>&1
for _ in $(seq 20); do [ -e "/sys/fs/cgroup/memory/docker/$cid" ] || break; sleep 0.1; done
check "... and the cgroup is removed with the container" test ! -e "/sys/fs/cgroup/memory/docker/$cid"

uname_vm=$("$D" run --rm --runtime=runvm --network none rvtest uname -r)
echo "$uname_vm" > "$work/last"
check "the container runs on the guest kernel" eval '[[ "$uname_vm" == 6.1.* ]] && [ "$uname_vm" != "$(uname -r)" ]'

# A detached container through its life.
# Its process prints a tick every 100 ms: the pause check sees the guest stop and go on.
cid=$("$D" run -d --runtime=runvm --network none --name rvd rvtest sh -c 'echo logline; trap "echo got-term; exit 0" TERM; while :; do echo tick; sleep 0.1; done' 2>"$work/last")
sleep 1
"$D" logs rvd >"$work/last" 2>&1
check "run -d, logs" grep -q logline "$work/last"
out=$("$D" exec rvd sh -c 'echo in-exec; exit 4' 2>"$work/last"); rc=$?
check "exec: output and exit code 4" eval '[ "$rc" = 4 ] && [ "$out" = in-exec ]'
out=$("$D" exec -u 1000 -w /tmp rvd sh -c 'echo $(id -u) $(pwd)' 2>"$work/last")
check "exec -u -w" test "$out" = "1000 /tmp"
out=$(script -qc "stty rows 30 cols 90; $D exec -t rvd sh -c 'sleep 0.5; tty; stty size'" /dev/null </dev/null | tr -d '\r')
echo "$out" > "$work/last"
check "exec -t" eval '[[ "$out" == */dev/pts/* ]] && [[ "$out" == *"30 90"* ]]'
"$D" exec rvd no-such-program >/dev/null 2>&1; rc_vm=$?
cid_rc=$("$D" run -d --runtime=runc --network none rvtest sleep 600)
"$D" exec "$cid_rc" no-such-program >/dev/null 2>&1; rc_rc=$?
echo "runvm $rc_vm runc $rc_rc" > "$work/last"
check "exec of a missing program: same exit code as runc ($rc_rc)" test "$rc_vm" = "$rc_rc"
"$D" top rvd >"$work/last" 2>&1
check "top" grep -q PID "$work/last"
# The container's processes live in the guest; on the host it is its monitor (`runvm create ...
# ID`, State.Pid) and the hypervisor, which is what runvm ps gives docker top (as Kata does).
pid=$("$D" inspect -f '{{.State.Pid}}' rvd 2>>"$work/last") id=$("$D" inspect -f '{{.Id}}' rvd 2>>"$work/last")
echo "State.Pid $pid" >> "$work/last"
check "top shows the container's monitor (pid $pid, its command naming the container)" \
	eval '[ -n "$id" ] && awk -v pid="$pid" -v id="$id" '"'"'$2 == pid && index($0, id) { f = 1 } END { exit !f }'"'"' "$work/last"'
ticks() { "$D" logs "$1" 2>/dev/null | grep -c '^tick$'; }
t_run1=$(ticks rvd); sleep 0.5; t_run2=$(ticks rvd)
"$D" pause rvd >"$work/last" 2>&1 && "$D" inspect -f '{{.State.Status}}' rvd > "$work/st1"
# What the guest printed before it froze may still be on its way: 0.5 s for that.
sleep 0.5; t_paused1=$(ticks rvd); sleep 1.5; t_paused2=$(ticks rvd)
"$D" unpause rvd >>"$work/last" 2>&1
st1=$(cat "$work/st1" 2>/dev/null); st2=$("$D" inspect -f '{{.State.Status}}' rvd)
check "pause, unpause" test "$st1" = paused -a "$st2" = running
for _ in $(seq 50); do t_resumed=$(ticks rvd); [ "$t_resumed" -gt "$t_paused2" ] && break; sleep 0.1; done
echo "ticks: running $t_run1, 0.5 s later $t_run2; paused $t_paused1, 1.5 s later $t_paused2; unpaused $t_resumed" >> "$work/last"
check "paused, the guest makes no progress (tick $t_paused1, 1.5 s later $t_paused2); unpaused, it goes on ($t_resumed)" \
	eval '[ "$t_run2" -gt "$t_run1" ] && [ "$t_paused1" = "$t_paused2" ] && [ "$t_resumed" -gt "$t_paused2" ]'
echo "copied in" > "$work/cpin"
"$D" cp "$work/cpin" rvd:/cpin >"$work/last" 2>&1
out=$("$D" exec rvd cat /cpin 2>>"$work/last")
check "cp into a running container" test "$out" = "copied in"
"$D" exec rvd sh -c 'echo made inside > /made' && "$D" cp rvd:/made "$work/made" >"$work/last" 2>&1
check "cp out of a running container" grep -q "made inside" "$work/made"
"$D" diff rvd >"$work/last" 2>&1
check "diff shows the container's changes" eval 'grep -q "A /made" "$work/last"'
start=$(date +%s.%N)
"$D" stop -t 10 rvd >"$work/last" 2>&1
took=$(echo "$(date +%s.%N) - $start" | bc)
check "stop: SIGTERM reaches the process, well within the timeout (${took}s)" eval '"$D" logs rvd 2>&1 | grep -q got-term && [ "$(echo "$took < 8" | bc)" = 1 ]'
"$D" start rvd >/dev/null 2>&1; sleep 1
"$D" restart -t 5 rvd >"$work/last" 2>&1
check "start again, restart" eval '[ "$("$D" inspect -f "{{.State.Status}}" rvd)" = running ]'
"$D" kill rvd >"$work/last" 2>&1
rc=$("$D" wait rvd)
check "kill, wait: 137" test "$rc" = 137
"$D" rm -f rvd "$cid_rc" >"$work/last" 2>&1
check "rm -f" eval '! "$D" inspect rvd >/dev/null 2>&1'

cid=$("$D" run -d --runtime=runvm --network none rvtest sleep 600)
"$D" rm -f "$cid" >"$work/last" 2>&1
check "rm -f of a running container" eval '! "$D" inspect "$cid" >/dev/null 2>&1 && ! pgrep -f "$cid.*qemu" >/dev/null'

"$D" ps -aq | xargs -r "$D" rm -f >/dev/null 2>&1
kill "$events_pid" 2>/dev/null; wait "$events_pid" 2>/dev/null
# What a container leaves: a cgroup directory named by its ID, in any hierarchy (docker/ID with
# the cgroupfs driver, docker-ID.scope with systemd's). Not the listing of docker's parent cgroup:
# dockerd makes that, with its control files, at its first container, so a first run would
# differ from the next ones whatever the containers did.
for _ in $(seq 30); do
	left=$(container_cgroups /sys/fs/cgroup "$work/created")
	[ -z "$left" ] && break
	sleep 0.1
done
{ echo "$(grep -c . "$work/created") containers created (the last $cid); cgroups left:"; echo "$left"; } > "$work/last"
check "every container's cgroup is gone with it" eval 'grep -qx "$cid" "$work/created" && [ -z "$left" ]'

tap_finish docker
