#!/bin/bash
# `docker run --rm IMAGE true` under runvm and under runc, alternately, on a private dockerd
# (tests/lib/dockerd.sh). Prints medians, the ratio and the difference in ms.
# usage: RUNVM=... RUNVM_CONFIG=... bench/docker.sh [ROUNDS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/lib/bundle.sh"
. "$here/../tests/lib/dockerd.sh"
rounds=${1:-10}
work=$(mktemp -d /tmp/runvm-bench-dk-XXXXXX)
trap dockerd_stop EXIT
dockerd_start "$work"
make_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | "$D" import - rvbench >/dev/null
"$D" run --rm --network none rvbench true # warm the image store up
for i in $(seq "$rounds"); do
	for rt in runvm runc; do
		t0=$(date +%s%N)
		"$D" run --rm --runtime=$rt --network none rvbench true
		echo "$rt $(( ($(date +%s%N) - t0) / 1000000 ))"
	done
done > "$work/times"
python3 - "$work/times" "$rounds" "$("$D" version --format '{{.Server.Version}}')" <<'PY'
import statistics, sys
t = {"runvm": [], "runc": []}
for line in open(sys.argv[1]):
    rt, ms = line.split()
    t[rt].append(int(ms))
m = {k: statistics.median(v) for k, v in t.items()}
print(f"docker {sys.argv[3]}, {sys.argv[2]} rounds (alternating), --network none")
for k in ("runvm", "runc"):
    print(f"docker run --rm true, {k:5}  median {m[k]:6.0f} ms  (min {min(t[k])}, max {max(t[k])})")
print(f"ratio runvm / runc       {m['runvm'] / m['runc']:.1f}")
print(f"difference               {m['runvm'] - m['runc']:.0f} ms")
PY
