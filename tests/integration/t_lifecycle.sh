# The runc lifecycle: create, start, state, kill, pause, resume, delete, list. Sourced by
# run.sh.

rm -f "$bundle/rootfs/ran"
# The process prints a tick every 100 ms: the pause check sees the guest stop and go on.
create_bg lc1 '["sh","-c","trap \"exit 42\" TERM; touch /ran; echo hello-out; echo hello-err >&2; while :; do echo tick; sleep 0.1; done"]'
pidfile_ok=$(python3 -c 'import sys; d=open(sys.argv[1]).read(); print(int(d) > 0 and not d.endswith("\n"))' "$work/lc1.pid" 2>&1)
rc=$create_rc out= err=$(cat "$work/lc1.err")
check "create: exit 0, pid file without newline, pid alive" eval '[ "$rc" = 0 ] && [ "$pidfile_ok" = True ] && kill -0 "$mon_pid"'
st=$(status_of lc1)
check "create: state is created and the process has not run" eval '[ "$st" = created ] && [ ! -e "$bundle/rootfs/ran" ]'
"${R[@]}" start lc1 >"$work/stdout" 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
for _ in $(seq 100); do [ -e "$bundle/rootfs/ran" ] && break; sleep 0.05; done
st=$(status_of lc1)
check "start: exit 0, state running, the process ran" eval '[ "$rc" = 0 ] && [ "$st" = running ] && [ -e "$bundle/rootfs/ran" ]'
for _ in $(seq 100); do grep -q hello-out "$work/lc1.out" 2>/dev/null && break; sleep 0.05; done
check "the container's stdout and stderr are create's fds" eval 'grep -q hello-out "$work/lc1.out" && grep -q hello-err "$work/lc1.err"'
"${R[@]}" start lc1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "start twice: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"cannot start an already running container"* ]]'
"${R[@]}" list >"$work/list.out"; rc=$?; out=$(cat "$work/list.out")
check "list shows it running" eval '[ "$rc" = 0 ] && grep -q "^lc1 .*running" "$work/list.out"'
ticks() { grep -c '^tick$' "$work/$1.out" 2>/dev/null; }
t_run1=$(ticks lc1); sleep 0.5; t_run2=$(ticks lc1)
"${R[@]}" pause lc1; st=$(status_of lc1)
# What the guest printed before it froze may still be on its way: 0.5 s for that.
sleep 0.5; t_paused1=$(ticks lc1); sleep 1.5; t_paused2=$(ticks lc1)
"${R[@]}" resume lc1; st2=$(status_of lc1)
check "pause, resume" eval '[ "$st" = paused ] && [ "$st2" = running ]'
for _ in $(seq 100); do t_resumed=$(ticks lc1); [ "$t_resumed" -gt "$t_paused2" ] && break; sleep 0.05; done
out="ticks: running $t_run1, 0.5 s later $t_run2; paused $t_paused1, 1.5 s later $t_paused2; resumed $t_resumed" err=
check "paused, the guest makes no progress (tick $t_paused1, 1.5 s later $t_paused2); resumed, it goes on ($t_resumed)" \
	eval '[ "$t_run2" -gt "$t_run1" ] && [ "$t_paused1" = "$t_paused2" ] && [ "$t_resumed" -gt "$t_paused2" ]'
"${R[@]}" resume lc1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "resume when not paused: container not paused" eval '[ "$rc" = 1 ] && [[ "$err" == *"container not paused"* ]]'
"${R[@]}" delete lc1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "delete of a running container without --force: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"that is not stopped: running"* ]]'
"${R[@]}" kill lc1; rc=$?
status=$(wait_status lc1); st=$(status_of lc1)
check "kill (SIGTERM) reaches the process: the monitor exits with its status, state stopped" eval '[ "$rc" = 0 ] && [ "$status" = 42 ] && [ "$st" = stopped ]'
"${R[@]}" kill lc1 9 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "kill a stopped container: container not running" eval '[ "$rc" = 1 ] && [[ "$err" == *"container not running"* ]]'
"${R[@]}" kill --all lc1 9; rc=$?
check "kill --all a stopped container: succeeds" test "$rc" = 0
"${R[@]}" start lc1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "start a stopped container: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"cannot start a container that has stopped"* ]]'
"${R[@]}" delete lc1; rc=$?
check "delete a stopped container: state gone, nothing left" eval '[ "$rc" = 0 ] && nothing_left lc1'
"${R[@]}" state lc1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "state of a deleted container: container does not exist" eval '[ "$rc" = 1 ] && [[ "$err" == *"container does not exist"* ]]'

