# Host cgroup limits (issue 13 point 2): the same bundle under runc 1.1 (/usr/sbin/runc, its own
# --root) and runvm, with a cgroupsPath and each linux.resources member that has a host meaning;
# the cgroup files each made must match (memory and pids.max: runvm adds the VM's overhead,
# runtime/cgroup.h), then `update` of each, `events --stats`, and the refusals runc makes.
# Sourced by run.sh.
cg_runc=/usr/sbin/runc
cg_rroot=$work/runc-root
cg_abs=/runvm-it-cg-$$
cg_rel=runvm-it-cgrel-$$
undo+=("$cg_runc --root $cg_rroot delete -f cgrc1 2>/dev/null; $cg_runc --root $cg_rroot delete -f cgrc2 2>/dev/null; for h in /sys/fs/cgroup/*/; do for d in \$h$cg_abs-runc \$h$cg_abs-runvm; do rmdir \$d 2>/dev/null; done; find \$h -depth -type d -name '$cg_rel' -exec rmdir {} + 2>/dev/null; done")
cg_res='{"cpu":{"cpus":"1","mems":"0","shares":512,"quota":50000,"period":100000},"pids":{"limit":20},"blockIO":{"weight":300},"memory":{"limit":67108864}}'
cg_blkio=--blkio-weight
# A blkio weight needs a block I/O scheduler that has one (BFQ): where the host's blkio has no
# weight file, runc refuses the weight as runvm does, and neither is asked for one.
if ! ls /sys/fs/cgroup/blkio/blkio.weight /sys/fs/cgroup/blkio/blkio.bfq.weight /sys/fs/cgroup/io.weight \
	/sys/fs/cgroup/io.bfq.weight >/dev/null 2>&1; then
	echo "# t_cgroup: no blkio weight on this host (no BFQ scheduler): blockIO.weight left out"
	cg_res=${cg_res/'"blockIO":{"weight":300},'/}
	cg_blkio=
fi
# cg_files DIR_SUFFIX: the limits as "file=value" lines, v1 or v2 names, wherever the host has them.
cg_files() {
	local p=$1 f h
	for f in cpuset.cpus cpuset.mems cpu.shares cpu.weight cpu.cfs_quota_us cpu.cfs_period_us cpu.max pids.max \
		blkio.weight blkio.bfq.weight io.weight io.bfq.weight; do
		for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
			[ -f "$h$p/$f" ] && echo "$f=$(cat "$h$p/$f")" && break
		done
	done
}
cg_mem() { cat /sys/fs/cgroup/memory"$1"/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup"$1"/memory.max; }
cg_pids() { cat /sys/fs/cgroup/pids"$1"/pids.max 2>/dev/null || cat /sys/fs/cgroup"$1"/pids.max; }
if [ ! -x "$cg_runc" ]; then
	ok "# SKIP t_cgroup: no runc at $cg_runc"
