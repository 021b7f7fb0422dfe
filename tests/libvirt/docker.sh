#!/bin/bash
# Docker with the libvirt backend: a private dockerd on a bridge of its own, with iptables
# (tests/lib/hostnet.sh puts the host's networking back after), runvm registered as a runtime
# whose configuration ($RUNVM_CONFIG, from tests/libvirt/run.sh) names a running libvirtd. Checks
# the subset issue #16 names against runc where runc gives the answer: run, exit codes, -i, -t,
# exec, stop, rm -f, --memory, bridge networking, and `virsh destroy` of a running container.
# Prints TAP and a closing "libvirt-docker: N passed, N failed" line. Needs RUNVM, RUNVM_CONFIG
# and LIBVIRT_URI, and root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/bundle.sh"
. "$here/../lib/tap.sh"
: "${RUNVM:?set RUNVM to the runvm binary}"
: "${RUNVM_CONFIG:?set RUNVM_CONFIG to a runvm configuration with backend = libvirt}"
: "${LIBVIRT_URI:?set LIBVIRT_URI to the libvirt connection}"
. "$here/../lib/dockerd.sh"
. "$here/../lib/hostnet.sh"
. "$here/../docker/lib.sh"

for tool in dockerd iptables-save ip busybox flock script; do
	command -v $tool >/dev/null && [ -x "$D" ] || tap_skip_all libvirt-docker "$tool or docker is missing (make deps installs them)"
done
hostnet_lock || { not_ok "the networking suite's lock (another run holds it)"; tap_finish libvirt-docker; }
work=$(mktemp -d /tmp/runvm-lvd-XXXXXX)
trap 'hostnet_stop; rm -rf "$hostnet_saved" "$work"' EXIT
if ! hostnet_start "$work" 2>"$work/last"; then
	not_ok "dockerd started on $hostnet_bridge" "$(cat "$work/last")"
	tap_finish libvirt-docker
fi
make_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | "$D" import - rvtest >/dev/null
V=(virsh -q -c "$LIBVIRT_URI")

status_of() { "$D" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$1" 2>/dev/null; }

both "run --rm: output" run --rm RUNTIME rvtest echo hello from libvirt
both "run --rm: exit 3" run --rm RUNTIME rvtest sh -c 'exit 3'
both "run --rm: not found is 127" run --rm RUNTIME rvtest no-such-program
printf 'line one\nline two\n' > "$work/stdin"
stdin_file=$work/stdin both "run -i: piped stdin" run --rm -i RUNTIME rvtest sh -c 'cat; echo end'
out=$(script -qc "$D run --rm -t --runtime=runvm rvtest sh -c 'sleep 0.5; tty'" /dev/null </dev/null | tr -d '\r')
echo "$out" > "$work/last"
check "run -t: the process has a terminal" test "$out" = /dev/pts/0

mem=$("$D" run --rm --runtime=runvm --memory 256m rvtest sh -c 'sed -n "s/MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo' 2>"$work/last")
check "--memory 256m: the guest shows about 256 MiB ($((${mem:-0} / 1024)) MiB)" \
	eval '[ "${mem:-0}" -gt $((240 * 1024)) ] && [ "$mem" -lt $((272 * 1024)) ]'

# Bridge networking: an address on docker's bridge, the host reached, a published port served.
cid=$("$D" run -d --runtime=runvm -p 18095:8080 rvtest \
	sh -c 'mkdir -p /www && echo served-by-libvirt > /www/index.html && exec httpd -f -p 8080 -h /www' 2>"$work/last")
addr=$("$D" inspect -f '{{.NetworkSettings.IPAddress}}' "$cid" 2>/dev/null)
page=
for _ in $(seq 100); do
	page=$(timeout 5 busybox wget -Y off -qO- "http://$hostnet_gw:18095/" 2>/dev/null) && [ -n "$page" ] && break
	sleep 0.3
done
echo "address $addr page '$page'; $(status_of "$cid")" >> "$work/last"
check "bridge networking: a published port serves the guest's httpd" test "$page" = served-by-libvirt
out=$("$D" exec "$cid" sh -c "ip -4 -o addr show eth0 | tr -s ' ' | cut -d' ' -f4; ping -c1 -W3 $hostnet_gw >/dev/null && echo gw-ok" 2>"$work/last")
check "exec: the guest has docker's address ($addr) and reaches the gateway" test "$out" = "$addr/24
gw-ok"
out=$("$D" exec "$cid" sh -c 'echo in-exec; exit 4' 2>"$work/last"); rc=$?
check "exec: output and exit code 4" eval '[ "$rc" = 4 ] && [ "$out" = in-exec ]'
dom=runvm-$cid
check "the container's domain in virsh list" eval '"${V[@]}" list --name | grep -qx "$dom"'
start=$SECONDS
"$D" stop -t 2 "$cid" >"$work/last" 2>&1
st=$(status_of "$cid")
echo "$st after $((SECONDS - start)) s" >> "$work/last"
check "stop: exited, within the grace time and a bit" eval '[[ "$st" == exited* ]] && [ $((SECONDS - start)) -lt 15 ] && ! "${V[@]}" list --name | grep -qx "$dom"'
"$D" rm "$cid" >/dev/null 2>&1

cid=$("$D" run -d --runtime=runvm rvtest sleep 600 2>"$work/last")
for _ in $(seq 100); do "${V[@]}" list --name | grep -qx "runvm-$cid" && break; sleep 0.1; done
"$D" rm -f "$cid" >>"$work/last" 2>&1
check "rm -f of a running container: it and its domain are gone" \
	eval '! "$D" inspect "$cid" >/dev/null 2>&1 && ! "${V[@]}" list --all --name | grep -q "$cid"'

cid=$("$D" run -d --runtime=runvm rvtest sleep 600 2>"$work/last")
for _ in $(seq 100); do [ "$(status_of "$cid")" = "running 0" ] && break; sleep 0.1; done
"${V[@]}" destroy "runvm-$cid" >>"$work/last" 2>&1
for _ in $(seq 100); do [[ "$(status_of "$cid")" == exited* ]] && break; sleep 0.1; done
st=$(status_of "$cid")
echo "after virsh destroy: $st" >> "$work/last"
check "virsh destroy of a running container: docker sees it exit ($st)" eval '[[ "$st" == exited* ]] && [ "${st#exited }" != 0 ]'
"$D" rm "$cid" >>"$work/last" 2>&1
check "... and docker rm removes it" eval '! "$D" inspect "$cid" >/dev/null 2>&1'

tap_finish libvirt-docker
