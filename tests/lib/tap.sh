# The TAP helpers every shell harness shares (bash on the host, busybox sh in the nested host
# VM: POSIX sh and `local` only). Source it, then:
#   ok NAME                 "ok N - NAME"
#   not_ok NAME [DETAIL...] "not ok N - NAME", then every line of each DETAIL as "#   LINE" (its
#                           first $TAP_DIAG_LINES lines where that is set: a slow serial console)
#   skip NAME REASON        "ok N - NAME # SKIP REASON", counted apart from the passes
#   tap_plan                "1..N"
#   tap_summary SUITE [TAIL] the closing line CI reads: "SUITE: P passed, F failed", with
#                           ", S skipped" when a test skipped, then TAIL
#   tap_finish SUITE        tap_plan and tap_summary, then exits: 0 when nothing failed
#   tap_skip_all SUITE WHY  for a suite that cannot run here: "1..0 # SKIP WHY" and a closing
#                           line of zeros, then exits 0
# Counters: tap_n (the last test's number), tap_pass, tap_fail, tap_skipped. Every line goes out
# through tap_out, after $TAP_PREFIX (the nested host VM marks its lines on the console).

tap_n=0 tap_pass=0 tap_fail=0 tap_skipped=0

tap_out() { printf '%s%s\n' "${TAP_PREFIX:-}" "$*"; }

ok() {
	tap_n=$((tap_n + 1)) tap_pass=$((tap_pass + 1))
	tap_out "ok $tap_n - $1"
}

not_ok() {
	local name=$1 detail line i
	shift
	tap_n=$((tap_n + 1)) tap_fail=$((tap_fail + 1))
	tap_out "not ok $tap_n - $name"
	for detail in "$@"; do
		i=0
		printf '%s\n' "$detail" | while IFS= read -r line; do
			i=$((i + 1))
			[ -z "${TAP_DIAG_LINES:-}" ] || [ "$i" -le "$TAP_DIAG_LINES" ] || break
			tap_out "#   $line"
		done
	done
}

skip() {
	tap_n=$((tap_n + 1)) tap_skipped=$((tap_skipped + 1))
	tap_out "ok $tap_n - $1 # SKIP $2"
}

tap_plan() { tap_out "1..$tap_n"; }

tap_summary() {
	local skipped=
	[ "$tap_skipped" = 0 ] || skipped=", $tap_skipped skipped"
	tap_out "$1: $tap_pass passed, $tap_fail failed$skipped${2:-}"
}

tap_finish() {
	tap_plan
	tap_summary "$1"
	[ "$tap_fail" = 0 ]
	exit
}

tap_skip_all() {
	tap_out "1..0 # SKIP $2"
	tap_out "$1: 0 passed, 0 failed"
	exit 0
}
