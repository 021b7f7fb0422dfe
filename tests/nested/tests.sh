# The tests that run inside the nested host VM (busybox sh, started by /init; see run.sh).
# Loads the KVM modules, checks that /dev/kvm runs a guest, prints `runvm check`, then for each
# backend runs containers with `runvm --backend B run` under real (nested) KVM. Every result is a
# TAP line prefixed "NESTED-TAP: " on the serial console; run.sh extracts and counts them.
# A backend that runvm does not know yet ("unknown backend") gives "not ok ... # TODO" lines,
# which TAP does not count as failures. Other lines for run.sh: "NESTED-SKIP: reason",
# "NESTED-TIME: BACKEND TEST MS" (wall time of one `runvm run`: L2 boot, workload, shutdown).
#
# Then the integration suite (tests/integration/run.sh, copied to /it/tests) with every runvm call
# given --backend B (nested_it=B): its TAP lines join this stream, renumbered, and a summary per
# t_*.sh file follows them.
#
# Settings from the kernel command line: nested_backends=kvm,qemu, nested_run_timeout=SECONDS
# (one `runvm run`), nested_bench_rounds=N (runs of true per backend for the bench),
# nested_it=BACKEND (empty: no integration suite), nested_it_only=NAME (its IT_ONLY) and
# nested_it_stall=SECONDS (no new test result for that long: the watchdog shows what runs and the
# guests' consoles, then kills the suite's runvm processes so that it goes on; 240).

