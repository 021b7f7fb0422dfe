#!/usr/bin/env python3
"""Stand in for the caller of --console-socket: receive the pty master, set its window size,
type INPUT into it and record what comes out until the terminal closes.
usage: console.py SOCKET ROWS COLS INPUT OUTFILE  (SOCKET.ready appears once it listens)"""
import array, fcntl, os, select, socket, struct, sys, termios, time

path, rows, cols, text, outfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
open(path + ".ready", "w").close()
srv.settimeout(120)
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
master = fds[0]
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
out = b""
deadline = time.time() + 60
sent = False
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.5)
    if not sent and (r or out == b""):
        time.sleep(0.5)  # let the shell start before typing
        os.write(master, text.encode())
        sent = True
    if r:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
open(outfile, "wb").write(out)
