#!/bin/bash
# What the libvirt backend costs against the qemu backend, in one run, on the same kernel:
#   start: `runvm run true` with --backend libvirt, --backend qemu booting cold (the same boot,
#     without libvirt), and --backend qemu from its template (its default), alternately, ROUNDS
#     rounds: medians and ratios;
#   memory: the Pss of one running container's QEMU under each backend, and libvirtd's (with
#     virtlogd's) growth per domain with N containers running (N = 4), in anonymous pages.
# A private libvirtd (tests/lib/libvirtd.sh) serves the run and is stopped after it.
# usage: bench/libvirt.sh [ROUNDS]   (RUNVM and RUNVM_CONFIG as for the tests; make bench sets them)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/lib/bundle.sh"
. "$here/../tests/lib/libvirtd.sh"
: "${RUNVM:?set RUNVM to the runvm binary}"
: "${RUNVM_CONFIG:?set RUNVM_CONFIG to a runvm configuration}"
rounds=${1:-7} n_dense=4

work=$(mktemp -d /tmp/runvm-blv-XXXXXX)
trap 'libvirtd_stop; pkill -KILL -f -- "$work/" 2>/dev/null; rm -rf "$work"' EXIT
if ! libvirtd_start "$work/daemon"; then
	echo "bench/libvirt: no libvirtd could be started here" >&2
	exit 1
fi
conf() { # conf FILE TEMPLATE: the configuration with [runvm] template set and this daemon
	sed -e '/^#*template\(_dir\)* *=/d' -e "/^\[runvm\]/a template = $2\ntemplate_dir = $work/templates" \
		-e '/^\[libvirt\]/,$d' "$RUNVM_CONFIG" > "$1"
	printf '\n[libvirt]\nuri = %s\n' "$LIBVIRT_URI" >> "$1"
}
conf "$work/cold.conf" false
conf "$work/template.conf" true
make_rootfs "$work/rootfs"
make_config "$work" '["true"]'

# run_ms NAME CONF BACKEND: one `runvm run true`, its wall time in ms appended to $work/NAME.
run_ms() {
	local t0 t1
	t0=$(date +%s%N)
	RUNVM_CONFIG=$2 "$RUNVM" --root "$work/state" --backend "$3" run --bundle "$work" "b-$1" </dev/null >/dev/null 2>"$work/err" ||
		{ echo "bench/libvirt: $1 failed: $(cat "$work/err")" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >> "$work/$1"
}
median() { sort -n "$work/$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# One unmeasured run each: libvirt's QEMU capabilities, the qemu backend's template.
run_ms warm-libvirt "$work/cold.conf" libvirt
run_ms warm-qemu "$work/template.conf" qemu
for _ in $(seq "$rounds"); do
	run_ms libvirt "$work/cold.conf" libvirt
	run_ms qemu-cold "$work/cold.conf" qemu
	run_ms qemu-template "$work/template.conf" qemu
done
lv=$(median libvirt) qc=$(median qemu-cold) qt=$(median qemu-template)
echo "runvm run true, median of $rounds (bench/libvirt.sh $rounds):"
printf '  --backend libvirt        %5d ms\n' "$lv"
printf '  --backend qemu, cold     %5d ms   libvirt/qemu-cold %s\n' "$qc" "$(awk "BEGIN { printf \"%.2fx\", $lv / $qc }")"
printf '  --backend qemu, template %5d ms   libvirt/qemu-template %s\n' "$qt" "$(awk "BEGIN { printf \"%.2fx\", $lv / $qt }")"

# --- memory ------------------------------------------------------------------------------------
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
# What the daemons allocate (anonymous pages): their Pss, even their private pages, shrink as the
# QEMUs come to share the libraries' pages with them.
anon_kb() { awk '/^Anonymous:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
daemons_kb() { echo $(($(anon_kb "$libvirtd_pid") + $(anon_kb "$virtlogd_pid"))); }
make_config "$work" '["sleep","600"]'
# start_idle ID CONF BACKEND: a sleeping container, created and started.
start_idle() {
	RUNVM_CONFIG=$2 "$RUNVM" --root "$work/state" --backend "$3" create --bundle "$work" --pid-file "$work/$1.pid" "$1" \
		</dev/null >/dev/null 2>"$work/err" && RUNVM_CONFIG=$2 "$RUNVM" --root "$work/state" start "$1" 2>>"$work/err" ||
		{ echo "bench/libvirt: $1: $(cat "$work/err")" >&2; exit 1; }
}
before=$(daemons_kb)
for i in $(seq "$n_dense"); do start_idle "lv-$i" "$work/cold.conf" libvirt; done
sleep 5
qemu_lv=$(cat "/proc/$libvirtd_pid/root/run/libvirt/qemu/runvm-lv-1.pid")
pss_lv=$(pss_kb "$qemu_lv")
during=$(daemons_kb)
for i in $(seq "$n_dense"); do "$RUNVM" --root "$work/state" delete -f "lv-$i" 2>/dev/null; done
start_idle q-1 "$work/cold.conf" qemu
sleep 5
qemu_q=$(pgrep -P "$(cat "$work/q-1.pid")" -f qemu-system | head -1)
pss_q=$(pss_kb "${qemu_q:-0}")
"$RUNVM" --root "$work/state" delete -f q-1 2>/dev/null
echo "memory of one idle container's QEMU (Pss), booted cold:"
printf '  --backend libvirt  %6d kB\n  --backend qemu     %6d kB   libvirt/qemu %s\n' "$pss_lv" "$pss_q" \
	"$(awk "BEGIN { printf \"%.2fx\", $pss_lv / ($pss_q ? $pss_q : 1) }")"
printf "libvirtd + virtlogd, anonymous memory: %d kB idle, %d kB with %d domains: %d kB per domain\n" "$before" "$during" "$n_dense" \
	$(((during - before) / n_dense))