create_bg lc2 '["sh","-c","exit 3"]'
"${R[@]}" start lc2; status=$(wait_status lc2)
check "exit status 3 is the monitor's" test "$status" = 3
"${R[@]}" delete lc2

create_bg lc3 '["sleep","600"]'
"${R[@]}" start lc3; "${R[@]}" kill lc3 KILL; status=$(wait_status lc3)
check "kill KILL: 137" test "$status" = 137
"${R[@]}" delete lc3

create_bg lc4 '["sleep","600"]'
"${R[@]}" delete lc4; rc=$?; status=$(wait_status lc4)
check "delete of a created container kills it: nothing left" eval '[ "$rc" = 0 ] && [ -n "$status" ] && nothing_left lc4'

create_bg lc5 '["sleep","600"]'
"${R[@]}" kill lc5 TERM; status=$(wait_status lc5)
check "kill of a created container: 143, never started" test "$status" = 143
"${R[@]}" delete lc5

create_bg lc6 '["sleep","600"]'
"${R[@]}" start lc6
kill -9 "$mon_pid"; wait_status lc6 >/dev/null; st=$(status_of lc6)
"${R[@]}" delete lc6; rc=$?
check "monitor SIGKILLed: state stopped, delete cleans up" eval '[ "$st" = stopped ] && [ "$rc" = 0 ] && nothing_left lc6'

create_bg lc7 '["sleep","600"]'
"${R[@]}" start lc7; "${R[@]}" delete --force lc7; rc=$?; wait_status lc7 >/dev/null
check "delete --force of a running container" eval '[ "$rc" = 0 ] && nothing_left lc7'

"${R[@]}" delete --force no-such-container; rc=$?
check "delete --force of an unknown container succeeds" test "$rc" = 0
"${R[@]}" delete --force ../escape 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "delete of an invalid ID: a clear error, no crash" eval '[ "$rc" = 1 ] && [[ "$err" == *"invalid container id"* ]]'
"${R[@]}" kill no-such-container 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "kill of an unknown container: container does not exist" eval '[ "$rc" = 1 ] && [[ "$err" == *"container does not exist"* ]]'

create_bg lc8 '["sleep","600"]'
create_bg lc8 '["sleep","600"]'; rc=$create_rc; err=$(cat "$work/lc8.err")
check "create of an existing ID: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"already exists"* ]]'
"${R[@]}" delete --force lc8

make_config "$bundle" '["sh"]' 'c["process"]["terminal"] = True'
"${R[@]}" create --bundle "$bundle" lc9 </dev/null 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "terminal without --console-socket: refused, nothing left" eval '[ "$rc" = 1 ] && [[ "$err" == *"console socket"* ]] && nothing_left lc9'

