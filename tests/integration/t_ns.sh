# The container's namespaces on the host (issue 13 point 1): /proc/PID/ns/TYPE of the state's
# pid, under runc 1.1.5 and runvm, on the same bundle. Each type listed without a path is a new
# namespace, listed with a path is that namespace, not listed is the caller's. Sourced by run.sh.

if ! command -v runc >/dev/null || ! command -v unshare >/dev/null; then
	# Every check compares with runc (the nested host VM has none: check-integration on the
	# host runs this suite; test_kvm_run covers the kvm VMM's shared namespaces).
	skip "t_ns: the monitor's namespaces against runc's" "no runc or unshare here"
	return 0
fi
RC=(runc --root "$work/runc-root")
undo+=("for i in ns-new ns-path ns-none; do runc --root '$work/runc-root' delete -f \$i; done")
# Should runc leave a mount in the bundle (it does without a mount namespace of the container's),
# it goes before the work dir is removed.
undo+=("awk -v w='$work/' 'index(\$5, w) == 1 {print \$5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l")

# ns_rel PID TYPE [HOLDER]: "caller" when PID's namespace of TYPE is ours, "path" when it is
# HOLDER's, "new" when it is neither, "?" when it cannot be read.
ns_rel() {
	local n
	n=$(readlink "/proc/$1/ns/$2" 2>/dev/null) || { echo "?"; return; }
	if [ "$n" = "$(readlink "/proc/self/ns/$2")" ]; then echo caller
	elif [ -n "${3:-}" ] && [ "$n" = "$(readlink "/proc/$3/ns/$2")" ]; then echo path
	else echo new; fi
}
runc_pid() { "${RC[@]}" state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null; }
state_pid() { "${R[@]}" state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null; }

# A prestart hook that records what Docker's libnetwork-setkey reads: the state's pid and
# /proc/PID/ns/net.
cat >"$work/ns-hook.sh" <<'SH'
pid=$(sed -n 's/.*"pid" *: *\([0-9][0-9]*\).*/\1/p')
echo "$pid $(readlink /proc/$pid/ns/net)" > "$1"
SH
hook() { echo 'c["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "'$work/ns-hook.sh'", "'$work/$1'"]}]}'; }
# And one per kind of hook that records its own namespaces (runtime-spec: prestart,
# createRuntime, poststart in the runtime's; createContainer in the container's).
cat >"$work/ns-self.sh" <<'SH'
for t in ipc uts mnt net cgroup; do echo "$t $(readlink /proc/self/ns/$t)"; done > "$1"
SH
hk_kinds="prestart createRuntime createContainer poststart"
self_hooks() {
	echo "[c['hooks'].setdefault(k, []).append({'path': '/bin/sh', 'args': ['sh', '$work/ns-self.sh', '$work/$1.' + k]}) for k in '$hk_kinds'.split()]"
}
# hook_rel PREFIX PID: per kind, each type's namespace: caller (ours), container (PID's) or new.
hook_rel() {
	local k t n line
	for k in $hk_kinds; do
		line="$k:"
		for t in ipc uts mnt net cgroup; do
			n=$(sed -n "s/^$t //p" "$work/$1.$k" 2>/dev/null)
			if [ -z "$n" ]; then line+=" $t=?"
			elif [ "$n" = "$(readlink /proc/self/ns/$t)" ]; then line+=" $t=caller"
			elif [ "$n" = "$(readlink "/proc/$2/ns/$t")" ]; then line+=" $t=container"
			else line+=" $t=new"; fi
		done
		echo "$line"
	done
}

