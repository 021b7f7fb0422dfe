/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Terminals of the container (see pty.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "guest/agent/agent.h"
#include "guest/agent/pty.h"
#include "guest/agent/util.h"

int open_pty(const struct proc_config *c, uint32_t id, int rootfd, int *ret_master, int *ret_slave, const char **what)
{
	int master, slave, unlock = 0, r;

	/* Under the container's root, which lies in its mount namespace: not the agent's. */
	*what = "open /dev/pts/ptmx";
	master = openat(rootfd, "dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (master < 0)
		return -errno;
	*what = "unlocking the pty";
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		goto fail;
	*what = "opening the pty";
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		goto fail;
	/* As login does: the user owns the tty (group tty, mode 0620 from the mount). */
	if (fchown(slave, c->uid, -1) < 0)
		logmsg("process %u: chown of its pty: %m", id);
	if (c->has_rows || c->has_cols) {
		struct winsize ws = { 0 };

		ioctl(master, TIOCGWINSZ, &ws);
		if (c->has_rows)
			ws.ws_row = c->rows;
		if (c->has_cols)
			ws.ws_col = c->cols;
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			logmsg("process %u: TIOCSWINSZ: %m", id);
	}
	*ret_master = master;
	*ret_slave = slave;
	return 0;
fail:
	r = -errno;
	close(master);
	return r;
}
