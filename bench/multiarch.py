#!/usr/bin/env python3
"""arm64 work on an x86_64 host, the two ways a CI user has: runvm (an aarch64 guest with a
real arm64 kernel, TCG) and runc with QEMU user-mode emulation through binfmt_misc, the way
qemu-user-static sets hosts up. The same arm64 busybox bundle, the same commands, alternated
round after round. Prints medians and ratios, then what a few programs that user-mode
emulation is known to get wrong printed under each.

qemu-user-static is not installed: its qemu-aarch64-static is taken out of the Debian package
(apt-get download, dpkg-deb -x) into a temporary directory and registered for the bench alone
as binfmt_misc entry `runvm-bench-aarch64` (flags F: the interpreter is opened at registration,
so it works inside the container's root; P keeps argv[0]), removed at the end, and binfmt_misc
unmounted again if the bench mounted it: the host is left as it was.

usage: multiarch.py --runvm BIN --config CONF [--rounds N] [--cc aarch64-linux-gnu-gcc]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

BINFMT = "/proc/sys/fs/binfmt_misc"
ENTRY = "runvm-bench-aarch64"
# The ELF header of an aarch64 executable, as qemu-user-static's binfmt entry matches it.
MAGIC = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"

WORK = [
    ("start: true", ["true"]),
    ("sha256sum of a 32 MiB file", ["sha256sum", "/data"]),
    ("sha256sum of 32 MiB from a pipe", ["sh", "-c", "head -c 33554432 /dev/zero | sha256sum"]),
    ("300 fork+exec of /bin/true", ["sh", "-c", "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done"]),
    ("20000-step shell loop", ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]),
    ("directory walk (find / -xdev, stat)", ["sh", "-c", "find / -xdev | xargs stat -c %s >/dev/null"]),
]
PROBES = [
    ("emucheck", ["/emucheck"]),
    ("ps", ["sh", "-c", "sleep 2 & ps -o pid,args"]),
]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def qemu_user(tmp):
    """qemu-aarch64-static out of Debian's package, not installed."""
    sh(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", "qemu-user-static"], cwd=tmp, stdout=subprocess.DEVNULL)
    deb = next(f for f in os.listdir(tmp) if f.startswith("qemu-user-static_") and f.endswith(".deb"))
    sh(["dpkg-deb", "-x", os.path.join(tmp, deb), os.path.join(tmp, "x")])
    return os.path.join(tmp, "x/usr/bin/qemu-aarch64-static")


class Binfmt:
    """Our entry, and binfmt_misc itself if it was not mounted; undone by close()."""

    def __init__(self, interp):
        self.mounted = False
        if not os.path.exists(f"{BINFMT}/register"):
            sh(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT])
            self.mounted = True
        self.others = [e for e in os.listdir(BINFMT) if e not in ("register", "status")]
        with open(f"{BINFMT}/register", "w") as f:
            f.write(f":{ENTRY}:M::{MAGIC}:{MASK}:{interp}:FP")

    def close(self):
        if os.path.exists(f"{BINFMT}/{ENTRY}"):
            with open(f"{BINFMT}/{ENTRY}", "w") as f:
                f.write("-1")
        if self.mounted:
            subprocess.run(["umount", BINFMT])


def run(cmd, env=None):
    """Wall time and output of one container run; exits the bench on a failure."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=env)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd[:6])}... failed with {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return dt, p.stdout.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runvm", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cc", default="aarch64-linux-gnu-gcc")
    a = ap.parse_args()
    runc = shutil.which("runc")
    if os.uname().machine != "x86_64" or not runc or not shutil.which(a.cc):
        print(f"# SKIP multiarch bench: needs an x86_64 host with runc and {a.cc}")
        return

    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="runvm-bench-multiarch-")
    binfmt = None
    try:
        sh(["bash", "-c", f'. "{here}/../tests/lib/bundle.sh" && make_rootfs "$1/rootfs" arm64', "_", work])
        with open(f"{work}/rootfs/data", "wb") as f:
            f.write(os.urandom(32 << 20))
        sh([a.cc, "-static", "-O2", "-pthread", "-o", f"{work}/rootfs/emucheck", f"{here}/emucheck.c"])
        binfmt = Binfmt(qemu_user(work))
        if binfmt.others:
            print(f"# binfmt_misc already had: {' '.join(binfmt.others)} (left as they are)")
        env = dict(os.environ, RUNVM_CONFIG=a.config)
        ways = {
            "runvm": lambda i, args: [a.runvm, "--root", f"{work}/runvm-state", "run", "--bundle", work, f"b{i}"],
            "runc+qemu-user": lambda i, args: [runc, "--root", f"{work}/runc-state", "run", "--bundle", work, f"b{i}"],
        }

        def config(args):
            sh(["bash", "-c", f'. "{here}/../tests/lib/bundle.sh" && make_config "$1" "$2"', "_", work,
                json.dumps(args)])

        times = {(w, n): [] for w in ways for n, _ in WORK}
        seq = 0
        for _ in range(a.rounds):
            for name, args in WORK:
                config(args)
                for w, cmd in ways.items():
                    seq += 1
                    times[(w, name)].append(run(cmd(seq, args), env)[0])
        print(f"{'arm64 work, median of ' + str(a.rounds) + ' (s)':42} {'runvm':>8} {'runc+qemu-user':>15} {'ratio':>7}")
        for name, _ in WORK:
            vm = statistics.median(times[("runvm", name)])
            us = statistics.median(times[("runc+qemu-user", name)])
            print(f"{name:42} {vm:8.2f} {us:15.2f} {vm / us:6.2f}x")
        for name, args in PROBES:
            config(args)
            for w, cmd in ways.items():
                seq += 1
                out = run(cmd(seq, args), env)[1]
                print(f"--- {name} under {w}:")
                print("\n".join("    " + l for l in out.strip().splitlines()))
    finally:
        if binfmt:
            binfmt.close()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
