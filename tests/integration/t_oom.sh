# A process that fills memory is OOM-killed inside the guest's memory cgroup (the agent's), as
# under runc with a memory limit: only it dies (137), quickly, and the rest of the container and
# the VM go on. Without that cgroup the guest's global OOM killer came after minutes of thrash
# under TCG. Sourced by run.sh.

mem64='c["linux"]["resources"] = {"memory": {"limit": 64*1024*1024}}'

# The main process is a shell that survives its child, the hog: exit 0 after "status 137".
# In the background with a deadline, so that a thrashing guest fails the check, not the suite.
make_config "$bundle" '["sh","-c","tail /dev/zero; echo status $?"]' "$mem64"
t0=$(date +%s)
"$RUNVM" --root "$root" run --bundle "$bundle" oom1 </dev/null >"$work/oom1.out" 2>"$work/oom1.err" &
pid=$!
for _ in $(seq 900); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	"${R[@]}" delete --force oom1 2>/dev/null
fi
wait "$pid"; rc=$?
secs=$(($(date +%s) - t0))
out=$(cat "$work/oom1.out"); err=$(cat "$work/oom1.err")
check "a process filling a 64 MiB container's memory is OOM-killed (137), its shell goes on ($secs s)" \
	eval '[ "$rc" = 0 ] && [ "$out" = "status 137" ] && [ "$secs" -lt 90 ]'
nothing_left oom1 >/dev/null || "${R[@]}" delete --force oom1 2>/dev/null

# An EXEC'd process is in the same cgroup and cgroup namespace: the container's own cgroup
# mount shows that cgroup (its memory.max a number) as its root, and no mount of the agent's.
create_bg oom2 '["sleep","600"]' "$mem64"'
c["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"]})'
"${R[@]}" start oom2
# start can return before state.json says running (the monitor answers start, then writes it).
for _ in $(seq 100); do [ "$(status_of oom2)" = running ] && break; sleep 0.05; done
out=$("${R[@]}" exec oom2 sh -c 'cat /proc/self/cgroup /sys/fs/cgroup/memory.max; grep -c runvm-cgroup /proc/self/mountinfo; true' 2>"$work/stderr")
rc=$?; err=$(cat "$work/stderr")
out=$(echo $out) re='^0::/ [0-9]+ 0$'
check "exec: in the container's cgroup, seen as / with memory.max set, the agent's mount not shown" \
	eval '[ "$rc" = 0 ] && [[ "$out" =~ $re ]]'
out=$(timeout 90 "${R[@]}" exec oom2 sh -c 'tail /dev/zero; echo status $?' 2>"$work/stderr"); rc=$?; err=$(cat "$work/stderr")
st=$(status_of oom2)
check "exec: a process filling memory is OOM-killed, the container goes on" \
	eval '[ "$rc" = 0 ] && [ "$out" = "status 137" ] && [ "$st" = running ]'
"${R[@]}" kill oom2 KILL; wait_status oom2 >/dev/null
"${R[@]}" delete oom2