P='NESTED-TAP: '
n=0
backends="kvm qemu"
run_timeout=300
bench_rounds=3
it_backend=kvm
it_only=
it_stall=240
for arg in $(cat /proc/cmdline); do
	case $arg in
	nested_it=*) it_backend=${arg#*=} ;;
	nested_it_only=*) it_only=${arg#*=} ;;
	nested_it_stall=*) it_stall=${arg#*=} ;;
	nested_backends=*) backends=$(echo "${arg#*=}" | tr , ' ') ;;
	nested_run_timeout=*) run_timeout=${arg#*=} ;;
	nested_bench_rounds=*) bench_rounds=${arg#*=} ;;
	esac
done

tap() { echo "$P$*"; }
ok() { n=$((n + 1)); tap "ok $n - $1"; }
# not_ok NAME [DETAIL...]: each detail's first lines as TAP diagnostics.
not_ok() {
	local name=$1 l
	shift
	n=$((n + 1))
	tap "not ok $n - $name"
	for l in "$@"; do
		printf '%s\n' "$l" | head -n 8 | while IFS= read -r x; do tap "#   $x"; done
	done
}

# Milliseconds of wall-clock time (busybox date has no %N; adjtimex shows microseconds).
now_ms() {
	set -- $(adjtimex | awk '/tv_sec:/{s=$2} /tv_usec:/{u=$2} END{print s, u}')
	local us=${2#"${2%%[!0]*}"}
	echo $(($1 * 1000 + ${us:-0} / 1000))
}

t_start=$(now_ms)

# --- the host VM ------------------------------------------------------------------------
if ! grep -qw svm /proc/cpuinfo; then
	echo "NESTED-SKIP: the TCG CPU (-cpu max) shows no svm flag"
	exit 0
fi
ok "svm flag in the host VM's CPU"

failed=
for m in $(cat /nested/modules); do
	insmod "/lib/modules/nested/$m.ko" 2>/tmp/insmod.err || failed="$failed $m: $(cat /tmp/insmod.err)"
done
if [ -z "$failed" ] && [ -c /dev/kvm ] && [ -c /dev/net/tun ]; then
	ok "modules loaded: $(echo $(cat /nested/modules))"
else
	not_ok "modules loaded" "failed:${failed:- none}" "$(ls -l /dev/kvm /dev/net/tun 2>&1)"
fi

out=$(/nested/kvmtest 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ "$out" = "kvmtest: 4" ]; then
	ok "/dev/kvm runs a real-mode guest (I/O exits, HLT)"
else
	not_ok "/dev/kvm runs a real-mode guest" "rc=$rc" "$out"
fi

runvm check >/tmp/check 2>&1
rc=$?
while IFS= read -r l; do tap "# $l"; done </tmp/check
if [ "$rc" = 0 ] && grep -q '^kvm usable *yes' /tmp/check; then
	ok "runvm check: kvm usable"
else
	not_ok "runvm check: kvm usable" "rc=$rc"
fi
# Each backend's own verdict: it must take x86_64 guests with KVM here.
for b in $backends; do
	runvm --backend "$b" check >/tmp/check 2>&1
	rc=$?
	line=$(grep '^x86_64 guest' /tmp/check)
	name="runvm --backend $b check: x86_64 guests with KVM"
	if [ "$rc" = 0 ] && echo "$line" | grep -q "backend $b, accelerator kvm"; then
		ok "$name"
	else
		grep -q "unknown backend" /tmp/check && name="$name # TODO backend $b is not registered yet"
		not_ok "$name" "rc=$rc" "${line:-$(cat /tmp/check)}"
	fi
done

# --- containers, per backend -------------------------------------------------------------
ROOT=/run/runvm
BUNDLE=/bundle
printf 'line one\nline two\n' >/tmp/in.txt

# mkcfg JSON_ARGS: the bundle's config.json with process.args = [JSON_ARGS].
mkcfg() { sed "s|\"@ARGS@\"|$1|" $BUNDLE/config.json.in >$BUNDLE/config.json; }

# rv BACKEND TEST JSON_ARGS [STDIN_FILE]: one `runvm run`; sets rc, out, err, ms.
rv() {
	mkcfg "$3"
	local t0
	t0=$(now_ms)
	timeout -s KILL "$run_timeout" runvm --backend "$1" --root $ROOT run --bundle $BUNDLE "$1-$2" \
		<"${4:-/dev/null}" >/tmp/out 2>/tmp/err
	rc=$?
	ms=$(($(now_ms) - t0))
	out=$(cat /tmp/out)
	err=$(cat /tmp/err)
	[ "$rc" = 137 ] && err="killed after ${run_timeout} s (nested_run_timeout); $err"
	echo "NESTED-TIME: $1 $2 $ms"
}

# check BACKEND NAME SHELL_CONDITION: ok or not ok from the last rv's results.
check() {
	local b=$1 name="$1: $2"
	if eval "$3"; then
		ok "$name ($ms ms)"
	else
		case $err in *"unknown backend"*) name="$name # TODO backend $b is not registered yet" ;; esac
		not_ok "$name" "rc=$rc" "stdout=$(printf '%s' "$out" | head -c 300)" "stderr=$(printf '%s' "$err" | head -c 600)"
	fi
}

# mem PID: R_HWM and R_PSS, the process's VmHWM and Pss in kB (0 once it is gone), and R_RAM,
# the resident part of its guest RAM mapping (the one mapping as large as the guest's 256 MiB:
# the kvm backend's memfd, QEMU's RAM block), so that Pss - R_RAM is the VMM's own overhead.
# Shell builtins only, not even $(...): a fork costs a lot under TCG, and the sampler must not
# slow down what it measures.
mem() {
	local k v size=
	R_HWM=0 R_PSS=0 R_RAM=0
	while read -r k v _; do [ "$k" = VmHWM: ] && R_HWM=$v; done 2>/dev/null <"/proc/$1/status"
	while read -r k v _; do [ "$k" = Pss: ] && R_PSS=$v; done 2>/dev/null <"/proc/$1/smaps_rollup"
	while read -r k v _; do
		case $k in
		Size:) size=$v ;;
		Rss:) [ "$size" = 262144 ] && R_RAM=$((R_RAM + v)) ;;
		esac
	done 2>/dev/null <"/proc/$1/smaps"
}

# kids PID: R_KIDS, the process's children (/proc/PID/task/*/children, else a scan of /proc).
kids() {
	local f c p
	R_KIDS=
	if [ -e "/proc/$1/task/$1/children" ]; then
		# No newline at the end: read fails, but sets c.
		for f in /proc/$1/task/*/children; do
			c=
			read -r c 2>/dev/null <"$f"
			R_KIDS="$R_KIDS $c"
		done
		return
	fi
	for f in /proc/[0-9]*/stat; do
		read -r c _ _ p _ 2>/dev/null <"$f" && [ "$p" = "$1" ] && R_KIDS="$R_KIDS $c"
	done
}

