#!/bin/bash
# The manual pages against what they describe: every command of `runvm --help` has its
# subsection under COMMANDS in docs/man/runvm.8 and every subsection there is a command; every
# global option of --help is in its GLOBAL OPTIONS; every key of configs/runvm.conf
# (commented out or not) has its entry under its group in docs/man/runvm.conf.5, and every
# entry there is a key of that group. Both pages render without a warning. Needs the built
# binary ($RUNVM, default build/runvm), no VM, no root. TAP, as the C unit tests print it.
set -u
. "$(dirname "$0")/../lib/tap.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
runvm=${RUNVM:-$top/build/runvm}
man8=$top/docs/man/runvm.8 man5=$top/docs/man/runvm.conf.5 conf=$top/configs/runvm.conf

# $1: check name; $2: the names wanted; $3: the names found. Passes when each wanted name is found.
subset() {
	local missing
	missing=$(comm -23 <(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort -u) <(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort -u))
	if [ -z "$missing" ]; then
		ok "$1"
	else
		not_ok "$1" "missing: $(echo $missing)"
	fi
}

help=$("$runvm" --help 2>&1) || { not_ok "runvm --help runs" "$help"; tap_plan; exit 1; }
# "commands:" lines until the blank line: "  NAME  help".
verbs=$(awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' <<<"$help")
globals=$(awk '/^global options:/ { on = 1; next } on && /^$/ { exit } on' <<<"$help" | grep -o -- '--[a-z-]*' | sed 's/^--//')
# .SS NAME lines between .SH COMMANDS and the next .SH.
sections=$(awk '/^\.SH / { on = ($2 == "COMMANDS"); next } on && /^\.SS / { print $2 }' "$man8")
# The tag line after each .TP in GLOBAL OPTIONS, every \-\-NAME on it.
man_globals=$(awk '/^\.SH / { on = ($2 == "GLOBAL"); next } on && tp { print; tp = 0 } on && /^\.TP/ { tp = 1 }' \
	"$man8" | grep -o -- '\\-\\-[a-z\\-]*' | sed -e 's/\\-/-/g' -e 's/^--//')

subset "runvm.8 has a section for every command of --help" "$verbs" "$sections"
extra=$(comm -13 <(sort -u <<<"$verbs") <(sort -u <<<"$sections"))
if [ -z "$extra" ]; then
	ok "every command section of runvm.8 is a command of --help"
else
	not_ok "every command section of runvm.8 is a command of --help" "not commands: $(echo $extra)"
fi
subset "runvm.8 describes every global option of --help" "$globals" "$man_globals"

# group/key of every "key = value" line of configs/runvm.conf, "#key = value" included.
conf_keys=$(awk '/^\[.*\]$/ { g = $0; next } /^#?[a-z0-9_]+ =/ { k = $1; sub(/^#/, "", k); print g "/" k }' "$conf")
# group/key of every ".TP" (or ".TQ", a key sharing the entry) + ".B key" under ".SS [group]" in KEYS.
man_keys=$(awk '/^\.SH / { on = ($2 == "KEYS"); next } on && /^\.SS / { g = $2; next }
	on && tp { if ($1 == ".B") print g "/" $2; tp = 0 } on && /^\.T[PQ]/ { tp = 1 }' "$man5")
[ -n "$conf_keys" ] && [ -n "$man_keys" ] || not_ok "keys found" "configs/runvm.conf: $conf_keys" "runvm.conf.5: $man_keys"
subset "runvm.conf.5 describes every key of configs/runvm.conf" "$conf_keys" "$man_keys"
subset "every key of runvm.conf.5 is in configs/runvm.conf" "$man_keys" "$conf_keys"

for page in "$man8" "$man5"; do
	name="$(basename "$page") renders without warnings"
	if ! command -v man >/dev/null; then
		skip "$name" "man (man-db) is not installed"
		continue
	fi
	warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	if [ -z "$warn" ]; then ok "$name"; else not_ok "$name" "$warn"; fi
done

# run.sh adds up the counts; a plan line ends this binary's TAP, as tap.h's does.
tap_plan
[ "$tap_fail" = 0 ]
