# Host cgroup limits on a cgroup v2 host (issue 13 point 2). These machines are v1 hybrid, where
# t_cgroup.sh compares runvm's cgroup files with runc's; this suite runs where /sys/fs/cgroup
# is a cgroup2 mount (the nested host VM's second pass, tests/nested/tests.sh) and skips
# elsewhere. It has no runc to compare with there, so the values are the ones runc 1.1 writes on
# v2 for the same resources: cpu.weight = 1 + (shares - 2) * 9999 / 262142, cpu.max "QUOTA
# PERIOD", io.bfq.weight (or io.weight = 1 + (weight - 10) * 9999 / 990), pids.max (plus the
# VM's own threads, as on v1), memory.max (the guest's RAM and the backend's overhead).
# Sourced by run.sh.
if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
	skip "t_cgroup2: limits on a cgroup v2 host" "/sys/fs/cgroup is not cgroup v2 here (t_cgroup.sh covers v1 against runc)"
	return 0
fi
c2_abs=/runvm-it-cg2-$$
c2_rel=runvm-it-cg2rel-$$
c2_own=$(sed -n 's/^0:://p' /proc/self/cgroup)
undo+=("rmdir /sys/fs/cgroup$c2_abs /sys/fs/cgroup${c2_own%/}/$c2_rel/c /sys/fs/cgroup${c2_own%/}/$c2_rel")
c2_ctl=" $(cat /sys/fs/cgroup/cgroup.controllers) "
c2_res='"cpu":{"cpus":"1","mems":"0","shares":512,"quota":50000,"period":100000},"pids":{"limit":20},"memory":{"limit":67108864}'
c2_want="cpuset.cpus=1 cpuset.mems=0 cpu.weight=20 cpu.max=50000 100000 pids.max=164"
# blkio weight only where the host has the io controller (runvm, as runc, refuses it elsewhere).
if [[ "$c2_ctl" == *" io "* ]]; then
	c2_res+=',"blockIO":{"weight":300}'
fi
# c2_files DIR: the limits as "file=value" words, in c2_want's order; the io weight apart.
c2_files() {
	local f
	for f in cpuset.cpus cpuset.mems cpu.weight cpu.max pids.max; do
		[ -f "/sys/fs/cgroup$1/$f" ] && printf '%s=%s ' "$f" "$(cat "/sys/fs/cgroup$1/$f")"
	done
}
c2_io() { cat "/sys/fs/cgroup$1/io.bfq.weight" "/sys/fs/cgroup$1/io.weight" 2>/dev/null | head -n 1; }

out="controllers:$c2_ctl"
check "cgroup v2: the root offers cpuset, cpu, memory and pids" \
	eval '[[ "$c2_ctl" == *" cpuset "* ]] && [[ "$c2_ctl" == *" cpu "* ]] && [[ "$c2_ctl" == *" memory "* ]] && [[ "$c2_ctl" == *" pids "* ]]'

create_bg cg2a '["sleep","60"]' "c['linux']['cgroupsPath']='$c2_abs'; c['linux']['resources']={$c2_res}"
files=$(c2_files "$c2_abs") io=$(c2_io "$c2_abs")
out="$files io: ${io:-none}" rc=$create_rc err=$(cat "$work/cg2a.err")
check "cgroup v2, absolute cgroupsPath: cpuset, cpu.weight, cpu.max and pids.max as runc writes them" \
	eval '[ "$create_rc" = 0 ] && [ "$files" = "$c2_want " ]'
if [[ "$c2_ctl" == *" io "* ]]; then
	check "cgroup v2: blkio weight 300 as io.bfq.weight 300, or io.weight 2930" \
		eval '[ "$io" = 300 ] || [ "$io" = "default 300" ] || [ "$io" = "default 2930" ]'
else
	skip "cgroup v2: blkio weight" "the host has no io controller"
fi
mem=$(cat "/sys/fs/cgroup$c2_abs/memory.max" 2>/dev/null)
out="memory.max ${mem:-none}; monitor $(cat "/proc/$mon_pid/cgroup" 2>&1)"
check "cgroup v2: memory.max above the container's limit (the VM's overhead), the monitor in the cgroup" \
	eval '[ -n "$mem" ] && [ "$mem" -gt 67108864 ] && [ "$(cat /proc/$mon_pid/cgroup)" = "0::$c2_abs" ]'

"${R[@]}" update --cpuset-cpus 0 --cpu-share 700 --cpu-quota 30000 --cpu-period 200000 --pids-limit 40 cg2a \
	>/dev/null 2>"$work/rv.err"
rc=$?
files=$(c2_files "$c2_abs")
out=$files err=$(cat "$work/rv.err")
check "cgroup v2: update writes cpuset.cpus, cpu.weight (shares 700: 27), cpu.max and pids.max (40 + the VM's)" \
	eval '[ "$rc" = 0 ] && [ "$files" = "cpuset.cpus=0 cpuset.mems=0 cpu.weight=27 cpu.max=30000 200000 pids.max=184 " ]'

"${R[@]}" events --stats cg2a >"$work/rv.ev" 2>"$work/rv.err"
rc=$?
out=$(head -c 400 "$work/rv.ev") err=$(cat "$work/rv.err")
check "cgroup v2: events --stats reads cpu, memory and pids from the v2 files" \
	python3 - "$work/rv.ev" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["data"]
assert v["cpu"]["usage"]["total"] > 0, v["cpu"]
assert v["memory"]["usage"]["usage"] > 0, v["memory"]
assert v["pids"]["current"] >= 2 and v["pids"].get("limit", 184) == 184, v["pids"]
PY
"${R[@]}" kill cg2a KILL 2>/dev/null
wait_status cg2a >/dev/null
"${R[@]}" delete -f cg2a 2>/dev/null
out=$(ls -d "/sys/fs/cgroup$c2_abs" 2>&1) err=
check "cgroup v2: delete removes the container's cgroup" test ! -e "/sys/fs/cgroup$c2_abs"

# A relative path is below the caller's own cgroup, as runc puts it on v2.
create_bg cg2r '["sleep","60"]' "c['linux']['cgroupsPath']='$c2_rel/c'; c['linux']['resources']={'pids':{'limit':30}}"
want="0::${c2_own%/}/$c2_rel/c"
got=$(cat "/proc/$mon_pid/cgroup" 2>&1) pids=$(cat "/sys/fs/cgroup${c2_own%/}/$c2_rel/c/pids.max" 2>&1)
out="monitor: $got (want $want), pids.max $pids" rc=$create_rc err=$(cat "$work/cg2r.err")
check "cgroup v2, relative cgroupsPath: below the caller's cgroup, with its pids.max" \
	eval '[ "$create_rc" = 0 ] && [ "$got" = "$want" ] && [ "$pids" = 174 ]'
"${R[@]}" kill cg2r KILL 2>/dev/null
wait_status cg2r >/dev/null
"${R[@]}" delete -f cg2r 2>/dev/null
