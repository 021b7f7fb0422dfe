#!/bin/bash
# Networking under runvm and under runc on a private dockerd with bridge networking
# (tests/lib/hostnet.sh: a bridge of its own, the host's networking put back after):
#  - throughput container -> host: busybox httpd in the container serves MIB MiB from tmpfs
#    (sendfile: large segments, as a real server sends them; busybox nc writes 1 KiB at a time,
#    which measures nc's system calls under TCG, not the network), the host fetches it from the
#    container's address on the bridge and times first byte to EOF;
#  - what network setup adds to `docker run --rm IMAGE true`: the default bridge against
#    --network none, alternately; and, for runvm, its own part: from `runvm start` being called
#    to the NIC redirected to the guest (the time of its debug log line), 3 runs at most.
# Prints medians over ROUNDS. usage: RUNVM=... RUNVM_CONFIG=... bench/net.sh [ROUNDS [MIB]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/lib/bundle.sh"
. "$here/../tests/lib/dockerd.sh"
. "$here/../tests/lib/hostnet.sh"
rounds=${1:-3} mib=${2:-32}   # at most 60: /dev/shm is Docker's 64 MiB tmpfs
hostnet_lock
work=$(mktemp -d /tmp/runvm-bench-net-XXXXXX)
trap 'set +e; hostnet_stop; rm -rf "$hostnet_saved" "$work"' EXIT
trap 'exit 130' INT TERM
hostnet_start "$work"
make_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | "$D" import - rvbench >/dev/null
"$D" run --rm --network none rvbench true # warm the image store up
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# ---- throughput container -> host -----------------------------------------------------------
fetch() { # URL: "BYTES SECONDS" from the first byte to EOF, once the server answers
	python3 - "$1" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        r = urllib.request.urlopen(sys.argv[1], timeout=10)
        break
    except OSError:
        time.sleep(0.1)
n, t0 = 0, None
while d := r.read(1 << 20):
    t0 = t0 or time.monotonic()
    n += len(d)
print(n, time.monotonic() - t0 if t0 else 0)
PY
}
for _ in $(seq "$rounds"); do
	for rt in runvm runc; do
		cid=$("$D" run -d --rm --runtime=$rt rvbench sh -c \
			"mkdir /dev/shm/w && dd if=/dev/zero of=/dev/shm/w/blob bs=1M count=$mib 2>/dev/null && exec httpd -f -p 8080 -h /dev/shm/w")
		ip=$("$D" inspect -f '{{.NetworkSettings.IPAddress}}' "$cid")
		echo "tput $rt $(fetch "http://$ip:8080/blob")" >> "$work/results"
		"$D" rm -f "$cid" >/dev/null
	done
done

# ---- start: bridge against --network none ---------------------------------------------------
for _ in $(seq "$rounds"); do
	for rt in runvm runc; do
		for net in bridge none; do
			t0=$(date +%s%N)
			"$D" run --rm --runtime=$rt --network $net rvbench true
			echo "start $rt-$net $(ms "$t0")" >> "$work/results"
		done
	done
done

# ---- runvm's own part: `start` called -> the NIC redirected (its --debug log line) -----------
# The wrapper dockerd calls, again with --debug; it notes when `start` is called and keeps each
# container's log (docker's --log, in the bundle that --rm removes) when `delete` is.
: > "$work/rvlog"
cat > "$work/runvm" <<WRAP
#!/bin/bash
log=; prev=
for a; do [ "\$prev" = --log ] && log=\$a; prev=\$a; done
case " \$* " in
*" start "*) echo "start \$(date +%s%N)" >> '$work/rvlog' ;;
*" delete "*) [ -z "\$log" ] || grep -o '"msg":"network: [^"]*redirected[^}]*' "\$log" >> '$work/rvlog' ;;
esac
RUNVM_CONFIG='$RUNVM_CONFIG' exec '$RUNVM' --debug "\$@"
WRAP
for _ in $(seq $((rounds < 3 ? rounds : 3))); do "$D" run --rm --runtime=runvm rvbench true; done

python3 - "$work/results" "$work/rvlog" "$rounds" "$mib" "$("$D" version --format '{{.Server.Version}}')" "$(runc --version | head -1)" <<'PY'
import datetime, re, statistics, sys
res, rvlog, rounds, mib, docker, runc = sys.argv[1:]
t, short = {}, []
for line in open(res):
    kind, key, *v = line.split()
    if kind == "tput" and int(v[0]) != int(mib) << 20:
        short.append(f"{key}: {v[0]} bytes")
    t.setdefault((kind, key), []).append(int(v[0]) / 2**20 / float(v[1]) if kind == "tput" else int(v[0]))
med = {k: statistics.median(v) for k, v in t.items()}
print(f"docker {docker}, {runc}; {rounds} rounds (alternating), medians; {mib} MiB served by busybox httpd")
for rt in ("runvm", "runc"):
    print(f"container -> host, {rt:5}              {med['tput', rt]:8.1f} MiB/s")
if short:
    print(f"warning: short transfers (not all of {mib} MiB arrived):", ", ".join(short))
print(f"ratio runvm / runc                      {med['tput', 'runvm'] / med['tput', 'runc']:8.3f}")
for rt in ("runvm", "runc"):
    b, n = med["start", f"{rt}-bridge"], med["start", f"{rt}-none"]
    print(f"docker run --rm true, {rt:5}  bridge {b:6.0f} ms  none {n:6.0f} ms  bridge - none {b - n:5.0f} ms")
# runvm's part: each "start <ns>" and the redirected line after it (time is UTC, microseconds).
parts, t0 = [], None
for line in open(rvlog):
    if line.startswith("start "):
        t0 = int(line.split()[1]) / 1e9
    elif t0 and (m := re.search(r'"time":"([^"]+)Z"', line)):
        when = datetime.datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        parts.append((when.timestamp() - t0) * 1000)
        t0 = None
if parts:
    print(f"runvm start called -> NIC redirected   {statistics.median(parts):6.1f} ms  (median of {len(parts)}, --debug)")
else:
    print("runvm start called -> NIC redirected   no figure (no debug line found)")
PY
