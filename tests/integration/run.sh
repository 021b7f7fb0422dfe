#!/bin/bash
# Integration tests: real VMs booted by runvm (TCG on these machines). Runs every t_*.sh here
# (sourced, sharing the helpers below and tests/lib/tap.sh's) and prints TAP and a closing
# "integration: N passed, N failed" line. Needs RUNVM (the binary) and RUNVM_CONFIG (a
# configuration pointing at the built kernel and initramfs); `make check-integration` sets both.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/bundle.sh"
. "$here/../lib/tap.sh"

: "${RUNVM:?set RUNVM to the runvm binary}"
: "${RUNVM_CONFIG:?set RUNVM_CONFIG to a runvm configuration}"
export RUNVM_CONFIG

work=$(mktemp -d /tmp/runvm-it-XXXXXX)
root=$work/state

# Tests add commands that undo host changes of theirs (network namespaces, links) here.
undo=()
cleanup() {
	# Only what this run started: QEMU processes whose command line names our work dir.
	pkill -KILL -f -- "$work/" 2>/dev/null
	for u in "${undo[@]}"; do eval "$u" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

bundle=$work/bundle
mkdir -p "$bundle"
make_rootfs "$bundle/rootfs"

# rv ID JSON_ARGS [PY] [runvm-args...]: run a container; sets out, err, rc.
rv() {
	local id=$1 args=$2 py=${3:-}
	shift 3 2>/dev/null || shift $#
	make_config "$bundle" "$args" "$py"
	out=$("$RUNVM" --root "$root" "$@" run --bundle "$bundle" "$id" <"${stdin_file:-/dev/null}" 2>"$work/stderr")
	rc=$?
	err=$(cat "$work/stderr")
}

# expect NAME COND_DESCRIPTION: check rc/out/err against the given test expression
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name" "rc=$rc" "stdout=$(head -c 300 <<<"$out")" "stderr=$(head -c 600 <<<"$err")"; fi
}

nothing_left() {
	local id=$1
	[ ! -e "$root/$id" ] || { echo "# state dir $root/$id left behind"; return 1; }
	! pgrep -f -- "$bundle/rootfs" >/dev/null || { echo "# a QEMU process is left behind"; return 1; }
	! grep -q -- "$work/" /proc/self/mountinfo || { echo "# a mount under $work is left behind"; return 1; }
}

# expect_error NAME NEEDLE ID CMD...: CMD must fail with status 1 (EXPECT_RC=N: N, the guest's
# 126/127), print one stderr line holding NEEDLE and no GLib warning or critical (criticals are
# fatal: G_DEBUG), write it as the last JSON error line of the log, and leave nothing behind.
# NEEDLE may list alternatives separated by `|` (the backends word some errors differently).
# `timeout 60`: a case that would hang fails instead.
expect_error() {
	local name=$1 needle=$2 id=$3; shift 3
	local log=$work/log.json
	rm -f "$log"
	G_DEBUG=fatal-criticals timeout 60 "$@" --root "$root" --log "$log" --log-format json run --bundle "$bundle" "$id" \
		</dev/null >"$work/stdout" 2>"$work/stderr"
	rc=$?
	out=$(cat "$work/stdout"); err=$(cat "$work/stderr")
	local lines last
	lines=$(wc -l < "$work/stderr")
	last=$(python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])]; print([e["msg"] for e in l if e["level"]=="error"][-1])' "$log" 2>&1)
	local found= alt
	local -a alts
	IFS="|" read -ra alts <<<"$needle"
	for alt in "${alts[@]}"; do [[ "$err" == *"$alt"* ]] && [[ "$last" == *"$alt"* ]] && found=1; done
	if [ "$rc" = "${EXPECT_RC:-1}" ] && [ "$lines" = 1 ] && [ -n "$found" ] && [[ "$err" != *"-CRITICAL **"* ]] &&
		[[ "$err" != *"-WARNING **"* ]] && nothing_left "$id"; then
		ok "$name: $err"
	else
		not_ok "$name" "rc=$rc lines=$lines" "stderr=$err" "log error=$last"
	fi
}

# The lifecycle tests go through a subreaper (subreaper.py) that stands in for containerd's
# shim and records the monitor's exit status, which is the container's.
R=("$RUNVM" --root "$root")

# create_bg ID JSON_ARGS [PY]: create through the subreaper; waits for create to finish.
# Sets mon_pid (from the pid file) and create_rc. The container's stdout goes to $work/ID.out.
create_bg() {
	local id=$1
	make_config "$bundle" "$2" "${3:-}"
	rm -f "$work/$id.status" "$work/$id.status.create" "$work/$id.pid"
	python3 "$here/subreaper.py" "$work/$id.status" -- "${R[@]}" create --bundle "$bundle" --pid-file "$work/$id.pid" "$id" \
		</dev/null >"$work/$id.out" 2>"$work/$id.err" &
	for _ in $(seq 1200); do [ -e "$work/$id.status.create" ] && break; sleep 0.05; done
	create_rc=$(cat "$work/$id.status.create" 2>/dev/null)
	mon_pid=$(cat "$work/$id.pid" 2>/dev/null)
}

# wait_status ID: the monitor's exit status, once the subreaper has reaped it (30 s at most).
wait_status() {
	for _ in $(seq 600); do [ -s "$work/$1.status" ] && break; sleep 0.05; done
	cut -d' ' -f2 "$work/$1.status" 2>/dev/null | head -1
}

status_of() { "${R[@]}" state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null; }

# IT_ONLY=net runs only t_net.sh (while working on one part); IT_ONLY="run exec" both.
# (Each word becomes a pattern, globbed here by the outer loop alone.)
for t in $(set -f; for p in ${IT_ONLY:-*}; do echo "$here/t_$p.sh"; done); do
	echo "# $(basename "$t")"
	. "$t"
done

# Every container was deleted: nothing of this run may still be running.
sleep 1
left=$(pgrep -af -- "$work/" | grep -v "pgrep" || true)
out=$left rc= err=
check "no process of this run is left behind" test -z "$left"

tap_finish integration
