#!/bin/bash
# Run the unit test binaries given as arguments; print their TAP and a closing
# "unit: N passed, N failed" line (tests/lib/tap.sh's). Exits non-zero when any check failed or a
# binary crashed.
. "$(dirname "$0")/../lib/tap.sh"
crashed=0
for t in "$@"; do
	echo "# $t"
	out=$("$t" 2>&1); rc=$?
	echo "$out"
	p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^not ok ' <<<"$out")
	tap_pass=$((tap_pass + p)) tap_fail=$((tap_fail + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $t exited with status $rc"
		tap_fail=$((tap_fail + 1)) crashed=1
	fi
done
tap_summary unit
[ "$tap_fail" -eq 0 ] && [ "$crashed" -eq 0 ]