# --- every type listed without a path ---------------------------------------------------------
types="ipc uts mnt pid net cgroup"
trap_args='["sh","-c","trap \"echo got-term; exit 7\" TERM; echo ready; while :; do sleep 0.1; done"]'
new_ns='c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network", "cgroup")]'
make_config "$bundle" "$trap_args" "$new_ns; $(hook ns-new.runc); $(self_hooks ns-new.runc)"
"${RC[@]}" create --bundle "$bundle" ns-new </dev/null >/dev/null 2>"$work/runc.err"
rpid=$(runc_pid ns-new)
# runc 1.1.5 knows no time namespace; runvm makes one where the kernel has them.
create_bg ns-new "$trap_args" "$new_ns"'; c["linux"]["namespaces"].append({"type": "time"})'"; $(hook ns-new.runvm); $(self_hooks ns-new.runvm)"
spid=$(state_pid ns-new)
for t in $types; do
	out="runc: $(ns_rel "$rpid" $t), runvm: $(ns_rel "$mon_pid" $t)" rc=$create_rc err=$(cat "$work/runc.err" "$work/ns-new.err")
	check "namespaces: $t listed without a path: a new one, as with runc ($out)" \
		test "$out" = "runc: new, runvm: new" -a "$spid" = "$mon_pid"
done
if [ -e /proc/self/ns/time ]; then
	out="runvm: $(ns_rel "$mon_pid" time)"
	check "namespaces: time listed without a path: a new one ($out)" test "$out" = "runvm: new"
fi
out=$(grep NSpid "/proc/$mon_pid/status" 2>/dev/null | tr -s '\t ' ' ')
check "namespaces: the monitor is PID 1 of its pid namespace, the state's pid is its host pid ($out)" \
	test "$out" = "NSpid: $mon_pid 1"
out="runvm: $(nsenter -t "$mon_pid" -u hostname 2>&1), runc: $(nsenter -t "$rpid" -u hostname 2>&1)"
check "namespaces: its new UTS namespace has the container's hostname, as with runc ($out)" \
	test "$out" = "runvm: runvm, runc: runvm"
out="runc: $(cat "$work/ns-new.runc" 2>&1) (net $(readlink /proc/$rpid/ns/net)); runvm: $(cat "$work/ns-new.runvm" 2>&1) (net $(readlink /proc/$mon_pid/ns/net))"
check "namespaces: a prestart hook gets the state's pid, whose ns/net is the container's ($out)" \
	eval '[ "$(cat "$work/ns-new.runc")" = "$rpid $(readlink /proc/$rpid/ns/net)" ] && [ "$(cat "$work/ns-new.runvm")" = "$mon_pid $(readlink /proc/$mon_pid/ns/net)" ]'
# The monitor is PID 1 of its namespace, which ignores a signal it has no handler for: a
# signal from the host still reaches the container (the monitor takes it from a signalfd).
"${R[@]}" start ns-new 2>"$work/stderr"; rc=$?
for _ in $(seq 200); do grep -q ready "$work/ns-new.out" 2>/dev/null && break; sleep 0.1; done
# runc runs poststart from `runc start`: its container is started only now.
"${RC[@]}" start ns-new 2>/dev/null
for _ in $(seq 50); do [ -s "$work/ns-new.runc.poststart" ] && [ -s "$work/ns-new.runvm.poststart" ] && break; sleep 0.1; done
rt_ns="ipc=caller uts=caller mnt=caller net=caller cgroup=caller"
c_ns="ipc=container uts=container mnt=container net=container"
want="prestart: $rt_ns createRuntime: $rt_ns createContainer: $c_ns cgroup=container poststart: $rt_ns"
# Read while both run: "container" is what /proc/PID/ns shows of them.
vm_rel=$(hook_rel ns-new.runvm "$mon_pid" | tr '\n' ' ') rc_rel=$(hook_rel ns-new.runc "$rpid" | tr '\n' ' ')
kill -TERM "$mon_pid"
status=$(wait_status ns-new); out=$(cat "$work/ns-new.out"); err=$(cat "$work/stderr")
check "namespaces: SIGTERM sent to the monitor (PID 1 of its pid namespace) reaches the container" \
	eval '[ "$rc" = 0 ] && [ "$status" = 7 ] && [[ "$out" == *got-term* ]]'