# --- hooks -------------------------------------------------------------------------------
cat > "$work/hook.sh" <<'HOOK'
#!/bin/sh
# Record which hook ran and the state it was given on stdin.
state=$(cat)
echo "$1 $state" >> "$(dirname "$0")/hooks.log"
[ "$1" != fail ] || { echo "hook says no" >&2; exit 3; }
[ "$1" != slow ] || sleep 30
HOOK
chmod +x "$work/hook.sh"
hooks_py() {
	local py='c["hooks"] = {}'$'\n'
	for k in "$@"; do py+='c["hooks"].setdefault("'${k%%=*}'", []).append({"path": "'$work/hook.sh'", "args": ["hook.sh", "'${k#*=}'"], "timeout": 2})'$'\n'; done
	echo "$py"
}
rm -f "$work/hooks.log"
create_bg hk1 '["sleep","600"]' "$(hooks_py prestart=prestart createRuntime=createRuntime createContainer=createContainer startContainer=startContainer poststart=poststart poststop=poststop)"
order_create=$(cut -d' ' -f1 "$work/hooks.log" 2>/dev/null | tr '\n' ' ')
pid_ok=$(python3 -c 'import json,sys; l=[x.split(" ",1) for x in open(sys.argv[1])]; print(all(json.loads(s)["pid"]==int(sys.argv[2]) and json.loads(s)["status"]=="created" for _,s in l))' "$work/hooks.log" "$mon_pid" 2>&1)
rc=$create_rc out= err=$(cat "$work/hk1.err")
check "create runs prestart, createRuntime, createContainer with the monitor's pid, status created (runtime-spec; runc: creating)" eval '[ "$rc" = 0 ] && [ "$order_create" = "prestart createRuntime createContainer " ] && [ "$pid_ok" = True ]'
"${R[@]}" start hk1; "${R[@]}" kill hk1 KILL; wait_status hk1 >/dev/null; "${R[@]}" delete hk1
order=$(cut -d' ' -f1 "$work/hooks.log" | tr '\n' ' ')
check "start runs startContainer then poststart; delete runs poststop" test "$order" = "prestart createRuntime createContainer startContainer poststart poststop "

create_bg hk2 '["sleep","600"]' "$(hooks_py createRuntime=fail)"
rc=$create_rc err=$(cat "$work/hk2.err")
check "a failing createRuntime hook fails create with its message, nothing left" eval '[ "$rc" = 1 ] && [[ "$err" == *"createRuntime hook"*"hook says no"* ]] && nothing_left hk2'
create_bg hk3 '["sleep","600"]' "$(hooks_py prestart=slow)"
rc=$create_rc err=$(cat "$work/hk3.err")
check "a hook past its timeout fails create" eval '[ "$rc" = 1 ] && [[ "$err" == *"timed out after 2 s"* ]] && nothing_left hk3'

# A process that cannot start: start fails with runc's wording and, as with runc, the container
# is torn down (containerd never deletes it), its cgroup too. Under /dev (a mount of its own)
# the host cannot tell at create that it is missing (t_hooks: where it can, create fails).
cg="/runvm-test-$$/lc10"
create_bg lc10 '["/dev/no-such-program"]' "c[\"linux\"][\"cgroupsPath\"] = \"$cg\""
in_cg=$(grep -c "memory:$cg\$" "/proc/$mon_pid/cgroup" 2>/dev/null)
"${R[@]}" start lc10 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
wait_status lc10 >/dev/null
check "create joins linux.cgroupsPath; a failed start says so and leaves nothing, cgroup included" \
	eval '[ "$in_cg" = 1 ] && [ "$rc" = 1 ] && [[ "$err" == *"executable file not found"* ]] && nothing_left lc10 && [ ! -e "/sys/fs/cgroup/memory$cg" ]'
for h in /sys/fs/cgroup/*/; do rmdir "$h/runvm-test-$$" 2>/dev/null; done

# --- state: runc's members, config.json's annotations among them --------------------------
# The same bundle under runc 1.1.5 (its own --root) and runvm: `state` has runc's members in
# runc's order, `annotations` (keys sorted) before `owner`, left out when config.json has
# none; `list --format json` shows them too.
lc_runc=/usr/sbin/runc
lc_rroot=$work/runc-root-lc
if [ ! -x "$lc_runc" ]; then
	for t in "state: annotations as runc's" "list --format json: annotations as runc's" \
		"state: no annotations, no member"; do
		skip "$t" "no runc at $lc_runc"
	done
else
	undo+=("$lc_runc --root $lc_rroot delete -f lcs1-c; $lc_runc --root $lc_rroot delete -f lcs2-c")
	# lc_state_both ID ANNOTATIONS_PY: create it under both, save both `state`s and `list -f json`s.
	lc_state_both() {
		make_config "$bundle" '["sleep","600"]' "c['annotations'] = $2"
		"$lc_runc" --root "$lc_rroot" create --bundle "$bundle" "$1-c" </dev/null >/dev/null 2>"$work/runc.err"
		"$lc_runc" --root "$lc_rroot" state "$1-c" >"$work/$1-c.state" 2>>"$work/runc.err"
		"$lc_runc" --root "$lc_rroot" list -f json >"$work/$1-c.list" 2>>"$work/runc.err"
		"$lc_runc" --root "$lc_rroot" delete -f "$1-c" 2>>"$work/runc.err"
		create_bg "$1-v" '["sleep","600"]' "c['annotations'] = $2"
		"${R[@]}" state "$1-v" >"$work/$1-v.state" 2>"$work/stderr"
		"${R[@]}" list -f json >"$work/$1-v.list" 2>>"$work/stderr"
		"${R[@]}" delete -f "$1-v" 2>>"$work/stderr"
		wait_status "$1-v" >/dev/null
		rc=$create_rc out="runc: $(cat "$work/$1-c.state") // runvm: $(cat "$work/$1-v.state")"
		err="$(cat "$work/runc.err" "$work/stderr" "$work/$1-v.err")"
	}
	# lc_state_cmp ID WANT_ANNOTATIONS_JSON [list]: both states' members in the same order, the
	# annotations as wanted (null: no member); with `list`, both `list -f json` entries so.
	lc_state_cmp() {
		python3 - "$work/$1-c" "$work/$1-v" "$2" "${3:-state}" <<'PY'
import json, sys
rf, vf, want, what = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
if what == "list":
    rs = [e for e in json.load(open(rf + ".list")) if e["id"] == rf.rsplit("/", 1)[1]]
    vs = [e for e in json.load(open(vf + ".list")) if e["id"] == vf.rsplit("/", 1)[1]]
    assert len(rs) == len(vs) == 1, (rs, vs)
    rs, vs = rs[0], vs[0]
    assert rs["owner"] == vs["owner"], (rs["owner"], vs["owner"])
else:
    rs, vs = json.load(open(rf + ".state")), json.load(open(vf + ".state"))
assert list(rs) == list(vs), (list(rs), list(vs))
assert rs.get("annotations") == want == vs.get("annotations"), (rs.get("annotations"), vs.get("annotations"))
if want:
    assert list(vs["annotations"]) == sorted(want), list(vs["annotations"])
    assert list(vs)[-2:] == ["annotations", "owner"], list(vs)
PY
	}
	lcs_annot='{"org.example.z": "last", "io.runvm.test": "a \"quoted\" value", "a": ""}'
	lc_state_both lcs1 "$lcs_annot"
	check "state: annotations as runc's (keys sorted, before owner), members in runc's order" \
		eval '[ "$rc" = 0 ] && lc_state_cmp lcs1 "$lcs_annot"'
	check "list --format json: the entry's members, annotations and owner as runc's" \
		eval '[ "$rc" = 0 ] && lc_state_cmp lcs1 "$lcs_annot" list'
	lc_state_both lcs2 '{}'
	check "state: no annotations in config.json, no annotations member (as runc)" \
		eval '[ "$rc" = 0 ] && lc_state_cmp lcs2 null && lc_state_cmp lcs2 null list'	# runc keeps create's annotations in its state: a config.json changed since does not show.
	create_bg lcs3 '["sleep","600"]' "c['annotations'] = {'k': 'at create'}"
	make_config "$bundle" '["sleep","600"]' "c['annotations'] = {'k': 'changed since'}"
	out=$("${R[@]}" state lcs3 2>&1) rc=$create_rc err=
	"${R[@]}" delete -f lcs3 2>/dev/null
	wait_status lcs3 >/dev/null
	check "state: the annotations of create, not of a config.json changed since (as runc keeps them)" \
		eval '[ "$rc" = 0 ] && [[ "$out" == *"at create"* ]] && [[ "$out" != *"changed since"* ]]'
fi