# bench_once BACKEND ROUND: a timed `runvm run` of true, sampling the monitor's memory (and its
# children's: the QEMU process of the qemu backend) every 0.2 s while it runs; the highest
# values seen accumulate in mon_hwm, mon_pss, kid_hwm, kid_pss and kid_name over the rounds.
bench_once() {
	local b=$1 round=$2 pid st c t0 i=0
	mkcfg '"true"'
	t0=$(now_ms)
	runvm --backend "$b" --root $ROOT run --bundle $BUNDLE "$b-bench$round" </dev/null >/tmp/out 2>/tmp/err &
	pid=$!
	while :; do
		st=
		read -r _ _ st _ 2>/dev/null <"/proc/$pid/stat"
		case $st in '' | Z | X) break ;; esac
		i=$((i + 1))
		if [ $i -gt $((run_timeout * 5)) ]; then
			kill -KILL "$pid"
			break
		fi
		mem "$pid"
		[ "$R_HWM" -gt $mon_hwm ] && mon_hwm=$R_HWM
		[ "$R_PSS" -gt $mon_pss ] && mon_pss=$R_PSS
		ovh=$((R_PSS - R_RAM))
		kids "$pid"
		for c in $R_KIDS; do
			mem "$c"
			[ "$R_HWM" -gt $kid_hwm ] && kid_hwm=$R_HWM && read -r kid_name 2>/dev/null <"/proc/$c/comm"
			[ "$R_PSS" -gt $kid_pss ] && kid_pss=$R_PSS
			ovh=$((ovh + R_PSS - R_RAM))
		done
		[ "$ovh" -gt $ovh_max ] && ovh_max=$ovh
		usleep 200000
	done
	wait "$pid"
	rc=$?
	ms=$(($(now_ms) - t0))
	out=$(cat /tmp/out)
	err=$(cat /tmp/err)
	echo "NESTED-TIME: $b bench-true$round $ms"
}