else
	# --- absolute path: runc and runvm side by side ---
	make_config "$bundle" '["sleep","60"]' "c['linux']['cgroupsPath']='$cg_abs-runc'; c['linux']['resources']=$cg_res"
	"$cg_runc" --root "$cg_rroot" run -d -b "$bundle" cgrc1 </dev/null >/dev/null 2>"$work/runc.err"
	runc_files=$(cg_files "$cg_abs-runc")
	create_bg cgrv1 '["sleep","60"]' "c['linux']['cgroupsPath']='$cg_abs-runvm'; c['linux']['resources']=$cg_res"
	rv_files=$(cg_files "$cg_abs-runvm")
	out=$rv_files rc=$create_rc err="runc: $runc_files // $(cat "$work/runc.err" "$work/cgrv1.err")"
	check "absolute cgroupsPath: cpuset, cpu shares/quota/period, blkio weight as runc's ($(echo $rv_files))" \
		eval '[ "$create_rc" = 0 ] && [ -n "$rv_files" ] && [ "$(grep -v pids.max <<<"$rv_files")" = "$(grep -v pids.max <<<"$runc_files")" ]'
	out="runc $(cg_pids "$cg_abs-runc") runvm $(cg_pids "$cg_abs-runvm")"
	check "pids.max: runc's limit, runvm's plus the VM's own threads (144)" \
		eval '[ "$(cg_pids "$cg_abs-runc")" = 20 ] && [ "$(cg_pids "$cg_abs-runvm")" = 164 ]'
	out="runc $(cg_mem "$cg_abs-runc") runvm $(cg_mem "$cg_abs-runvm")"
	check "memory: runc's limit, runvm's the guest's RAM plus the backend's overhead" \
		eval '[ "$(cg_mem "$cg_abs-runc")" = 67108864 ] && [ "$(cg_mem "$cg_abs-runvm")" -gt 67108864 ]'
	# --- update: the same flags to both ---
	upd=(--cpuset-cpus 0 --cpu-share 700 --cpu-quota 30000 --cpu-period 200000 --pids-limit 40 ${cg_blkio:+$cg_blkio 200})
	"$cg_runc" --root "$cg_rroot" update "${upd[@]}" cgrc1 2>"$work/runc.err"
	"${R[@]}" update "${upd[@]}" cgrv1 >/dev/null 2>"$work/rv.err"; rc=$?
	runc_files=$(cg_files "$cg_abs-runc"); rv_files=$(cg_files "$cg_abs-runvm")
	out=$rv_files err="runc: $runc_files // $(cat "$work/runc.err" "$work/rv.err")"
	check "update with runc's flags changes what runc's changes ($(echo $rv_files))" \
		eval '[ "$rc" = 0 ] && [ "$(grep -v pids.max <<<"$rv_files")" = "$(grep -v pids.max <<<"$runc_files")" ] && [ "$(cg_pids "$cg_abs-runvm")" = 184 ] && grep -q "=700" <<<"$rv_files$(cg_files "$cg_abs-runvm")"'
	echo '{"cpu":{"cpus":"0-1"},"pids":{"limit":-1}}' >"$work/res.json"
	"$cg_runc" --root "$cg_rroot" update -r "$work/res.json" cgrc1 2>/dev/null
	"${R[@]}" update -r "$work/res.json" cgrv1 >/dev/null 2>"$work/rv.err"; rc=$?
	out="runc $(cg_files "$cg_abs-runc" | grep cpuset.cpus) $(cg_pids "$cg_abs-runc") runvm $(cg_files "$cg_abs-runvm" | grep cpuset.cpus) $(cg_pids "$cg_abs-runvm")"
	err=$(cat "$work/rv.err")
	check "update -r resources.json (cpus 0-1, pids -1 is max) as runc" \
		eval '[ "$rc" = 0 ] && [ "$(cg_pids "$cg_abs-runvm")" = max ] && [ "$(cg_files "$cg_abs-runvm" | grep cpuset.cpus)" = "$(cg_files "$cg_abs-runc" | grep cpuset.cpus)" ]'
	# cg_io DIR_SUFFIX: direct I/O on the disk under $work from a process in that v1 blkio
	# cgroup, with a (high) throttle limit set: the kernel counts a cgroup's I/O in the
	# throttle files only where a limit is set. Prints the device, or nothing where it could not.
	cg_io() {
		local d=/sys/fs/cgroup/blkio$1 dev
		dev=$(findmnt -no MAJ:MIN -T "$work" 2>/dev/null | head -1 | tr -d ' ')
		[ -d "$d" ] && [ -n "$dev" ] || return 0
		echo "$dev 1000000000000" >"$d/blkio.throttle.write_bps_device" 2>/dev/null &&
			echo "$dev 1000000000000" >"$d/blkio.throttle.read_bps_device" 2>/dev/null || return 0
		sh -c 'echo $$ >"$1/cgroup.procs" && dd if=/dev/zero of="$2" bs=4k count=50 oflag=direct 2>/dev/null &&
			dd if="$2" of=/dev/null bs=4k iflag=direct 2>/dev/null' - "$d" "$work/cg-io.$$" && echo "$dev"
		rm -f "$work/cg-io.$$"
	}
	io_rc=$(cg_io "$cg_abs-runc") io_rv=$(cg_io "$cg_abs-runvm")
	# --- events --stats: runc's members, read from the cgroup ---
	"$cg_runc" --root "$cg_rroot" events --stats cgrc1 >"$work/runc.ev" 2>/dev/null
	"${R[@]}" events --stats cgrv1 >"$work/rv.ev" 2>"$work/rv.err"; rc=$?
	out=$(head -c 400 "$work/rv.ev") err=$(cat "$work/rv.err")
	check "events --stats: runc's members (cpu usage and throttling, cpuset, memory usage and limit, pids current and limit)" \
		python3 - "$work/runc.ev" "$work/rv.ev" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["data"]; v = json.load(open(sys.argv[2]))["data"]
