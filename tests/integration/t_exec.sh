# exec, and terminals through --console-socket. Sourced by run.sh.

create_bg ex1 '["sleep","600"]' 'c["process"]["env"] += ["FROM_CONFIG=yes"]; c["process"]["noNewPrivileges"] = True; c["process"]["capabilities"] = {k: ["CAP_CHOWN", "CAP_KILL"] for k in ("bounding", "effective", "permitted")}'
"${R[@]}" start ex1

out=$("${R[@]}" exec ex1 sh -c 'echo hello from exec; exit 5' 2>"$work/stderr"); rc=$?; err=$(cat "$work/stderr")
check "exec: output and exit code 5" test "$rc" = 5 -a "$out" = "hello from exec"
out=$(echo piped-in | "${R[@]}" exec ex1 cat 2>"$work/stderr"); rc=$?; err=$(cat "$work/stderr")
check "exec: stdin relayed" test "$rc" = 0 -a "$out" = piped-in
out=$("${R[@]}" exec --env FOO=bar --cwd /tmp --user 1000:100 ex1 sh -c 'echo $FOO $FROM_CONFIG $(pwd) $(id -u):$(id -g)' 2>"$work/stderr"); rc=$?; err=$(cat "$work/stderr")
check "exec: --env (on top of the config's), --cwd, --user" test "$rc" = 0 -a "$out" = "bar yes /tmp 1000:100"
# As runc: an inline exec is the container's process with other args, so it gets the
# config's capabilities and noNewPrivileges, not every capability.
out=$("${R[@]}" exec ex1 sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status | tr -s "\t" " " | tr "\n" " "' 2>"$work/stderr"); rc=$?; err=$(cat "$work/stderr")
check "exec: inline, the config's capabilities (CHOWN, KILL) and noNewPrivileges" \
	test "$rc" = 0 -a "$out" = "CapEff: 0000000000000021 CapBnd: 0000000000000021 NoNewPrivs: 1 "
out=$("${R[@]}" exec ex1 no-such-program 2>"$work/stderr"); rc=$?; err=$(cat "$work/stderr")
check "exec: not found is 127 with a message" eval '[ "$rc" = 127 ] && [[ "$err" == *no-such-program* ]]'

printf '{"args":["sh","-c","echo from-process-file; sleep 0.2; exit 7"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0},"terminal":false}' > "$work/process.json"
rm -f "$work/exd.status"*
python3 "$here/subreaper.py" "$work/exd.status" -- "${R[@]}" exec --process "$work/process.json" --detach --pid-file "$work/exd.pid" ex1 \
	</dev/null >"$work/exd.out" 2>"$work/exd.err" &
status=$(wait_status exd); create_rc=$(cat "$work/exd.status.create" 2>/dev/null)
out=$(cat "$work/exd.out"); err=$(cat "$work/exd.err"); rc=$create_rc
check "exec --process --detach: the representative's pid in --pid-file exits 7, output on the fds" eval '[ "$create_rc" = 0 ] && [ -s "$work/exd.pid" ] && [ "$status" = 7 ] && [ "$out" = from-process-file ]'

printf '{"args":["sleep","600"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}' > "$work/process.json"
rm -f "$work/exk.status"*
python3 "$here/subreaper.py" "$work/exk.status" -- "${R[@]}" exec --process "$work/process.json" --detach --pid-file "$work/exk.pid" ex1 \
	</dev/null >/dev/null 2>&1 &
for _ in $(seq 200); do [ -s "$work/exk.pid" ] && break; sleep 0.05; done
kill -TERM "$(cat "$work/exk.pid")"; status=$(wait_status exk)
check "a signal to the representative reaches the exec'd process (143)" test "$status" = 143

rm -f "$work/con.sock"*
python3 "$here/console.py" "$work/con.sock" 33 101 $'stty size; tty; exit 4\n' "$work/con.out" &
cpid=$!
for _ in $(seq 100); do [ -e "$work/con.sock.ready" ] && break; sleep 0.05; done
printf '{"args":["sh"],"cwd":"/","env":["PATH=/bin","TERM=xterm"],"user":{"uid":0,"gid":0},"terminal":true}' > "$work/process.json"
rm -f "$work/ext.status"*
python3 "$here/subreaper.py" "$work/ext.status" -- "${R[@]}" exec --process "$work/process.json" --console-socket "$work/con.sock" --detach --pid-file "$work/ext.pid" ex1 \
	</dev/null >/dev/null 2>"$work/ext.err" &
status=$(wait_status ext); wait "$cpid"
out=$(tr -d '\r' < "$work/con.out" 2>/dev/null); err=$(cat "$work/ext.err")
check "exec with a terminal: the caller's pty size and a /dev/pts tty inside, exit 4" eval '[ "$status" = 4 ] && [[ "$out" == *"33 101"* ]] && [[ "$out" == */dev/pts/* ]]'

"${R[@]}" exec --tty ex1 true 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "exec --tty without --console-socket: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"console socket"* ]]'
"${R[@]}" kill ex1 KILL; wait_status ex1 >/dev/null
"${R[@]}" exec ex1 true 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "exec in a stopped container: refused" eval '[ "$rc" = 1 ] && [[ "$err" == *"cannot exec in a stopped container"* ]]'
"${R[@]}" delete ex1

# The main process on a terminal: create --console-socket.
rm -f "$work/con.sock"*
python3 "$here/console.py" "$work/con.sock" 24 77 $'stty size; exit 6\n' "$work/con.out" &
cpid=$!
for _ in $(seq 100); do [ -e "$work/con.sock.ready" ] && break; sleep 0.05; done
make_config "$bundle" '["sh"]' 'c["process"]["terminal"] = True'
rm -f "$work/tt.status"*
python3 "$here/subreaper.py" "$work/tt.status" -- "${R[@]}" create --bundle "$bundle" --console-socket "$work/con.sock" --pid-file "$work/tt.pid" tt \
	</dev/null >"$work/tt.out" 2>"$work/tt.err" &
for _ in $(seq 1200); do [ -e "$work/tt.status.create" ] && break; sleep 0.05; done
"${R[@]}" start tt; status=$(wait_status tt); wait "$cpid"
out=$(tr -d '\r' < "$work/con.out" 2>/dev/null); err=$(cat "$work/tt.err")
check "create with a terminal: the caller's size inside, exit 6" eval '[ "$status" = 6 ] && [[ "$out" == *"24 77"* ]]'
"${R[@]}" delete tt
