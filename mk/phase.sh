#!/bin/bash
# One line for one phase of a build or a check: what it is, then how it went (its time, and a
# test suite's closing "NAME: P passed, F failed" lines), while everything it prints goes to
# LOG. When it fails: the failed checks and the last lines of its output, then its status.
# V=1 shows its output as it comes, as a plain make would.
#
# usage: phase.sh LOG NAME [--about TEXT] [--kernel] -- CMD...
#   --about TEXT  said with NAME (what a first build takes)
#   --kernel      CMD builds a guest kernel: say "cached" where build-kernel.sh found it so
set -uo pipefail
log=$1 name=$2
shift 2
about= kernel=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	case $1 in
	--about) about=$2; shift 2 ;;
	--kernel) kernel=1; shift ;;
	*) echo "phase.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ "${1:-}" = -- ] && shift

mkdir -p "$(dirname "$log")"
printf '=== %s (%s): %s\n' "$name" "$(date -u +%FT%TZ)" "$*" >>"$log"
from=$(($(wc -l <"$log") + 1))
start=$(date +%s)
printf '%s ...' "$name${about:+ ($about)}"
if [ "${V:-}" = 1 ]; then
	echo
	"$@" 2>&1 | tee -a "$log"
	rc=${PIPESTATUS[0]}
else
	"$@" >>"$log" 2>&1 </dev/null
	rc=$?
fi
t=$(($(date +%s) - start))
took=$((t / 60))m$((t % 60))s
[ "$t" -ge 60 ] || took=${t}s
out=$(tail -n "+$from" "$log")
summary=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed' <<<"$out" | paste -sd ';' | sed 's/;/; /g')
if [ "$rc" = 0 ]; then
	if [ -n "$kernel" ] && grep -q '^build-kernel: cached' <<<"$out"; then
		echo " cached"
	else
		echo " done, $took${summary:+; $summary}"
	fi
	exit 0
fi
echo " FAILED after $took (status $rc)${summary:+; $summary}; the whole output is in $log"
grep -E '^not ok' <<<"$out" | head -20 | sed 's/^/  /'
echo "  --- the last 40 lines of this phase:"
tail -n 40 <<<"$out" | sed 's/^/  /'
exit "$rc"