assert set(r) <= set(v) | {"network_interfaces"}, set(r) - set(v)
assert v["cpu"]["usage"]["total"] > 0 and "throttling" in v["cpu"]
assert v["cpuset"]["cpus"] == r["cpuset"]["cpus"] == [0, 1], (v["cpuset"], r["cpuset"])
assert v["memory"]["usage"]["usage"] > 0 and v["memory"]["usage"]["limit"] > r["memory"]["usage"]["limit"]
assert v["pids"]["current"] >= 2 and "limit" not in v["pids"] and "limit" not in r["pids"]
PY
	# blkio and hugetlb, from each container's host cgroup: the same tables with the same ops
	# (the values differ: QEMU does I/O of its own), the same page sizes and members as runc's.
	cg_shape='import json, sys
d = json.load(open(sys.argv[1]))["data"]
bad = [e for v in (d["blkio"] or {}).values() for e in v or [] if "major" not in e or not set(e) <= {"major", "minor", "op", "value"}]
assert not bad, bad[:2]
print(json.dumps({"blkio": {k: sorted({e.get("op", "") for e in v or []}) for k, v in d["blkio"].items()},
                  "hugetlb": {k: sorted(e) for k, e in d["hugetlb"].items()}}, sort_keys=True))'
	shape_rc=$(python3 -c "$cg_shape" "$work/runc.ev" 2>&1) shape_rv=$(python3 -c "$cg_shape" "$work/rv.ev" 2>&1)
	out="runvm: $shape_rv" err="runc: $shape_rc (I/O made on device: runc's cgroup '$io_rc', runvm's '$io_rv')"
	check "events --stats: blkio and hugetlb in runc's shape, from the host cgroup (I/O made: ${io_rv:-none})" \
		eval '[ "$rc" = 0 ] && [ "$shape_rv" = "$shape_rc" ] && [[ "$shape_rv" == "{\"blkio\": "* ]] &&
			{ [ -z "$io_rv" ] || [[ "$shape_rv" == *ioServiceBytesRecursive*ioServicedRecursive* ]]; }'
	"$cg_runc" --root "$cg_rroot" delete -f cgrc1 2>/dev/null
	"${R[@]}" kill cgrv1 KILL 2>/dev/null; wait_status cgrv1 >/dev/null; "${R[@]}" delete -f cgrv1 2>/dev/null
	out= err=
	check "both cgroups are gone after delete" eval '! ls -d /sys/fs/cgroup/*'"$cg_abs"'-* 2>/dev/null | grep -q .'
	# --- relative path: below the caller's own cgroup in each v1 hierarchy, as runc ---
	make_config "$bundle" '["sleep","60"]' "c['linux']['cgroupsPath']='$cg_rel/c'; c['linux']['resources']={'pids':{'limit':30}}"
	"$cg_runc" --root "$cg_rroot" run -d -b "$bundle" cgrc2 </dev/null >/dev/null 2>"$work/runc.err"
	runc_cg=$(grep -E ':(pids|memory):' "/proc/$(cat "$cg_rroot/cgrc2/state.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["init_process_pid"])')/cgroup" 2>/dev/null)
	"$cg_runc" --root "$cg_rroot" delete -f cgrc2 2>/dev/null
	create_bg cgrv2 '["sleep","60"]' "c['linux']['cgroupsPath']='$cg_rel/c'; c['linux']['resources']={'pids':{'limit':30}}"
	rv_cg=$(grep -E ':(pids|memory):' "/proc/$mon_pid/cgroup" 2>/dev/null)
	out=$rv_cg err="runc: $runc_cg"
	check "relative cgroupsPath: the monitor's cgroups are runc's process's" \
		eval '[ "$create_rc" = 0 ] && [ -n "$rv_cg" ] && [ "$rv_cg" = "$runc_cg" ] && [[ "$rv_cg" == *"$cg_rel/c"* ]]'
	# The guest's own cgroup takes pids.limit itself: 30 processes, the 31st fork fails.
	"${R[@]}" kill cgrv2 KILL 2>/dev/null; wait_status cgrv2 >/dev/null; "${R[@]}" delete -f cgrv2 2>/dev/null
	rv cgrv3 '["sh","-c","mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null || mount -t cgroup2 none /tmp; cat /sys/fs/cgroup/pids.max /tmp/pids.max 2>/dev/null; true"]' \
		"c['linux']['cgroupsPath']='$cg_rel/g'; c['linux']['resources']={'pids':{'limit':30}}; c['mounts']=[m for m in c['mounts'] if m['destination']!='/sys']"
	check "the guest's container cgroup has pids.max = the limit" eval '[ "$rc" = 0 ] && [[ "$out" == *30* ]]'
	# --- what the host cannot honour: refused, as runc refuses it ---
	for case in 'cpuset CPU that does not exist|{"cpu":{"cpus":"63"}}|cpuset.cpus' \
		'absent hugetlb controller|{"hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}|hugetlb' \
		'cpu.shares below 2|{"cpu":{"shares":1}}|cpu-shares' 'cpu quota under 1 ms|{"cpu":{"quota":500}}|cpu.cfs_quota_us|cpu.max'; do
		IFS='|' read -r what res needle alt <<<"$case"
		make_config "$bundle" '["true"]' "c['linux']['cgroupsPath']='$cg_abs-bad'; c['linux']['resources']=$res"
		"$cg_runc" --root "$cg_rroot" run -b "$bundle" cgrc3 </dev/null >/dev/null 2>"$work/runc.err"; runc_rc=$?
		"$cg_runc" --root "$cg_rroot" delete -f cgrc3 2>/dev/null
		EXPECT_RC=1 expect_error "refused as by runc (rc $runc_rc): $what" "$needle${alt:+|$alt}" cgbad "$RUNVM"
	done
	for h in /sys/fs/cgroup/*/; do rmdir "$h$cg_abs-bad" 2>/dev/null; done
fi

# --- update reaches the guest's container cgroup (pids.max, memory.max) ---
# The container mounts its own cgroup2 at /cg (its cgroup namespace: its cgroup is /) and then
# only waits, forking nothing, so that a full pids.max cannot end it. cgu_spawn: an exec that
# starts 15 background sleeps (busybox sh stops at the first failed fork) and says "started"
# for each; cgu_read FILE: /cg/FILE, waiting for the mount after a start.
cgu_init='["sh","-c","mkdir -p /cg && mount -t cgroup2 none /cg; exec tail -f /dev/null"]'
cgu_spawn=(sh -c 'i=0; while [ $i -lt 15 ]; do sleep 120 >/dev/null 2>&1 </dev/null & i=$((i+1)); echo started; done')
cgu_read() {
	local id=$1 f=$2 v
	for _ in $(seq 20); do
		v=$("${R[@]}" exec "$id" cat "/cg/$f" 2>/dev/null) && [ -n "$v" ] && break
		sleep 0.5
	done
	echo "$v"
}
# cgu_runc ARGS: runc on its own --root, where there is one (the comparisons skip without).
cgu_runc() { [ -x "$cg_runc" ] && "$cg_runc" --root "$cg_rroot" "$@"; }
undo+=("$cg_runc --root $cg_rroot delete -f cgrcu 2>/dev/null; $cg_runc --root $cg_rroot delete -f cgrcu2 2>/dev/null; for h in /sys/fs/cgroup/*/; do rmdir \$h$cg_abs-up-runc \$h$cg_abs-up 2>/dev/null; done")
# created, not started: held by the monitor and sent after RUN
create_bg cgup1 "$cgu_init" "c['linux']['cgroupsPath']='$cg_abs-up'; c['linux']['resources']={'pids':{'limit':30}}; c['mounts']=[m for m in c['mounts'] if m['destination']!='/sys']"
"${R[@]}" update --pids-limit 12 cgup1 >"$work/stdout" 2>"$work/stderr"; rc=$?
"${R[@]}" start cgup1 2>>"$work/stderr"
v=$(cgu_read cgup1 pids.max)
out="guest $v host $(cg_pids "$cg_abs-up")" err=$(cat "$work/stderr")
check "update --pids-limit 12 of a created container: the guest's pids.max once started, the host's plus 144" \
	eval '[ "$create_rc" = 0 ] && [ "$rc" = 0 ] && [ "$v" = 12 ] && [ "$(cg_pids "$cg_abs-up")" = 156 ]'
