# The runc lifecycle: create, start, state, kill, pause, resume, delete, list. Sourced by
# run.sh.

rm -f "$bundle/rootfs/ran"
create_bg lc1 '["sh","-c","touch /ran; echo hello-out; echo hello-err >&2; sleep 600"]'
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
"${R[@]}" pause lc1; st=$(status_of lc1)
"${R[@]}" resume lc1; st2=$(status_of lc1)
check "pause, resume" eval '[ "$st" = paused ] && [ "$st2" = running ]'
"${R[@]}" resume lc1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "resume when not paused: container not paused" eval '[ "$rc" = 1 ] && [[ "$err" == *"container not paused"* ]]'
"${R[@]}" delete lc1 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "delete of a running container without --force: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"that is not stopped: running"* ]]'
"${R[@]}" kill lc1; rc=$?
status=$(wait_status lc1); st=$(status_of lc1)
check "kill (SIGTERM): the monitor exits 143, state stopped" eval '[ "$rc" = 0 ] && [ "$status" = 143 ] && [ "$st" = stopped ]'
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
"${R[@]}" kill no-such-container 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "kill of an unknown container: container does not exist" eval '[ "$rc" = 1 ] && [[ "$err" == *"container does not exist"* ]]'

create_bg lc8 '["sleep","600"]'
create_bg lc8 '["sleep","600"]'; rc=$create_rc; err=$(cat "$work/lc8.err")
check "create of an existing ID: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"already exists"* ]]'
"${R[@]}" delete --force lc8

make_config "$bundle" '["sh"]' 'c["process"]["terminal"] = True'
"${R[@]}" create --bundle "$bundle" lc9 </dev/null 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "terminal without --console-socket: refused, nothing left" eval '[ "$rc" = 1 ] && [[ "$err" == *"console socket"* ]] && nothing_left lc9'
