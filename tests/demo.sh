#!/bin/bash
# `make demo`: run a busybox container in its own VM and show what the guest says.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/bundle.sh"
: "${RUNVM:?}" "${RUNVM_CONFIG:?}"
export RUNVM_CONFIG

work=$(mktemp -d /tmp/runvm-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
make_rootfs "$work/rootfs"
make_config "$work" '["sh","-c","echo \"hello from a container in a VM: guest kernel $(uname -r) on $(uname -m), host kernel '"$(uname -r)"'\"; exit 7"]'

echo "+ runvm run --bundle $work demo   (the container exits 7 on purpose)"
start=$(date +%s.%N)
set +e
"$RUNVM" --root "$work/state" run --bundle "$work" demo
rc=$?
set -e
printf 'runvm exited with %d after %.2f s\n' "$rc" "$(echo "$(date +%s.%N) - $start" | bc)"
[ "$rc" = 7 ]