# running: the limit holds inside the guest
"${R[@]}" update --pids-limit 8 cgup1 >"$work/stdout" 2>"$work/stderr"; rc=$?
v=$(cgu_read cgup1 pids.max)
started=$("${R[@]}" exec cgup1 "${cgu_spawn[@]}" 2>"$work/spawn.err" | grep -c started)
out="pids.max $v, $started of 15 started" err="$(cat "$work/stderr" "$work/spawn.err")"
check "update --pids-limit 8 of a running container: its pids.max is 8, and it cannot fork 15 more" \
	eval '[ "$rc" = 0 ] && [ "$v" = 8 ] && [ "$started" -ge 1 ] && [ "$started" -lt 8 ] && grep -q "fork" "$work/spawn.err"'
if [ -x "$cg_runc" ]; then
	make_config "$bundle" "$cgu_init" "c['linux']['cgroupsPath']='$cg_abs-up-runc'; c['linux']['resources']={'pids':{'limit':30}}; c['mounts']=[m for m in c['mounts'] if m['destination']!='/sys']"
	cgu_runc run -d -b "$bundle" cgrcu </dev/null >/dev/null 2>"$work/runc.err"
	cgu_runc update --pids-limit 8 cgrcu 2>>"$work/runc.err"
	runc_started=$(cgu_runc exec cgrcu "${cgu_spawn[@]}" 2>"$work/runc-spawn.err" | grep -c started)
	out="runvm $started, runc $runc_started of 15 started" err="$(cat "$work/runc.err" "$work/runc-spawn.err")"
	check "runc, the same update: the same refusal to fork (runc's pids.max $(cg_pids "$cg_abs-up-runc"))" \
		eval '[ "$runc_started" -ge 1 ] && [ "$runc_started" -lt 8 ] && grep -q "fork" "$work/runc-spawn.err"'
	cgu_runc exec cgrcu killall sleep 2>/dev/null
