# What hooks read on stdin, and a program missing at create: each bundle under runc 1.1.5
# (its own --root here) and under runvm, compared. Sourced by run.sh.
#
# The state is runtime-spec's with runc's members (ociVersion, id, status, pid, bundle,
# annotations; pid left out for poststop, annotations when empty). The statuses are the
# spec's lifecycle, where runc 1.1.5 differs (runtime/container.c, on_status): runc says
# `creating` to prestart, createRuntime and createContainer and `created` to poststart. runc
# runs createContainer and startContainer in the container (pid 1 there); runvm runs every hook
# on the host, with the monitor's pid. ociVersion is config.json's under runvm (as its `state`
# says), runc's own spec version under runc.

RUNC=${RUNC:-/usr/sbin/runc}
hk_root=$work/runc-root
hk_dir=$work/hk
mkdir -p "$hk_dir"
undo+=("rm -rf '$bundle/rootfs$work'" "rmdir '$bundle/rootfs/opt/tool' '$bundle/rootfs/opt'")

# rc_ ARGS...: runc with its own root and a JSON log (its stderr is then the bare message).
rc_() { "$RUNC" --root "$hk_root" --log "$work/runc-log.json" --log-format json "$@"; }

# The hook runs where runc runs it: on the host, and (startContainer) inside the container,
# where its path must resolve too. So it lies at the same path in both, and writes next to
# itself: $hk_dir on the host, the same path under the rootfs in runc's container.
cat > "$hk_dir/rec.sh" <<'HOOK'
#!/bin/sh
cat > "${0%/*}/$1.json"
HOOK
chmod +x "$hk_dir/rec.sh"
mkdir -p "$bundle/rootfs$hk_dir"
cp "$hk_dir/rec.sh" "$bundle/rootfs$hk_dir/rec.sh"
hk_kinds="prestart createRuntime createContainer startContainer poststart poststop"
# hk_config ANNOTATIONS_PY KINDS: every hook of KINDS records its stdin.
hk_config() {
	local py="c['annotations'] = $1"$'\n'"c['hooks'] = {}"$'\n' k
	for k in $2; do
		py+="c['hooks']['$k'] = [{'path': '$hk_dir/rec.sh', 'args': ['rec.sh', '$k'], 'env': ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], 'timeout': 10}]"$'\n'
	done
	echo "$py"
}
# hk_collect DEST: move what the hooks wrote (on the host, or in the rootfs) to DEST.
hk_collect() {
	mkdir -p "$1"
	mv "$hk_dir"/*.json "$bundle/rootfs$hk_dir"/*.json "$1/" 2>/dev/null
}
state_pid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null; }

if [ ! -x "$RUNC" ]; then
	for t in "hooks: the state's members as runc's" "hooks: annotations" "hooks: statuses" \
		"missing program" "non-executable program" "missing program at run"; do
		skip "$t" "no runc at $RUNC"
	done
else
	# --- the state on stdin, every hook, under both ---------------------------------------
	annot='{"org.example.k": "v", "io.runvm.test": "a \"quoted\" value"}'
	make_config "$bundle" '["sleep","600"]' "$(hk_config "$annot" "$hk_kinds")"
	rm -f "$hk_dir"/*.json "$bundle/rootfs$hk_dir"/*.json
	undo+=("'$RUNC' --root '$hk_root' delete -f hk-c1")
	rc_ create --bundle "$bundle" hk-c1 </dev/null >/dev/null 2>"$work/stderr"
	hk_rc_create=$?
	hk_rc_pid=$(rc_ state hk-c1 | state_pid)
	rc_ start hk-c1
	rc_ kill hk-c1 KILL
	for _ in $(seq 100); do [ "$(rc_ state hk-c1 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)" = stopped ] && break; sleep 0.1; done
	rc_ delete hk-c1
	hk_collect "$work/hk-runc"

	create_bg hk-v1 '["sleep","600"]' "$(hk_config "$annot" "$hk_kinds")"
	hk_vm_create=$create_rc
	hk_vm_pid=$("${R[@]}" state hk-v1 | state_pid)
	"${R[@]}" start hk-v1
	"${R[@]}" kill hk-v1 KILL
	wait_status hk-v1 >/dev/null
	"${R[@]}" delete hk-v1
	hk_collect "$work/hk-runvm"

	# One line per runtime and hook: NAME KEYS STATUS PID ID BUNDLE ANNOTATIONS-AS-JSON
	hk_table() {
		python3 - "$1" "$hk_kinds" <<'PY'
import json, os, sys
d, kinds = sys.argv[1], sys.argv[2].split()
for k in kinds:
    try:
        s = json.load(open(os.path.join(d, k + ".json")))
    except Exception as e:
        print(k, "MISSING", type(e).__name__)
        continue
    print(k, ",".join(s), s.get("status"), s.get("pid", "-"), s.get("id"), s.get("bundle"),
          json.dumps(s.get("annotations"), sort_keys=True))
PY
	}
	hk_table "$work/hk-runc" > "$work/hk-runc.txt"
	hk_table "$work/hk-runvm" > "$work/hk-runvm.txt"
	runc_tab=$(cat "$work/hk-runc.txt") vm_tab=$(cat "$work/hk-runvm.txt")
	out="runc:"$'\n'"$runc_tab"$'\n'"runvm:"$'\n'"$vm_tab" rc="runc create $hk_rc_create, runvm create $hk_vm_create" err=
	# The members, in runc's order, for each hook.
	keys_rc=$(cut -d' ' -f1,2 "$work/hk-runc.txt") keys_vm=$(cut -d' ' -f1,2 "$work/hk-runvm.txt")
	check "hooks: each hook's state has runc's members in runc's order (pid left out for poststop)" \
		eval '[ "$hk_rc_create" = 0 ] && [ "$hk_vm_create" = 0 ] && [ "$(wc -l <<<"$keys_vm")" = 6 ] &&
			[ "$keys_vm" = "$keys_rc" ] && [[ "$keys_vm" == *"poststop ociVersion,id,status,bundle,annotations"* ]]'
	want_annot=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True))' "$annot")
	annot_vm=$(awk '{ $1=$2=$3=$4=$5=$6=""; sub(/^ +/, ""); print }' "$work/hk-runvm.txt" | sort -u)
	annot_rc=$(awk '{ $1=$2=$3=$4=$5=$6=""; sub(/^ +/, ""); print }' "$work/hk-runc.txt" | sort -u)
	check "hooks: every hook gets config.json's annotations, as under runc" \
		eval '[ "$annot_vm" = "$want_annot" ] && [ "$annot_rc" = "$want_annot" ]'
	ids_vm=$(cut -d' ' -f5,6 "$work/hk-runvm.txt" | sort -u) ids_rc=$(cut -d' ' -f5,6 "$work/hk-runc.txt" | sort -u)
	check "hooks: id and bundle as in state (runc: the same bundle)" \
		eval '[ "$ids_vm" = "hk-v1 $bundle" ] && [ "$ids_rc" = "hk-c1 $bundle" ]'
	st_vm=$(cut -d' ' -f3 "$work/hk-runvm.txt" | tr '\n' ' ') st_rc=$(cut -d' ' -f3 "$work/hk-runc.txt" | tr '\n' ' ')
	check "hooks: runtime-spec's status for each hook (runc 1.1.5: $st_rc)" \
		eval '[ "$st_vm" = "created created created created running stopped " ] &&
			[ "$st_rc" = "creating creating creating created created stopped " ]'
	# The pid is the container's, as `state` says, where the hook runs in the runtime's pid
	# namespace: runc's prestart, createRuntime, poststart; all of runvm's.
	pid_vm=$(cut -d' ' -f4 "$work/hk-runvm.txt" | tr '\n' ' ') pid_rc=$(cut -d' ' -f4 "$work/hk-runc.txt" | tr '\n' ' ')
	out+=$'\n'"pids: runvm $pid_vm (state $hk_vm_pid), runc $pid_rc (state $hk_rc_pid)"
	check "hooks: pid is state's pid where the hook runs in the host's pid namespace (runc: 1 in the container's)" \
		eval '[ -n "$hk_vm_pid" ] && [ "$pid_vm" = "$hk_vm_pid $hk_vm_pid $hk_vm_pid $hk_vm_pid $hk_vm_pid - " ] &&
			[ "$pid_rc" = "$hk_rc_pid $hk_rc_pid 1 1 $hk_rc_pid - " ]'

	# --- no annotations: the member is left out, as runc does --------------------------------
	make_config "$bundle" '["sleep","600"]' "$(hk_config '{}' prestart)"
	undo+=("'$RUNC' --root '$hk_root' delete -f hk-c2")
	rc_ create --bundle "$bundle" hk-c2 </dev/null >/dev/null 2>&1
	rc_ delete -f hk-c2
	hk_collect "$work/hk-runc2"
	create_bg hk-v2 '["sleep","600"]' "$(hk_config '{}' prestart)"
	"${R[@]}" delete -f hk-v2
	hk_collect "$work/hk-runvm2"
	k_rc=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))))' "$work/hk-runc2/prestart.json" 2>&1)
	k_vm=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))))' "$work/hk-runvm2/prestart.json" 2>&1)
	out="runc: $k_rc; runvm: $k_vm" rc=$create_rc err=
	check "hooks: no annotations in config.json, none in the state (as runc)" \
		eval '[ "$k_vm" = "ociVersion,id,status,pid,bundle" ] && [ "$k_vm" = "$k_rc" ]'

	# --- a program that is not there: create fails, as runc's does -------------------------
	# both_create NAME ARGS [PY]: create the same bundle under runc and runvm; sets rc_rc,
	# err_rc (runc's message), rc_vm, err_vm (runvm's), left (what either left behind).
	both_create() {
		local n=$1
		make_config "$bundle" "$2" "${3:-}"
		undo+=("'$RUNC' --root '$hk_root' delete -f $n")
		rc_ create --bundle "$bundle" "$n" </dev/null >/dev/null 2>"$work/stderr"
		rc_rc=$? err_rc=$(cat "$work/stderr")
		[ "$rc_rc" = 0 ] && rc_ delete -f "$n"
		create_bg "$n" "$2" "${3:-}"
		rc_vm=$create_rc err_vm=$(cat "$work/$n.err")
		[ "$rc_vm" = 0 ] && "${R[@]}" delete -f "$n"
		left=
		[ ! -e "$hk_root/$n" ] || left+=" runc's state"
		nothing_left "$n" >/dev/null || left+=" runvm's state, VM or mounts"
		out="runc: $rc_rc $err_rc" rc="runvm: $rc_vm" err="$err_vm$left"
	}
	# same_failure: both exit 1 with one line, the same message after runc's "runc create
	# failed: " and runvm's "runvm: ", holding NEEDLE; nothing left.
	# (hk_verb=run: after runc's "runc run failed: ").
	same_failure() {
		[ "$rc_rc" = 1 ] && [ "$rc_vm" = 1 ] && [ "$(wc -l <<<"$err_vm")" = 1 ] &&
			[ "${err_vm#runvm: }" = "${err_rc#runc ${hk_verb:-create} failed: }" ] && [[ "$err_vm" == *"$1"* ]] &&
			[ -z "$left" ]
	}
	both_create hk-m1 '["no-such-program"]'
	check "missing program: create fails with runc's message and status, nothing left" \
		same_failure 'unable to start container process: exec: "no-such-program": executable file not found in $PATH'
	both_create hk-m2 '["/no/such/program"]'
	check "missing program by path: runc's message (stat ...)" \
		same_failure 'exec: "/no/such/program": stat /no/such/program: no such file or directory'
	both_create hk-m3 '["/etc/passwd"]'
	check "non-executable program: create fails with runc's message and status, nothing left" \
		same_failure 'exec: "/etc/passwd": permission denied'
	both_create hk-m4 '["/etc"]'
	check "a directory as the program: permission denied, as runc" same_failure 'exec: "/etc": permission denied'
	both_create hk-m5 '["group"]' 'c["process"]["env"] = ["PATH=/etc:/bin"]'
	check "found in PATH but not executable: not found, as runc" \
		same_failure 'exec: "group": executable file not found in $PATH'
	# With a create hook the monitor looks after it (the VM was booted): the same failure.
	both_create hk-m6 '["no-such-program"]' 'c["hooks"] = {"prestart": [{"path": "/bin/true"}]}'
	check "missing program with a prestart hook: the same failure after the hooks, nothing left" \
		same_failure 'exec: "no-such-program": executable file not found in $PATH'

	# process.env without PATH: runc's init searches process.env's PATH alone, so nothing is
	# found (the guest's agent would take a default PATH and run it).
	both_create hk-m7 '["sleep", "1"]' 'c["process"]["env"] = ["TERM=xterm"]'
	check "no PATH in process.env: not found, as runc" same_failure 'exec: "sleep": executable file not found in $PATH'
	# Found first through a relative PATH entry: Go's ErrDot, which runc refuses.
	both_create hk-m8 '["true"]' 'c["process"]["env"] = ["PATH=/no-such-dir:bin:/bin"]'
	check "found through a relative PATH entry: refused, as runc" \
		same_failure 'exec: "true": cannot run executable found relative to current directory'
	# An empty entry is the cwd: relative too.
	both_create hk-m9 '["true"]' 'c["process"]["env"] = ["PATH=:/bin"]; c["process"]["cwd"] = "/bin"'
	check "found through an empty PATH entry (the cwd): refused, as runc" \
		same_failure 'exec: "true": cannot run executable found relative to current directory'

	# --- the same at `run`: runc's status 1 and message, not the guest's 127 or 126 ----------
	# both_run NAME ARGS [PY]: `run` the same bundle under runc and runvm; sets what
	# both_create sets, and out_vm (runvm's stdout).
	both_run() {
		local n=$1
		make_config "$bundle" "$2" "${3:-}"
		undo+=("'$RUNC' --root '$hk_root' delete -f $n")
		rc_ run --bundle "$bundle" "$n" </dev/null >/dev/null 2>"$work/stderr"
		rc_rc=$? err_rc=$(cat "$work/stderr")
		rc_ delete -f "$n" 2>/dev/null
		rv "$n" "$2" "${3:-}"
		rc_vm=$rc err_vm=$err out_vm=$out
		left=
		[ ! -e "$hk_root/$n" ] || left+=" runc's state"
		nothing_left "$n" >/dev/null || left+=" runvm's state, VM or mounts"
		out="runc: $rc_rc $err_rc" rc="runvm: $rc_vm" err="$err_vm$left"
	}
	hk_verb=run
	both_run hk-r1 '["no-such-program"]'
	check "run, missing program: status 1 and runc's message, nothing left" \
		same_failure 'unable to start container process: exec: "no-such-program": executable file not found in $PATH'
	both_run hk-r2 '["/no/such/program"]'
	check "run, missing program by path: runc's message (stat ...)" \
		same_failure 'exec: "/no/such/program": stat /no/such/program: no such file or directory'
	both_run hk-r3 '["/etc/passwd"]'
	check "run, non-executable program (0644): permission denied, as runc" same_failure 'exec: "/etc/passwd": permission denied'
	both_run hk-r4 '["/etc"]'
	check "run, a directory as the program: permission denied, as runc" same_failure 'exec: "/etc": permission denied'
	both_run hk-r5 '["sleep", "1"]' 'c["process"]["env"] = ["TERM=xterm"]'
	check "run, no PATH in process.env: not found, as runc" same_failure 'exec: "sleep": executable file not found in $PATH'
	both_run hk-r6 '["true"]' 'c["process"]["env"] = ["PATH=bin"]'
	check "run, found through a relative PATH entry: refused, as runc" \
		same_failure 'exec: "true": cannot run executable found relative to current directory'
	both_run hk-r8 '["no-such-program"]' 'c["hooks"] = {"prestart": [{"path": "/bin/true"}]}'
	check "run, missing program with a prestart hook: the same failure after the hooks, nothing left" \
		same_failure 'exec: "no-such-program": executable file not found in $PATH'
	hk_verb=
	# An empty entry that holds nothing, then an absolute one that has it: runs under both.
	both_run hk-r7 '["sh", "-c", "echo ran"]' 'c["process"]["env"] = ["PATH=:/bin"]'
	check "run, an empty PATH entry without the program, then /bin: it runs, as under runc" \
		eval '[ "$rc_rc" = 0 ] && [ "$rc_vm" = 0 ] && [ "$out_vm" = ran ] && [ -z "$left" ]'

	# --- what runc runs, runvm must not refuse -----------------------------------------------
	# made by a createContainer hook (runc looks after it)
	printf '#!/bin/sh\nprintf "#!/bin/sh\\necho made by a hook\\n" > "%s"; chmod 755 "%s"\n' \
		"$bundle/rootfs/bin/hk-made" "$bundle/rootfs/bin/hk-made" > "$hk_dir/make.sh"
	chmod +x "$hk_dir/make.sh"
	undo+=("rm -f '$bundle/rootfs/bin/hk-made'")
	rm -f "$bundle/rootfs/bin/hk-made"
	make_config "$bundle" '["hk-made"]' "c['hooks'] = {'createContainer': [{'path': '$hk_dir/make.sh'}]}"
	undo+=("'$RUNC' --root '$hk_root' delete -f hk-o1")
	rc_ create --bundle "$bundle" hk-o1 </dev/null >/dev/null 2>"$work/stderr"; rc_rc=$?
	rc_ delete -f hk-o1
	rm -f "$bundle/rootfs/bin/hk-made"
	create_bg hk-o1 '["hk-made"]' "c['hooks'] = {'createContainer': [{'path': '$hk_dir/make.sh'}]}"
	"${R[@]}" start hk-o1 2>"$work/stderr"; src=$?
	wait_status hk-o1 >/dev/null
	"${R[@]}" delete hk-o1
	rm -f "$bundle/rootfs/bin/hk-made"
	out=$(cat "$work/hk-o1.out") rc="runc create $rc_rc, runvm create $create_rc, start $src" err=$(cat "$work/hk-o1.err" "$work/stderr")
	check "a program a createContainer hook makes: create and start run it, as runc creates it" \
		eval '[ "$rc_rc" = 0 ] && [ "$create_rc" = 0 ] && [ "$src" = 0 ] && [ "$out" = "made by a hook" ]'
	# in a volume mounted where the rootfs has nothing, reached through a symlink (docker-init)
	mkdir -p "$work/tool"
	printf '#!/bin/sh\necho from the volume\n' > "$work/tool/prog"
	chmod 755 "$work/tool/prog"
	ln -sfn opt/tool "$bundle/rootfs/hk-tool"
	undo+=("rm -f '$bundle/rootfs/hk-tool'")
	vol_py="c['mounts'].append({'destination': '/hk-tool', 'type': 'bind', 'source': '$work/tool', 'options': ['rbind', 'ro']})"
	make_config "$bundle" '["/opt/tool/prog"]' "$vol_py"
	undo+=("'$RUNC' --root '$hk_root' delete -f hk-o2")
	rc_ create --bundle "$bundle" hk-o2 </dev/null >/dev/null 2>"$work/stderr"; rc_rc=$?
	rc_ delete -f hk-o2
	create_bg hk-o2 '["/opt/tool/prog"]' "$vol_py"
	"${R[@]}" start hk-o2 2>"$work/stderr"; src=$?
	wait_status hk-o2 >/dev/null
	"${R[@]}" delete hk-o2
	rm -f "$bundle/rootfs/hk-tool"
	rmdir "$bundle/rootfs/opt/tool" "$bundle/rootfs/opt" 2>/dev/null
	out=$(cat "$work/hk-o2.out") rc="runc create $rc_rc, runvm create $create_rc, start $src" err=$(cat "$work/hk-o2.err" "$work/stderr")
	check "a program in a volume the rootfs lacks (its mount point behind a symlink): not refused, it runs" \
		eval '[ "$rc_rc" = 0 ] && [ "$create_rc" = 0 ] && [ "$src" = 0 ] && [ "$out" = "from the volume" ]'
	rm -rf "$bundle/rootfs$work"
fi
