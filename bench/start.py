#!/usr/bin/env python3
"""Start-time and memory of `runvm run true`, restored from a VM template and booted cold
(`[runvm] template = false`), against a bare QEMU boot of the same kernel to init and exit, and
against `runc run` of the same bundle. All are run alternately, round after round, so that
machine load affects them alike. Prints medians, ratios and peak RSS. The template lives in the
bench's own directory and is made by one unmeasured run before the rounds.

With --arm64, also `runvm run true` of an arm64 busybox bundle (an aarch64 guest under TCG),
and its ratio to the x86_64 one.

The arm64 run and create/start use the template too.

usage: start.py --runvm BIN --config CONF --kernel VMLINUX --bare-initrd CPIO [--rounds N] [--arm64]
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

def timed(cmd, **kw):
    """Run cmd; return (seconds, peak RSS in KiB of it and its reaped children). Its stderr
    goes to a file: `create` leaves a monitor holding its stdio, a pipe would never end."""
    with tempfile.TemporaryFile() as errf:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, **kw)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            errf.seek(0)
            sys.exit(f"bench: {cmd[0]} failed with {p.returncode}: {errf.read().decode(errors='replace').strip()}")
    return dt, ru.ru_maxrss

def make_bundle(work, arch=""):
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["bash", "-c", f'. "{here}/../tests/lib/bundle.sh" && make_rootfs "$1" $3 && make_config "$2" \'["true"]\'',
                    "_", f"{work}/rootfs", work, arch], check=True)

def write_config(src, dst, template, template_dir):
    """@src with [runvm] template and template_dir set; returns @dst."""
    with open(src) as f:
        lines = [l for l in f if not re.match(r"#?template(_dir)? *=", l)]
    i = next(n for n, l in enumerate(lines) if l.strip() == "[runvm]")
    lines[i + 1:i + 1] = [f"template = {'true' if template else 'false'}\n", f"template_dir = {template_dir}\n"]
    with open(dst, "w") as f:
        f.writelines(lines)
    return dst

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runvm", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--bare-initrd", required=True)
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--arm64", action="store_true")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="runvm-bench-")
    try:
        make_bundle(work)
        if a.arm64:
            make_bundle(f"{work}/arm64", "arm64")
        env = dict(os.environ, RUNVM_CONFIG=write_config(a.config, f"{work}/template.conf", True, f"{work}/templates"))
        cold_env = dict(os.environ, RUNVM_CONFIG=write_config(a.config, f"{work}/cold.conf", False, f"{work}/templates"))
        timed([a.runvm, "--root", f"{work}/state", "run", "--bundle", work, "warm"], env=env)
        if a.arm64:
            timed([a.runvm, "--root", f"{work}/state", "run", "--bundle", f"{work}/arm64", "warm-arm"], env=env)
        # The same machine and accelerator runvm uses under TCG, minus the container's devices.
        bare = [a.qemu, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off",
                "-accel", "tcg,tb-size=32", "-cpu", "max", "-smp", "1", "-m", "256",
                "-kernel", a.kernel, "-initrd", a.bare_initrd,
                "-append", "console=ttyS0 reboot=t noapictimer panic=-1 quiet", "-serial", "null"]
        runc = shutil.which("runc")
        res = {"runvm": [], "cold": [], "bare": [], "runc": [], "create": [], "start": [], "arm64": []}
        rss = {"runvm": [], "cold": [], "bare": []}
        for i in range(a.rounds):
            dt, r = timed([a.runvm, "--root", f"{work}/state", "run", "--bundle", work, f"bench{i}"], env=env)
            res["runvm"].append(dt); rss["runvm"].append(r)
            dt, r = timed([a.runvm, "--root", f"{work}/state", "run", "--bundle", work, f"cold{i}"], env=cold_env)
            res["cold"].append(dt); rss["cold"].append(r)
            if a.arm64:
                dt, _ = timed([a.runvm, "--root", f"{work}/state", "run", "--bundle", f"{work}/arm64", f"arm{i}"], env=env)
                res["arm64"].append(dt)
            dt, r = timed(bare)
            res["bare"].append(dt); rss["bare"].append(r)
            if runc:
                dt, _ = timed([runc, "--root", f"{work}/runc-state", "run", "--bundle", work, f"bench{i}"])
                res["runc"].append(dt)
            # create (boots the VM) and start (releases the process), as containerd calls them
            rv = [a.runvm, "--root", f"{work}/state"]
            dt, _ = timed(rv + ["create", "--bundle", work, f"cs{i}"], env=env)
            res["create"].append(dt)
            dt, _ = timed(rv + ["start", f"cs{i}"], env=env)
            res["start"].append(dt)
            subprocess.run(rv + ["delete", "--force", f"cs{i}"], env=env, check=True)
        med = {k: statistics.median(v) for k, v in res.items() if v}
        print(f"rounds: {a.rounds} (alternating), accelerator: TCG, kernel: {a.kernel}")
        print(f"runvm run true          median {med['runvm']*1000:7.0f} ms   (min {min(res['runvm'])*1000:.0f}, max {max(res['runvm'])*1000:.0f}; from its template)")
        print(f"runvm run true, cold    median {med['cold']*1000:7.0f} ms   (min {min(res['cold'])*1000:.0f}, max {max(res['cold'])*1000:.0f}; template = false)")
        print(f"bare QEMU boot to init  median {med['bare']*1000:7.0f} ms   (min {min(res['bare'])*1000:.0f}, max {max(res['bare'])*1000:.0f})")
        if "runc" in med:
            print(f"runc run true           median {med['runc']*1000:7.0f} ms   (min {min(res['runc'])*1000:.0f}, max {max(res['runc'])*1000:.0f})")
        if "arm64" in med:
            print(f"runvm run true, arm64   median {med['arm64']*1000:7.0f} ms   (min {min(res['arm64'])*1000:.0f}, max {max(res['arm64'])*1000:.0f}; aarch64 guest, TCG)")
        print(f"runvm create            median {med['create']*1000:7.0f} ms   (VM booted, agent ready)")
        print(f"runvm start             median {med['start']*1000:7.0f} ms   (until the process runs)")
        print(f"create to start return  median {(med['create'] + med['start'])*1000:7.0f} ms")
        print(f"ratio template / cold    {med['runvm']/med['cold']:.2f}  (runvm run true)")
        print(f"ratio runvm / bare QEMU  {med['runvm']/med['bare']:.2f}  (cold: {med['cold']/med['bare']:.2f})")
        if "arm64" in med:
            print(f"ratio arm64 / x86_64     {med['arm64']/med['runvm']:.2f}  (runvm run true, both TCG)")
        if "runc" in med:
            print(f"ratio runvm / runc       {med['runvm']/med['runc']:.1f}")
        else:
            print("ratio runvm / runc       n/a (runc not installed)")
        # ru_maxrss of runvm covers its reaped children: the QEMU process is the largest.
        print(f"peak RSS, QEMU under runvm  median {statistics.median(rss['runvm'])/1024:.0f} MiB (cold: {statistics.median(rss['cold'])/1024:.0f} MiB)")
        print(f"peak RSS, bare QEMU         median {statistics.median(rss['bare'])/1024:.0f} MiB")
    finally:
        subprocess.run(["rm", "-rf", work])

main()
