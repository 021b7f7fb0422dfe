#!/usr/bin/env python3
"""Concurrency and density of runvm containers (issue #14, point 6).

concurrency: N containers created and started at once through a pool of P workers (`runvm
create`, then `runvm start`, as containerd calls them); per container the time from its create
call to its start returning, the wall time until all run, median and p95.

density: the N containers then idle together (`sleep 100000`): host Pss per container (the
monitor's and all its descendants', QEMU included, from /proc/PID/smaps_rollup, divided by N);
the CPU an idle container costs (busy jiffies of /proc/stat over WINDOW seconds with them idle,
minus an equal window measured before any was created, per container, in % of one core; and,
less exposed to other work on the host, the CPU time of the containers' own processes over that
window); `runvm exec ID true` in every container, one after another, its latency.

--max-n: grow the number of running containers STEP at a time until a create or start fails,
an `exec true` takes more than 5 s, or host MemAvailable falls below 10 % of MemTotal; the
largest N that held. Slow: every step boots STEP VMs and execs in every container.

Every container is deleted at the end (`kill ID KILL`, `delete --force`), also on a failure,
Ctrl-C or SIGTERM; the bench uses a state directory of its own and touches no other container.

usage: density.py --runvm BIN --config CONF [-n N] [-p P] [--window S] [--max-n [--step K] [--limit L]]
"""
import argparse, concurrent.futures, json, math, os, shlex, signal, statistics, subprocess, sys, tempfile, threading, time

EXEC_LIMIT = 5.0  # s: an `exec true` slower than this means the host holds no more containers
MEM_FLOOR = 0.10  # of MemTotal: --max-n stops below this much MemAvailable
CALL_TIMEOUT = 180  # s: a create, start or exec still running after this is killed and fails


class Interrupted(Exception):
    """SIGTERM or SIGHUP, turned into an exception so that the finally clauses clean up."""


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def make_bundle(work):
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["bash", "-c", f'. "{here}/../tests/lib/bundle.sh" && make_rootfs "$1" && make_config "$2" \'["sleep", "100000"]\'',
                    "_", f"{work}/rootfs", work], check=True)


def meminfo():
    """/proc/meminfo in kB."""
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            m[k] = int(v.split()[0])
    return m


