#!/bin/bash
# podman end to end with runvm as its OCI runtime (podman 4.3: cgroupfs, and explicit ulimits
# because root lacks CAP_SYS_RESOURCE on these machines). Storage lives in a private directory
# that is unmounted and removed afterwards. Prints TAP and "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/bundle.sh"
. "$here/../lib/tap.sh"
: "${RUNVM:?}" "${RUNVM_CONFIG:?}"
if ! command -v podman >/dev/null; then
	tap_skip_all podman "podman is not installed (make deps installs it)"
fi
work=$(mktemp -d /tmp/runvm-pm-XXXXXX)
cat > "$work/runvm" <<WRAP
#!/bin/sh
RUNVM_CONFIG='$RUNVM_CONFIG' exec '$RUNVM' "\$@"
WRAP
chmod +x "$work/runvm"
P=(podman --root "$work/storage" --runroot "$work/run" --runtime "$work/runvm" --cgroup-manager cgroupfs --events-backend file)
U=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --network none)
cleanup() {
	"${P[@]}" rm -af >/dev/null 2>&1
	pkill -KILL -f -- "$work/" 2>/dev/null
	grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name" "rc=$rc out=$(head -c 300 <<<"$out")"; fi
}

make_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | "${P[@]}" import - rvpod >/dev/null 2>&1
echo "# $(podman --version)"

out=$("${P[@]}" run --rm "${U[@]}" rvpod sh -c 'echo hello from podman; uname -r' 2>&1); rc=$?
check "run: output from the guest kernel" eval '[ "$rc" = 0 ] && [[ "$out" == "hello from podman"*6.1.* ]]'
out=$("${P[@]}" run --rm "${U[@]}" rvpod sh -c 'exit 7' 2>&1); rc=$?
check "run: exit code 7" test "$rc" = 7
out=$(script -qc "stty rows 20 cols 70; ${P[*]} run --rm -it ${U[*]} rvpod sh -c 'tty; stty size'" /dev/null </dev/null | tr -d '\r\0'); rc=$?
check "run -it: a pty of the caller's size" eval '[[ "$out" == */dev/pts/* ]] && [[ "$out" == *"20 70"* ]]'
out=$("${P[@]}" run -d --name pd "${U[@]}" rvpod sh -c 'trap "exit 0" TERM; while :; do sleep 1; done' 2>&1); rc=$?
out=$("${P[@]}" exec pd sh -c 'echo in-exec; exit 3' 2>&1); rc=$?
check "exec: output and exit code 3" test "$rc" = 3 -a "$out" = in-exec
start=$(date +%s%N)
out=$("${P[@]}" stop -t 10 pd 2>&1); rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
code=$("${P[@]}" inspect -f '{{.State.ExitCode}}' pd 2>&1)
check "stop: SIGTERM handled, exit 0, in ${took} ms" eval '[ "$rc" = 0 ] && [ "$code" = 0 ] && [ "$took" -lt 8000 ]'
out=$("${P[@]}" rm pd 2>&1); rc=$?
check "rm" test "$rc" = 0

tap_finish podman