else
	ok "# SKIP update --pids-limit compared with runc: no runc at $cg_runc"
fi
"${R[@]}" exec cgup1 killall sleep 2>/dev/null
"${R[@]}" update --pids-limit -1 cgup1 >"$work/stdout" 2>"$work/stderr"; rc=$?
started=$("${R[@]}" exec cgup1 "${cgu_spawn[@]}" 2>"$work/spawn.err" | grep -c started)
"${R[@]}" exec cgup1 killall sleep 2>/dev/null
out="pids.max $(cgu_read cgup1 pids.max), $started started" err="$(cat "$work/stderr" "$work/spawn.err")"
check "update --pids-limit -1: pids.max max in the guest, all 15 start" \
	eval '[ "$rc" = 0 ] && [ "$started" = 15 ] && [ "$(cgu_read cgup1 pids.max)" = max ]'
# paused: accepted as by runc, applied in the guest at resume
# (runc_rc: runc's status for the same, "none" without runc)
runc_rc=none
: >"$work/runc.err"
if cgu_runc pause cgrcu 2>/dev/null; then
	cgu_runc update --pids-limit 6 cgrcu 2>"$work/runc.err"; runc_rc=$?
fi
cgu_runc delete -f cgrcu 2>/dev/null
"${R[@]}" pause cgup1 2>/dev/null
"${R[@]}" update --pids-limit 6 cgup1 >"$work/stdout" 2>"$work/stderr"; rc=$?
out=$(cat "$work/stdout") err="$(cat "$work/stderr") runc: $(cat "$work/runc.err")"
"${R[@]}" resume cgup1 2>>"$work/stderr"
v=$(cgu_read cgup1 pids.max)
out="$out; after resume pids.max $v"
check "update of a paused container: accepted as by runc (rc $runc_rc), the guest takes it at resume" \
	eval '[ "$rc" = 0 ] && [[ "$runc_rc" = [0n]* ]] && [[ "$out" == *"takes the new limits when it resumes"* ]] && [ "$v" = 6 ]'