def busy_jiffies():
    """Busy jiffies of all CPUs since boot: user, nice, system, irq, softirq. Not idle or
    iowait; not steal (time the host's hypervisor gave to others); guest and guest_nice are
    already inside user and nice."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6]


def proc_ppids():
    """{pid: ppid} of every process, from one pass over /proc."""
    m = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        # comm, the second field, is in parentheses and may hold spaces.
        m[int(d)] = int(s[s.rindex(")") + 2:].split()[1])
    return m


def tree(pid, ppids):
    """pid and every process below it: the monitor, QEMU (the monitor's child), anything they fork."""
    kids = {}
    for p, pp in ppids.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    """CPU time of a process's threads, in clock ticks (a float); 0 if it is gone. From each
    thread's /proc/PID/task/TID/schedstat (nanoseconds of run time): utime and stime are
    sampled at each tick and charge a whole tick to a thread that ran at that moment, which
    overstates a guest that wakes often and briefly several times over."""
    hz = os.sysconf("SC_CLK_TCK")
    ns = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                ns += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return ns * hz / 1e9


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def p95(xs):
    """Nearest-rank 95th percentile: with fewer than 20 values it is the largest."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="runvm-density-")
        self.root = f"{self.work}/state"
        self.env = dict(os.environ, RUNVM_CONFIG=a.config)
        self.lock = threading.Lock()
        self.ids = []  # every container a create was called for, in order: what cleanup deletes
        self.monitors = {}  # id -> monitor pid, from `state` once it runs
        self.stop = threading.Event()  # set on a failure (with --max-n) or an interrupt: no new creates

    def rv(self, *args):
        return [self.a.runvm, "--root", self.root] + list(args)

    def call(self, cid, verb, *args, timeout=CALL_TIMEOUT):
        """Run one runvm verb; (seconds, error or None). Its stdio goes to files: `create` leaves
        the monitor holding them, a pipe would never reach its end."""
        with open(f"{self.work}/{cid}.{verb}.err", "w+b") as errf:
            t0 = time.monotonic()
            p = subprocess.Popen(self.rv(verb, *args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, env=self.env)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return time.monotonic() - t0, f"{verb} {cid}: still running after {timeout} s, killed"
            except BaseException:
                # Interrupted: this runvm is ours; do not leave it running on its own.
                p.kill()
                p.wait()
                raise
            dt = time.monotonic() - t0
            if rc != 0:
                errf.seek(0)
                return dt, f"{verb} {cid}: exit {rc}: {errf.read().decode(errors='replace').strip()[:300]}"
        return dt, None

    def up(self, cid):
        """create + start of one container: (create s, start s, total s, error or None)."""
        if self.stop.is_set():
            return None
        m = meminfo()
        if self.a.max_n and m["MemAvailable"] < MEM_FLOOR * m["MemTotal"]:
            self.stop.set()
            return 0, 0, 0, f"create {cid}: not tried, MemAvailable below {MEM_FLOOR:.0%} of MemTotal"
        with self.lock:
            self.ids.append(cid)
        tc, err = self.call(cid, "create", "--bundle", self.work, cid)
        if err:
            return tc, 0, tc, err
        ts, err = self.call(cid, "start", cid)
        if not err:
            try:
                st = json.loads(subprocess.run(self.rv("state", cid), capture_output=True, env=self.env, check=True).stdout)
                with self.lock:
                    self.monitors[cid] = st["pid"]
            except (subprocess.CalledProcessError, ValueError, KeyError) as e:
                err = f"state {cid}: {e}"
        return tc, ts, tc + ts, err

    def up_many(self, cids):
        """Create and start cids through P workers; (wall s, [(id, create, start, total)], [errors])."""
        ok, errs = [], []
        t0 = time.monotonic()
        pool = concurrent.futures.ThreadPoolExecutor(self.a.p)
        try:
            futs = {pool.submit(self.up, c): c for c in cids}
            for f in concurrent.futures.as_completed(futs):
                r = f.result()
                if r is None:
                    continue
                if r[3]:
                    errs.append(r[3])
                    if self.a.max_n:
                        self.stop.set()
                else:
                    ok.append((futs[f],) + r[:3])
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return time.monotonic() - t0, ok, errs

    def exec_all(self, cids):
        """`exec true` in each container, one after another: [(id, seconds, error or None)]."""
        out = []
        for c in cids:
            # Let a slow one run past the 5 s mark, to say how slow it was.
            dt, err = self.call(c, "exec", c, "true", timeout=max(30, 2 * EXEC_LIMIT))
            out.append((c, dt, err))
        return out

    def memory(self, cids):
        """Pss of each container's processes, kB: ({id: total}, {comm: total over all})."""
        ppids = proc_ppids()
        per, by_comm = {}, {}
        for c in cids:
            per[c] = 0
            for p in tree(self.monitors[c], ppids):
                k = pss_kb(p)
                per[c] += k
                by_comm[comm(p)] = by_comm.get(comm(p), 0) + k
        return per, by_comm

    def container_ticks(self, cids):
        ppids = proc_ppids()
        return sum(cpu_ticks(p) for c in cids for p in tree(self.monitors[c], ppids))

    def cleanup(self):
        """Delete every container a create was called for; then make sure their monitors ended."""
        if not self.ids:
            return
        print(f"bench: deleting {len(self.ids)} containers", file=sys.stderr)

        def down(cid):
            for verb in (["kill", cid, "KILL"], ["delete", "--force", cid]):
                subprocess.run(self.rv(*verb), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=self.env, timeout=60)

        with concurrent.futures.ThreadPoolExecutor(self.a.p) as pool:
            for f in [pool.submit(down, c) for c in self.ids]:
                try:
                    f.result()
                except subprocess.TimeoutExpired:
                    pass
        # delete --force has stopped the VMs; a monitor takes a moment to end after. One that
        # is still there (and is still ours: its command line names our state directory) after
        # 10 s is killed by its pid.
        left = dict(self.monitors)
        for _ in range(100):
            left = {c: p for c, p in left.items() if self.ours(p)}
            if not left:
                break
            time.sleep(0.1)
        for c, p in left.items():
            print(f"bench: monitor {p} of {c} still there after delete --force, killing it", file=sys.stderr)
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.ids.clear()

    def ours(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return self.root.encode() in f.read()
        except OSError:
            return False


def host_line(a):
    m = meminfo()
    try:
        run = json.loads(subprocess.run([a.runvm, "--config", a.config, "check", "--format", "json"],
                                        capture_output=True, check=True).stdout)["run"]
        backend = f"backend {run['backend']}, accelerator {run['accelerator']}"
    except (subprocess.CalledProcessError, ValueError, KeyError) as e:
        backend = f"backend unknown (runvm check: {e})"
    return f"host: nproc {os.cpu_count()}, MemTotal {m['MemTotal'] // 1024} MiB, MemAvailable {m['MemAvailable'] // 1024} MiB, {backend}"


def window(seconds):
    """Busy jiffies of the host over `seconds`."""
    j0 = busy_jiffies()
    time.sleep(seconds)
    return busy_jiffies() - j0


def row(name, value, note=""):
    print(f"  {name:<38} {value:>14}  {note}".rstrip())


def density_run(b, a):
    hz = os.sysconf("SC_CLK_TCK")
    print(f"bench: idle window without containers, {a.window} s", file=sys.stderr)
    base = window(a.window)
    mem0 = meminfo()["MemAvailable"]
    print(f"bench: creating and starting {a.n} containers, {a.p} at a time", file=sys.stderr)
    wall, ok, errs = b.up_many([f"d{i}" for i in range(a.n)])
    cids = [r[0] for r in ok]
    if not cids:
        sys.exit(f"bench: no container started: {errs[0] if errs else 'interrupted'}")
    n = len(cids)
    # Settle: start has returned, the agent has just started sleep.
    time.sleep(2)
    print(f"bench: idle window with {n} containers, {a.window} s", file=sys.stderr)
    t0 = b.container_ticks(cids)
    busy = window(a.window)
    own = b.container_ticks(cids) - t0
    mem1 = meminfo()["MemAvailable"]
    per, by_comm = b.memory(cids)
    ex = b.exec_all(cids)

    total = [r[3] for r in ok]
    create = [r[1] for r in ok]
    start = [r[2] for r in ok]
    core = lambda j: 100.0 * j / hz / a.window / n
    pss = sum(per.values()) / n / 1024
    idle_cpu = core(busy - base)
    ex_ok = [dt for _, dt, err in ex if not err]
    ex_bad = [(c, dt, err) for c, dt, err in ex if err or dt > EXEC_LIMIT]

    print()
    print(f"command: {' '.join(shlex.quote(x) for x in sys.argv)}")
    print(host_line(a))
    print(f"N {a.n}, P {a.p}, WINDOW {a.window} s; {n} of {a.n} containers ran (busybox sleep 100000, one bundle)")
    print("concurrency:")
    row("wall time until all ran", f"{wall * 1000:.0f} ms", f"({a.n} create+start, {a.p} at a time)")
    row("create call to start return, median", f"{statistics.median(total) * 1000:.0f} ms", f"(min {min(total) * 1000:.0f}, max {max(total) * 1000:.0f})")
    row("create call to start return, p95", f"{p95(total) * 1000:.0f} ms", "(nearest rank; the max below 20 containers)")
    row("create alone, median", f"{statistics.median(create) * 1000:.0f} ms", "(VM booted, agent ready)")
    row("start alone, median", f"{statistics.median(start) * 1000:.0f} ms")
    row("containers per second", f"{n / wall:.2f}")
    print("density (all idle together):")
    row("host Pss per container", f"{pss:.1f} MiB", f"(goal <= 40 MiB under TCG: {'met' if pss <= 40 else 'not met'})")
    print("    of it, by process: " + ", ".join(f"{k} {v / n / 1024:.1f} MiB" for k, v in sorted(by_comm.items())))
    row("MemAvailable drop per container", f"{(mem0 - mem1) / n / 1024:.1f} MiB", "(before create, against during the idle window)")
    # With other work on the host (over 10 % of a core busy before any container), the host's
    # difference holds that work's swings, which can outweigh what N idle VMs cost: the
    # containers' own CPU time is then the figure to go by.
    noisy = core(base) * n > 10
    verdict = "not judged, other work ran" if noisy else ("met" if idle_cpu <= 0.5 else "not met")
    row("idle CPU per container, /proc/stat", f"{idle_cpu:.3f} %", f"of a core (goal <= 0.5 %: {verdict}); "
        f"host busy {core(busy) * n:.1f} % of a core with them, {core(base) * n:.1f} % without")
    row("idle CPU per container, own processes", f"{core(own):.3f} %", f"of a core (goal <= 0.5 %: {'met' if core(own) <= 0.5 else 'not met'}); "
        "run time of the monitors' and QEMUs' threads over the window (schedstat)")
    if ex_ok:
        row("exec true, median", f"{statistics.median(ex_ok) * 1000:.0f} ms", "(each container in turn)")
        row("exec true, max", f"{max(ex_ok) * 1000:.0f} ms")
    row(f"every exec true within {EXEC_LIMIT:.0f} s", "yes" if not ex_bad else "no", f"({len(ex) - len(ex_bad)} of {len(ex)})")
    for c, dt, err in ex_bad[:5]:
        print(f"    {c}: {err or f'{dt:.1f} s'}")
    if errs:
        row("create/start failures", f"{len(errs)} of {a.n}", f"first: {errs[0]}")
    return 0 if not errs and not ex_bad else 1


def max_n_run(b, a):
    """Grow by STEP until something gives; the largest N at which everything held."""
    print(f"command: {' '.join(shlex.quote(x) for x in sys.argv)}")
    print(host_line(a))
    print(f"--max-n: STEP {a.step}, P {a.p}, up to {a.limit} containers; stops at a failed create or start, an exec true over "
          f"{EXEC_LIMIT:.0f} s, or MemAvailable below {MEM_FLOOR:.0%}")
    print(f"  {'N':>5} {'step wall':>10} {'exec max':>9} {'Pss/ctr':>9} {'MemAvail':>9}  result")
    held, cids, why = 0, [], "reached --limit"
    while len(cids) < a.limit:
        new = [f"m{i}" for i in range(len(cids), min(len(cids) + a.step, a.limit))]
        wall, ok, errs = b.up_many(new)
        cids += [r[0] for r in ok]
        ex = b.exec_all(cids)
        slow = [(c, dt, err) for c, dt, err in ex if err or dt > EXEC_LIMIT]
        m = meminfo()
        low = m["MemAvailable"] < MEM_FLOOR * m["MemTotal"]
        per, _ = b.memory(cids)
        fail = errs[0] if errs else (f"exec in {slow[0][0]}: {slow[0][2] or f'{slow[0][1]:.1f} s'}" if slow else
                                     ("MemAvailable below 10 %" if low else ""))
        exmax = max(dt for _, dt, _ in ex) if ex else 0
        print(f"  {len(cids):>5} {wall:>9.1f}s {exmax:>8.2f}s {sum(per.values()) / max(1, len(cids)) / 1024:>7.1f}M "
              f"{m['MemAvailable'] // 1024:>8}M  {fail or 'held'}", flush=True)
        if fail:
            why = fail
            break
        held = len(cids)
    print(f"largest N that held: {held} ({why})")
    return 0


class Args(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit 1, as for every bad input in runvm (argparse's own is usage and 2).
        sys.exit(f"density.py: {message} (--help lists the options)")


def main():
    ap = Args(description="runvm concurrency and density bench")
    ap.add_argument("--runvm", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("-n", type=int, default=50, help="containers (default 50; 200 for the larger run)")
    ap.add_argument("-p", type=int, default=8, help="creates and starts at once (default 8)")
    ap.add_argument("--window", type=int, default=30, help="seconds of each idle CPU window (default 30)")
    ap.add_argument("--max-n", action="store_true", help="find the largest N this host holds (slow)")
    ap.add_argument("--step", type=int, default=10, help="--max-n: containers added per step (default 10)")
    ap.add_argument("--limit", type=int, default=1000, help="--max-n: stop at this many (default 1000)")
    a = ap.parse_args()
    for k, flag in (("n", "-n"), ("p", "-p"), ("window", "--window"), ("step", "--step"), ("limit", "--limit")):
        if getattr(a, k) < 1:
            ap.error(f"{flag} must be 1 or more")
    for f in (a.runvm, a.config):
        if not os.path.exists(f):
            ap.error(f"{f}: no such file (make all first)")
    a.runvm, a.config = os.path.abspath(a.runvm), os.path.abspath(a.config)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = Bench(a)
    rc = 1
    try:
        make_bundle(b.work)
        rc = max_n_run(b, a) if a.max_n else density_run(b, a)
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"bench: interrupted ({str(e) or 'SIGINT'})", file=sys.stderr)
        rc = 130
    finally:
        # A second Ctrl-C must not cut the cleanup short; the runvm calls it makes ignore it too.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        b.stop.set()
        b.cleanup()
        subprocess.run(["rm", "-rf", b.work])
    sys.exit(rc)


main()
