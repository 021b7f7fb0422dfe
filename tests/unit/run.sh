#!/bin/bash
# Run the unit test binaries given as arguments; print their TAP and a closing
# "N passed, N failed" line. Exits non-zero when any check failed or a binary crashed.
pass=0 fail=0 crashed=0
for t in "$@"; do
	echo "# $t"
	out=$("$t" 2>&1); rc=$?
	echo "$out"
	p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^not ok ' <<<"$out")
	pass=$((pass + p)); fail=$((fail + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $t exited with status $rc"
		fail=$((fail + 1)); crashed=1
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$crashed" -eq 0 ]
