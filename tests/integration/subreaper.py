#!/usr/bin/env python3
"""Stand in for containerd's shim: a subreaper that runs `runvm create ...`, adopts the monitor
it leaves behind, and records exit statuses. usage: subreaper.py OUT -- CMD...
Writes OUT.create (create's exit status), then one "PID STATUS" line per adopted child to OUT."""
import ctypes, os, sys

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
out, cmd = sys.argv[1], sys.argv[3:]
pid = os.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
_, st = os.waitpid(pid, 0)
with open(out + ".create", "w") as f:
    f.write(str(os.waitstatus_to_exitcode(st)))
# Our stdio may be the container's: let go of it so that readers see EOF when the monitor ends.
devnull = os.open("/dev/null", os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
while True:
    try:
        cpid, st = os.wait()
    except ChildProcessError:
        break
    with open(out, "a") as f:
        f.write(f"{cpid} {os.waitstatus_to_exitcode(st)}\n")
