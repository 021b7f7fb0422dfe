#!/bin/bash
# `runvm check --format json` against `runvm check`: the same facts, read by a tool. Needs no
# VM and no root: it runs the built binary ($RUNVM, default build/runvm) with a configuration of
# its own, so the paths it reports are known. TAP, as the C unit tests print it.
set -u
. "$(dirname "$0")/../lib/tap.sh"
runvm=${RUNVM:-build/runvm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '[runvm]\nkernel = %s/vmlinux\ninitrd = %s/missing.cpio\n' "$work" "$work" >"$work/runvm.conf"
: >"$work/vmlinux"
export RUNVM_CONFIG=$work/runvm.conf
"$runvm" check >"$work/text" 2>"$work/text.err"
text_rc=$?
"$runvm" check --format json >"$work/json" 2>"$work/json.err"
json_rc=$?

if [ "$json_rc" = "$text_rc" ] && [ ! -s "$work/json.err" ]; then
	ok "check --format json: exit $json_rc, as the text form"
else
	not_ok "check --format json: exit $json_rc, as the text form" "text: $text_rc" "$(cat "$work/json.err")"
fi

# Every fact of the text form, found again in the JSON (python3 reads both).
out=$(python3 - "$work/text" "$work/json" "$work" <<'PY' 2>&1
import json, sys
text = open(sys.argv[1]).read().splitlines()
j = json.load(open(sys.argv[2]))
work = sys.argv[3]
lines = {}
for l in text:
    lines.setdefault(l[:18].strip(), []).append(l[19:])
def want(cond, what):
    if not cond:
        print("mismatch:", what)
        sys.exit(1)
h = j["host"]
yn = lambda b: "yes" if b else "no"
want(lines["host architecture"] == [h["architecture"]], "host architecture")
want(lines["configuration"] == [j["configuration"]] and j["configuration"] == work + "/runvm.conf", "configuration")
want(lines["pvm"] == [yn(h["pvm"])], "pvm")
want(lines["kvm usable"] == ["%s: %s" % (yn(h["kvm_usable"]), h["kvm_reason"])], "kvm usable")
want(lines["kvm module"] == [h["kvm_module"] or "none"], "kvm module")
for k in ("tun", "vhost-vsock", "vhost-net"):
    want(lines[k] == [yn(h[k.replace("-", "_")])], k)
for k in ("tdx", "sev", "sev-snp"):
    key = k.replace("-", "_")
    want(lines[k] == ["yes" if h[key] else "no: " + h[key + "_reason"]], k)
for b, facts in j["backends"].items():
    for name, f in facts.items():
        want(lines[name] == [("yes, " if f["ok"] else "no: ") + f["detail"]], "backend %s fact %s" % (b, name))
for g in j["guests"]:
    line = lines[g["architecture"] + " guest"][0]
    if not g["usable"]:
        want(line == "none: " + g["reason"], g["architecture"] + " guest")
        continue
    want(line == "backend %s, accelerator %s: %s" % (g["backend"], g["accelerator"], g["reason"]), g["architecture"] + " guest")
host_guest = [g for g in j["guests"] if g["architecture"] == h["architecture"]][0]
want(host_guest["kernel"] == {"path": work + "/vmlinux", "present": True}, "kernel path and presence")
want(host_guest["initrd"] == {"path": work + "/missing.cpio", "present": False}, "initrd path and presence")
want(any(l.endswith("%s/vmlinux (present)" % work) for l in lines["kernel"]), "text kernel line")
want(any(l.endswith("%s/missing.cpio (MISSING)" % work) for l in lines["initrd"]), "text initrd line")
r = j["run"]
if r is None:
    want("run would use" not in lines, "run null, no text line")
else:
    want(lines["run would use"] == ["backend %s, accelerator %s, %s guest" % (r["backend"], r["accelerator"], r["architecture"])], "run would use")
PY
)
if [ -z "$out" ]; then
	ok "check --format json holds every fact of the text form"
else
	not_ok "check --format json holds every fact of the text form" "$out"
fi

"$runvm" check --format yaml >"$work/out" 2>"$work/err"
rc=$?
if [ "$rc" = 1 ] && [ "$(wc -l <"$work/err")" = 1 ] && grep -q 'invalid format `yaml`' "$work/err" && [ ! -s "$work/out" ]; then
	ok "check --format yaml: one error line, exit 1"
else
	not_ok "check --format yaml: one error line, exit 1" "rc $rc" "$(cat "$work/err")"
fi
# run.sh adds up the counts; a plan line ends this binary's TAP, as tap.h's does.
tap_plan
[ "$tap_fail" = 0 ]
