#!/usr/bin/env python3
"""File I/O inside a container, runvm against runc, in one run (issue 14, point 8).

The same bundle (a busybox rootfs, plus tcc and the C library's headers from Debian's
packages, a 32 MiB file and a tarball) is run with `runvm run` and `runc run`, alternately for
ROUNDS rounds. Inside, a static timer (bench/stopwatch.c) measures each workload:
  dd_cold    dd bs=4k of a 32 MiB file the guest has not read yet
  dd_reread  the same again
  find       find / -xdev (the whole rootfs, about 2000 entries)
  ls_lR      ls -lR /usr /bin /etc /lib
  untar      tar -x of about 4400 files (usr/include three times, 33 MB) into the rootfs
  compile    tcc compiling and linking a small C program (stdio, fcntl, wait, time), 5 times
  cpu_ref    no file I/O: a shell loop counting to 20000, the floor set by the guest's CPU (under
             TCG, emulated: every ratio above includes that factor)
Prints the medians, the runvm / runc ratio of each, the rootfs's mount options in each, and the
command that produced them.

usage: fileio.py --runvm BIN --config CONF --stopwatch BIN [--initrd CPIO] [--rounds N]
  --initrd: boot runvm's guest from this initramfs instead of the configuration's (to measure
            another agent, e.g. one whose rootfs share has another cache mode)
The tcc, libc6, libc6-dev and linux-libc-dev packages are fetched once with `apt-get download`
into RUNVM_CACHE/bench-tcc (default /var/cache/runvm); without them the compile is left out.
"""
import argparse, glob, os, re, shutil, statistics, subprocess, sys, tarfile, tempfile, time

WORKLOADS = ["dd_cold", "dd_reread", "find", "ls_lR", "untar", "compile", "cpu_ref"]
PKGS = ["tcc", "libc6", "libc6-dev", "linux-libc-dev"]

SCRIPT = r"""
sw=/bin/stopwatch
rm -rf /tmp/x /tmp/prog; mkdir -p /tmp/x
echo "mount $(awk '$2 == "/" { t = $3 " " $4 } END { print t }' /proc/mounts)"
$sw dd_cold dd if=/big of=/dev/null bs=4k
$sw dd_reread dd if=/big of=/dev/null bs=4k
$sw find find / -xdev
$sw ls_lR ls -lR /usr /bin /etc /lib
$sw untar tar -xf /src.tar -C /tmp/x
if [ -x /usr/bin/tcc ]; then
	$sw compile sh -c 'for i in 1 2 3 4 5; do tcc -o /tmp/prog /src/prog.c || exit 1; done'
fi
$sw cpu_ref sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done'
rm -rf /tmp/x /tmp/prog
"""