# bench BACKEND: bench_rounds runs of true; one test that all succeed, then the median time and
# the highest memory figures.
bench() {
	local b=$1 r all='' bad='' med
	mon_hwm=0 mon_pss=0 kid_hwm=0 kid_pss=0 kid_name='' ovh_max=0
	for r in $(seq "$bench_rounds"); do
		bench_once "$b" "$r"
		all="$all $ms"
		if ! [ "$rc" = 0 ] || [ -n "$out" ]; then
			bad="round $r: rc=$rc stdout=$(printf '%s' "$out" | head -c 200) stderr=$(printf '%s' "$err" | head -c 400)"
			break
		fi
	done
	med=$(echo "$all" | tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END{print v[int((NR + 1) / 2)]}')
	ms="median $med of$all"
	check "$b" "bench: $bench_rounds runs of true" '[ -z "$bad" ]'
	if [ -z "$bad" ]; then
		tap "# bench $b: runvm run true, median ${med} ms of ${bench_rounds} (${all# });" \
			"monitor VmHWM ${mon_hwm} kB, Pss ${mon_pss} kB;" \
			"${kid_name:-no child process}${kid_name:+ VmHWM ${kid_hwm} kB, Pss ${kid_pss} kB};" \
			"host overhead (Pss without the guest's RAM) ${ovh_max} kB"
		eval "bench_ms_$b=$med bench_mem_$b=$((mon_hwm + kid_hwm)) bench_pss_$b=$((mon_pss + kid_pss)) bench_ovh_$b=$ovh_max"
	fi
}

for b in $backends; do
	rv "$b" echo '"echo", "hello from L2"'
	check "$b" "echo: stdout relayed, exit 0, no state left" \
		'[ "$rc" = 0 ] && [ "$out" = "hello from L2" ] && [ ! -e "$ROOT/$b-echo" ]'

	rv "$b" exit3 '"sh", "-c", "exit 3"'
	check "$b" "exit code 3 propagated" '[ "$rc" = 3 ]'

	rv "$b" stdin '"cat"' /tmp/in.txt
	check "$b" "stdin relayed through cat" '[ "$rc" = 0 ] && [ "$out" = "$(cat /tmp/in.txt)" ]'

	rm -f $BUNDLE/rootfs/written-by-guest
	rv "$b" write '"sh", "-c", "echo written inside > /written-by-guest"'
	check "$b" "a file written in the container is in the rootfs afterwards" \
		'[ "$rc" = 0 ] && [ "$(cat $BUNDLE/rootfs/written-by-guest 2>/dev/null)" = "written inside" ]'
	rm -f $BUNDLE/rootfs/written-by-guest

	bench "$b"
done

eval "k_ms=\${bench_ms_kvm:-} q_ms=\${bench_ms_qemu:-} k_mem=\${bench_mem_kvm:-} q_mem=\${bench_mem_qemu:-}"
eval "k_pss=\${bench_pss_kvm:-} q_pss=\${bench_pss_qemu:-} k_ovh=\${bench_ovh_kvm:-} q_ovh=\${bench_ovh_qemu:-}"
if [ -n "$k_ms" ] && [ -n "$q_ms" ]; then
	tap "# bench kvm/qemu: start $(awk -v a="$k_ms" -v b="$q_ms" 'BEGIN{printf "%.2f", a / b}')x," \
		"host memory VmHWM $(awk -v a="$k_mem" -v b="$q_mem" 'BEGIN{printf "%.2f", a / b}')x," \
		"Pss $(awk -v a="$k_pss" -v b="$q_pss" 'BEGIN{printf "%.2f", a / b}')x," \
		"overhead without guest RAM $(awk -v a="$k_ovh" -v b="$q_ovh" 'BEGIN{printf "%.2f", a / b}')x (goal: <= 0.5x start, <= 0.1x memory)"
fi
# --- the integration suite ---------------------------------------------------------------
# it_watchdog: while the suite runs, every 10 s: has /tmp/it.tap grown? After it_stall seconds
# without: the processes, the kernel stacks of runvm's threads, the last lines of every guest
# console of the suite, then SIGKILL to the suite's runvm processes (the test fails, the suite
# goes on).
it_watchdog() {
	local last=-1 size idle=0 p t f
	while sleep 10; do
		size=$(wc -c </tmp/it.tap 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then
			last=$size idle=0
			continue
		fi
		idle=$((idle + 10))
		[ "$idle" -ge "$it_stall" ] || continue
		tap "# watchdog: no test result for $idle s (nested_it_stall); processes (no kernel threads):"
		ps -o pid,ppid,stat,args 2>/dev/null | awk '$1 != 2 && $2 != 2' | while IFS= read -r l; do tap "#   $l"; done
		for p in $(pgrep -f '^runvm --backend'); do
			for t in /proc/$p/task/*; do
				tap "# watchdog: runvm $p thread ${t##*/} ($(cut -d' ' -f3 "$t/stat" 2>/dev/null), wchan $(cat "$t/wchan" 2>/dev/null)):"
				while IFS= read -r l; do tap "#   $l"; done <"$t/stack"
			done
		done
		for f in /tmp/runvm-it-*/state/*/console.log; do
			[ -e "$f" ] || continue
			tap "# watchdog: $f, last lines:"
			tail -n 25 "$f" | tr -d '\r' | while IFS= read -r l; do tap "#   $l"; done
		done
		tap "# watchdog: killing the suite's runvm processes: $(echo $(pgrep -f '^runvm --backend'))"
		pkill -KILL -f '^runvm --backend'
		idle=0
	done
}

# tests/integration/run.sh as on a host, with RUNVM a wrapper that puts --backend B before the
# test's own arguments (a later --backend, as in the "unknown backend" test, still wins).
# Left out, with the reason printed as a TAP comment:
# - t_arm64.sh: aarch64 guests are the qemu backend's, under TCG, and the host VM has no
#   qemu-system-aarch64 (nor the arm64 busybox download); check-integration covers them.
# Run, but reported as "ok ... # SKIP" with their outcome as a comment, on a backend other than
# qemu (it_qemu_only, one test name per line, matched at the start of the name):
# - t_run.sh's "QEMU missing": a configuration naming a QEMU binary that is not there must
#   fail; other backends need no QEMU, and run the container.
# What the suite expects of its host: cgroup v1 hierarchies under /sys/fs/cgroup (t_lifecycle
# checks memory:PATH, as on these machines), /run writable for `ip netns`, tmpfs /tmp.
it_qemu_only='QEMU missing'

it_suite() {
	local b=$1 t0 f wd na=
	[ "$b" = qemu ] || na=$it_qemu_only
	mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
	for f in memory cpu,cpuacct pids; do
		mkdir -p "/sys/fs/cgroup/$f"
		mount -t cgroup -o "$f" cgroup "/sys/fs/cgroup/$f" || tap "# cannot mount the cgroup v1 hierarchy $f"
	done
	printf '#!/bin/sh\nexec runvm --backend %s "$@"\n' "$b" >/tmp/runvm-$b
	chmod 755 /tmp/runvm-$b
	if [ -e /it/tests/integration/t_arm64.sh ]; then
		rm /it/tests/integration/t_arm64.sh
		tap "# SKIP t_arm64.sh: aarch64 guests run on the qemu backend under TCG (check-integration); the host VM has no qemu-system-aarch64"
	fi
	tap "# integration suite, every runvm call with --backend $b${it_only:+ (IT_ONLY=$it_only)}"
	t0=$(now_ms)
	: >/tmp/it.tap
	it_watchdog &
	wd=$!
	# The suite's own plan line is dropped; its tests are numbered on from ours. Other output
	# (stderr) becomes comments.
	env RUNVM=/tmp/runvm-$b RUNVM_CONFIG=/etc/runvm/runvm.conf RUNVM_CACHE=/tmp/runvm-cache \
		${it_only:+IT_ONLY=$it_only} bash /it/tests/integration/run.sh </dev/null 2>&1 |
		awk -v base="$n" -v P="$P" -v count=/tmp/it.count -v na="$na" -v b="$b" '
		BEGIN { nna = split(na, naname, "\n") }
		function emit(s) { print P s; fflush(); print s >>"/tmp/it.tap"; fflush("/tmp/it.tap") }
		/^(not )?ok [0-9]+/ {
			bad = $1 == "not"
			num = bad ? $3 : $2
			rest = substr($0, index($0, num) + length(num))
			if (rest ~ /^ - no process of this run is left behind/) file = "run.sh"
			if (!(file in seen)) { seen[file] = 1; files[++nf] = file }
			k++
			skip = 0
			for (i = 1; i <= nna; i++)
				if (index(rest, " - " naname[i]) == 1) skip = 1
			if (skip) {
				skipped[file]++
				emit("ok " (base + k) rest " # SKIP the qemu backend'"'"'s test, not --backend " b "'"'"'s")
				emit("#   (it ran: " (bad ? "not ok" : "ok") ")")
				next
			}
			if (bad) fail[file]++; else pass[file]++
			emit((bad ? "not ok " : "ok ") (base + k) rest)
			next
		}
		/^1\.\.[0-9]+$/ { next }
		/^# t_.*\.sh$/ { file = $2; emit($0); next }
		/^#/ { emit($0); next }
		/^integration: / { next }
		{ emit("#   " $0) }
		END {
			for (i = 1; i <= nf; i++) { tp += pass[files[i]]; tf += fail[files[i]]; ts += skipped[files[i]] }
			emit(sprintf("# integration suite, --backend %s: %d passed, %d failed, %d skipped", b, tp, tf, ts))
			for (i = 1; i <= nf; i++)
				emit(sprintf("# integration %s: %d passed, %d failed%s", files[i], pass[files[i]], fail[files[i]],
					skipped[files[i]] ? ", " skipped[files[i]] " skipped" : ""))
			print k + 0 > count
		}'
	kill "$wd"
	n=$((n + $(cat /tmp/it.count 2>/dev/null || echo 0)))
	echo "NESTED-TIME: integration $b $(($(now_ms) - t0))"
}
[ -z "$it_backend" ] || it_suite "$it_backend"

echo "NESTED-TIME: all tests $(($(now_ms) - t_start))"
tap "1..$n"