out="runvm: $vm_rel" rc= err="runc: $rc_rel"
check "namespaces: prestart, createRuntime and poststart hooks run in the runtime's namespaces, createContainer in the container's, as with runc" \
	eval '[ "$vm_rel" = "$want " ] && [[ "$rc_rel" == "prestart: $rt_ns createRuntime: $rt_ns createContainer: $c_ns "*" poststart: $rt_ns " ]]'
"${R[@]}" delete ns-new 2>/dev/null
"${RC[@]}" delete -f ns-new 2>/dev/null

# --- every type by path: the namespaces of a process the test holds ---------------------------
# One holder for runc, one for runvm: runc builds its container's root in a mount namespace it
# joins, which is no longer the same for the next one.
hold() {
	unshare --ipc --uts --pid --fork --mount --cgroup --net $( [ -e /proc/self/ns/time ] && echo --time) sleep 600 &
	local parent=$! h=
	undo+=("kill -KILL $parent")
	for _ in $(seq 50); do h=$(pgrep -P "$parent" sleep) && break; sleep 0.1; done
	undo+=("kill -KILL $h")
	holders="$holders $parent $h"
	echo "$h" >"$work/holder"
}
holders=
hold; rholder=$(cat "$work/holder")
hold; holder=$(cat "$work/holder")
path_of() { echo 'c["linux"]["namespaces"] = [{"type": t, "path": "/proc/'$1'/ns/" + p} for t, p in (("pid", "pid"), ("ipc", "ipc"), ("uts", "uts"), ("mount", "mnt"), ("network", "net"), ("cgroup", "cgroup"))]'; }
make_config "$bundle" '["sleep","600"]' "$(path_of $rholder)"
"${RC[@]}" create --bundle "$bundle" ns-path </dev/null >/dev/null 2>"$work/runc.err"
rpid=$(runc_pid ns-path)
path_ns=$(path_of $holder)
extra=
[ -e /proc/self/ns/time ] && extra='; c["linux"]["namespaces"].append({"type": "time", "path": "/proc/'$holder'/ns/time"})'
create_bg ns-path '["sleep","600"]' "$path_ns$extra"
for t in $types; do
	out="runc: $(ns_rel "$rpid" $t "$rholder"), runvm: $(ns_rel "$mon_pid" $t "$holder")" rc=$create_rc err=$(cat "$work/runc.err" "$work/ns-path.err")
	check "namespaces: $t by path: that one, as with runc ($out)" test "$out" = "runc: path, runvm: path"
done
if [ -e /proc/self/ns/time ]; then
	out="runvm: $(ns_rel "$mon_pid" time "$holder")"
	check "namespaces: time by path: that one ($out)" test "$out" = "runvm: path"
fi
# The VMM (the monitor's child) stays in the pid and ipc namespaces named by path; its mount
# namespace is its jail's.
vmm=$(pgrep -P "$mon_pid" | head -1)
out="pid $(ns_rel "$vmm" pid "$holder"), ipc $(ns_rel "$vmm" ipc "$holder"), mnt $(ns_rel "$vmm" mnt "$holder")"
check "namespaces: the VMM shares the pid and ipc namespaces named by path, its mount namespace is its own ($out)" \
	test "$out" = "pid path, ipc path, mnt new"
out=$(awk '$5 == "/proc"' "/proc/$vmm/mountinfo" 2>/dev/null)
check "namespaces: ... and its jail still has a /proc of its own (of that pid namespace)" eval '[[ "$out" == *" - proc "* ]]'
"${R[@]}" delete -f ns-path 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
"${RC[@]}" delete -f ns-path 2>/dev/null
check "namespaces: by path: delete leaves nothing, the namespaces' holder lives on" \
	eval '[ "$rc" = 0 ] && nothing_left ns-path && kill -0 "$holder"'