def debs(cache):
    """The packages' .debs in cache, downloaded there first if missing; None if that fails."""
    os.makedirs(cache, exist_ok=True)
    have = []
    for p in PKGS:
        found = glob.glob(f"{cache}/{p}_*_amd64.deb")
        if not found:
            subprocess.run(["apt-get", "download", "-q", f"{p}:amd64"], cwd=cache,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            found = glob.glob(f"{cache}/{p}_*_amd64.deb")
        if not found:
            print(f"# fileio: no {p} package (apt-get download {p}): the compile is left out")
            return None
        have.append(sorted(found)[-1])
    return have

def make_bundle(work, stopwatch, cache):
    here = os.path.dirname(os.path.abspath(__file__))
    root = f"{work}/rootfs"
    subprocess.run(["bash", "-c", f'. "{here}/../tests/lib/bundle.sh" && make_rootfs "$1" && make_config "$2" \'["sh", "/bench.sh"]\'',
                    "_", root, work], check=True)
    shutil.copy(stopwatch, f"{root}/bin/stopwatch")
    pkgs = debs(cache) if os.uname().machine == "x86_64" else None
    tree = f"{work}/tree"
    os.makedirs(tree)
    for d in pkgs or []:
        subprocess.run(["dpkg-deb", "-x", d, root], check=True)
        subprocess.run(["dpkg-deb", "-x", d, tree], check=True)
    if not pkgs:
        # No headers to untar: a tree of small files of the same shape instead.
        for i in range(1470):
            os.makedirs(f"{tree}/usr/include/d{i % 60}", exist_ok=True)
            with open(f"{tree}/usr/include/d{i % 60}/f{i}.h", "w") as f:
                f.write("/* header */\n" * (i % 400 + 10))
    with tarfile.open(f"{root}/src.tar", "w") as t:
        for copy in "abc":
            t.add(f"{tree}/usr/include", arcname=f"{copy}/include")
    os.makedirs(f"{root}/src", exist_ok=True)
    shutil.copy(f"{here}/stopwatch.c", f"{root}/src/prog.c")
    with open(f"{root}/big", "wb") as f:
        f.write(os.urandom(32 << 20))
    with open(f"{root}/bench.sh", "w") as f:
        f.write(SCRIPT)
    return root

def run(cmd, env=None):
    """Run one container; return ({workload: seconds}, rootfs mount line, wall seconds)."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"fileio: {' '.join(cmd)} failed with {p.returncode}: {p.stderr.strip()}")
    res, mount = {}, "?"
    for line in p.stdout.splitlines():
        if line.startswith("mount "):
            mount = line[6:]
            continue
        m = re.fullmatch(r"(\w+) ([0-9.]+) (\d+)", line)
        if not m:
            continue
        if m.group(3) != "0":
            sys.exit(f"fileio: {m.group(1)} failed with {m.group(3)} under {cmd[0]}")
        res[m.group(1)] = float(m.group(2))
    return res, mount, wall

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runvm", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--stopwatch", required=True)
    ap.add_argument("--initrd")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="runvm-fileio-")
    try:
        cache = os.path.join(os.environ.get("RUNVM_CACHE", "/var/cache/runvm"), "bench-tcc")
        make_bundle(work, a.stopwatch, cache)
        conf = a.config
        if a.initrd:
            conf = f"{work}/runvm.conf"
            with open(a.config) as src, open(conf, "w") as dst:
                dst.write(re.sub(r"(?m)^initrd *=.*$", f"initrd = {os.path.abspath(a.initrd)}", src.read()))
        env = dict(os.environ, RUNVM_CONFIG=conf)
        runc = shutil.which("runc")
        res = {"runvm": {w: [] for w in WORKLOADS}, "runc": {w: [] for w in WORKLOADS}}
        walls = {"runvm": [], "runc": []}
        mounts = {}
        for i in range(a.rounds):
            r, mounts["runvm"], w = run([a.runvm, "--root", f"{work}/state", "run", "--bundle", work, f"fio{i}"], env)
            walls["runvm"].append(w)
            for k, v in r.items():
                res["runvm"][k].append(v)
            if runc:
                r, mounts["runc"], w = run([runc, "--root", f"{work}/runc-state", "run", "--bundle", work, f"fio{i}"])
                walls["runc"].append(w)
                for k, v in r.items():
                    res["runc"][k].append(v)
        print(f"fileio: {a.rounds} rounds (alternating), median of each, seconds inside the container")
        print(f"command: {' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])}")
        for rt, m in sorted(mounts.items()):
            print(f"rootfs mount under {rt}: {m}")
        print(f"{'workload':<10} {'runc':>9} {'runvm':>9} {'runvm/runc':>11}")
        for w in WORKLOADS:
            rv, rc = res["runvm"][w], res["runc"][w]
            if not rv:
                continue
            mv = statistics.median(rv)
            if rc:
                mc = statistics.median(rc)
                print(f"{w:<10} {mc:9.3f} {mv:9.3f} {mv / mc if mc > 0 else float('inf'):11.1f}")
            else:
                print(f"{w:<10} {'n/a':>9} {mv:9.3f} {'n/a':>11}")
        wall = {k: statistics.median(v) for k, v in walls.items() if v}
        print(f"whole run (boot, workloads, exit): runvm {wall['runvm']:.2f} s" +
              (f", runc {wall['runc']:.2f} s" if "runc" in wall else " (runc not installed: no ratios)"))
    finally:
        subprocess.run(["rm", "-rf", work])

if __name__ == "__main__":
    main()