"${R[@]}" kill cgup1 KILL 2>/dev/null; wait_status cgup1 >/dev/null
# stopped: refused, as by runc
"${R[@]}" update --pids-limit 9 cgup1 >"$work/stdout" 2>"$work/stderr"; rc=$?
make_config "$bundle" '["true"]' "c['linux']['cgroupsPath']='$cg_abs-up-runc'"
runc_rc=none
: >"$work/runc.err"
if cgu_runc run -d -b "$bundle" cgrcu2 </dev/null >/dev/null 2>/dev/null; then
	sleep 1
	cgu_runc update --pids-limit 9 cgrcu2 2>"$work/runc.err"; runc_rc=$?
fi
cgu_runc delete -f cgrcu2 2>/dev/null
out= err="$(cat "$work/stderr") runc: $(cat "$work/runc.err")"
check "update of a stopped container: refused, one line, as by runc (rc $runc_rc)" \
	eval '[ "$rc" = 1 ] && [ "$runc_rc" != 0 ] && [ "$(wc -l <"$work/stderr")" = 1 ] && grep -q "not running" "$work/stderr"'
"${R[@]}" delete -f cgup1 2>/dev/null
# memory: no cgroupsPath, so that only the guest's limit changes (a host limit under what the
# VM already holds would have the host's OOM killer end it)
create_bg cgup2 "$cgu_init" "c['linux']['resources']={'memory':{'limit':67108864}}; c['mounts']=[m for m in c['mounts'] if m['destination']!='/sys']"
"${R[@]}" start cgup2 2>"$work/stderr"
m0=$(cgu_read cgup2 memory.max)
"${R[@]}" update --memory 32m cgup2 >"$work/stdout" 2>>"$work/stderr"; rc=$?
m1=$(cgu_read cgup2 memory.max)
"${R[@]}" update --memory 1g cgup2 >>"$work/stdout" 2>>"$work/stderr"; rc2=$?
m2=$(cgu_read cgup2 memory.max)
out="at start $m0, --memory 32m $m1, --memory 1g $m2; $(cat "$work/stdout")" err=$(cat "$work/stderr")
check "update --memory: the guest's memory.max, never above what it had at start (its RAM stays as booted)" \
	eval '[ "$create_rc" = 0 ] && [ "$rc" = 0 ] && [ "$rc2" = 0 ] && [ "$m0" -gt 33554432 ] && [ "$m0" -lt 67108864 ] && [ "$m1" = 33554432 ] && [ "$m2" = "$m0" ]'
# what the guest refuses: one line, non-zero exit, the container runs on
"${R[@]}" update --memory 4m cgup2 >"$work/stdout" 2>"$work/stderr"; rc=$?
out="memory.max $(cgu_read cgup2 memory.max), $(status_of cgup2)" err=$(cat "$work/stderr")
check "update --memory 4m: the guest's refusal as one line, exit 1, nothing changed" \
	eval '[ "$rc" = 1 ] && [ "$(wc -l <"$work/stderr")" = 1 ] && grep -q "guest.s cgroup: memory limit" "$work/stderr" && [ "$(cgu_read cgup2 memory.max)" = "$m0" ] && [ "$(status_of cgup2)" = running ]'
"${R[@]}" kill cgup2 KILL 2>/dev/null; wait_status cgup2 >/dev/null; "${R[@]}" delete -f cgup2 2>/dev/null