# --- types not listed: inherited ---------------------------------------------------------------
# runc refuses a hostname without a UTS namespace of the container's. Without a mount namespace
# runc mounts the container's root and /proc in the caller's (and leaves them there): mount is
# listed for both here, and left out for runvm alone below.
none_ns='c["linux"]["namespaces"] = [{"type": "network"}, {"type": "mount"}]; del c["hostname"]'
make_config "$bundle" '["sleep","600"]' "$none_ns"
"${RC[@]}" create --bundle "$bundle" ns-none </dev/null >/dev/null 2>"$work/runc.err"
rpid=$(runc_pid ns-none)
create_bg ns-none '["sleep","600"]' "$none_ns"
for t in ipc uts pid cgroup; do
	out="runc: $(ns_rel "$rpid" $t), runvm: $(ns_rel "$mon_pid" $t)" rc=$create_rc err=$(cat "$work/runc.err" "$work/ns-none.err")
	check "namespaces: $t not listed: the caller's, as with runc ($out)" test "$out" = "runc: caller, runvm: caller"
done
"${R[@]}" delete -f ns-none 2>/dev/null
"${RC[@]}" delete -f ns-none 2>/dev/null
create_bg ns-none '["sleep","600"]' 'c["linux"]["namespaces"] = [{"type": "network"}]'
out="runvm: $(ns_rel "$mon_pid" mnt)" rc=$create_rc err=$(cat "$work/ns-none.err")
check "namespaces: mount not listed (and no bind mounts): the caller's ($out)" test "$out" = "runvm: caller"
"${R[@]}" delete -f ns-none 2>/dev/null
check "namespaces: not listed: delete leaves nothing" nothing_left ns-none

# --- paths that are not namespaces of their type: one error line, exit 1, nothing left ---------
: >"$work/not-a-namespace"
both_fail() { # NAME NEEDLE PY: runvm (expect_error) and runc both refuse the bundle
	make_config "$bundle" '["true"]' "$3"
	"${RC[@]}" create --bundle "$bundle" ns-bad </dev/null >/dev/null 2>&1; local runc_rc=$?
	"${RC[@]}" delete -f ns-bad 2>/dev/null
	if [ "$runc_rc" = 0 ]; then not_ok "$1" "runc accepts it"; return; fi
	expect_error "$1 (runc: exit $runc_rc)" "$2" ns-bad "$RUNVM"
}
base='c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "uts", "mount", "network")]'
both_fail "namespaces: an ipc path that is a regular file" "failed to setns into ipc namespace: \`$work/not-a-namespace\` is not a namespace" \
	"$base"'; c["linux"]["namespaces"].append({"type": "ipc", "path": "'$work/not-a-namespace'"})'
both_fail "namespaces: an ipc path that is a network namespace" "failed to setns into ipc namespace: \`/proc/$holder/ns/net\` is a net namespace" \
	"$base"'; c["linux"]["namespaces"].append({"type": "ipc", "path": "/proc/'$holder'/ns/net"})'
both_fail "namespaces: a pid path that is a mount namespace" "failed to setns into pid namespace: \`/proc/$holder/ns/mnt\` is a mnt namespace" \
	'c["linux"]["namespaces"] = [{"type": t} for t in ("uts", "mount", "network")] + [{"type": "pid", "path": "/proc/'$holder'/ns/mnt"}]'
both_fail "namespaces: a path that does not exist" "namespace path: \`$work/none\`: No such file or directory" \
	"$base"'; c["linux"]["namespaces"].append({"type": "ipc", "path": "'$work/none'"})'
both_fail "namespaces: a type listed twice" "duplicated namespace \`ipc\`" \
	"$base"'; c["linux"]["namespaces"] += [{"type": "ipc"}, {"type": "ipc"}]'
both_fail "namespaces: an unknown type" "namespace \`mnt\` does not exist" \
	"$base"'; c["linux"]["namespaces"].append({"type": "mnt"})'
kill -KILL $holders 2>/dev/null
wait $holders 2>/dev/null
rm -rf "$work/runc-root"
