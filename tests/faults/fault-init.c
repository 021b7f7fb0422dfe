/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guest /init that misbehaves on purpose, for tests/integration/t_faults.sh: the host must
 * survive it. Never part of the production agent (guest/agent/ has no fault switch); it is
 * built into its own initramfs, $(BUILD)/faults/initramfs.cpio. The kernel command line picks
 * the fault (the test configuration's kernel_cmdline):
 *   runvm_fault=silent  say HELLO, then never answer (no STARTED after RUN): `start` must give
 *                       up after its deadline, and `kill` / `delete --force` work meanwhile;
 *   runvm_fault=flood   never say HELLO; write FLOOD_BYTES of junk (control characters,
 *                       invalid UTF-8) to the console, then one last line FLOOD_LAST: the host
 *                       keeps the console log bounded and shows only its escaped tail;
 *                       runvm_flood_kib=N writes N KiB instead (a slow console: the kvm
 *                       backend's 16550 takes a few KB a second);
 *   runvm_fault=nohello never say HELLO: create gives up after the boot timeout;
 *   runvm_fault=silentstart  say HELLO, answer RUN with STARTED, then nothing more: the
 *                       monitor's SIGKILL deadline ends the container;
 *   runvm_fault=panic   say HELLO, answer RUN with STARTED, then exit: PID 1 exiting panics
 *                       the kernel, which (panic=-1) reboots, so the VM ends;
 *   runvm_fault=early   say HELLO and STARTED at once, before any RUN (out of order);
 *   runvm_fault=oversized  say HELLO, then a header whose length passes RV_PROTO_MAX_PAYLOAD;
 *   runvm_fault=random  write random bytes instead of a frame;
 *   runvm_fault=nofile  say HELLO, answer RUN with STARTED, mount the rootfs share (9p) and
 *                       open NOFILE_COUNT files on it, holding them all, stopping at the first
 *                       open that fails; say "fault-init: N files open over 9p" on the console
 *                       every NOFILE_REPORT, and at the end with "(all)" or the errno that
 *                       stopped it; then nothing more. Every open is a fid of its own on the
 *                       host, so the host's 9p server is pressed for fds (the host must bound
 *                       them and go on serving `kill`).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol/agent-proto.h"

#define NOFILE_COUNT 100000
#define NOFILE_REPORT 1000
#define NOFILE_ROOT "/rootfs"

#define FLOOD_BYTES (3 * 1024 * 1024)
#define FLOOD_LAST "FLOOD-DONE \x1b[2J\xc3\x28 end\n"

static void say(const char *msg)
{
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	/* A console that takes nothing leaves nobody to tell. */
	if (fd >= 0 && write(fd, msg, strlen(msg)) >= 0)
		fsync(fd);
	if (fd >= 0)
		close(fd);
}

static void hang(void)
{
	for (;;)
		pause();
}

/* The virtio-serial port the host named RV_AGENT_PORT_NAME; the name comes a little after the
 * port appears. */
static int open_port(void)
{
	for (int i = 0; i < 500; i++, usleep(10000)) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[320], name[64] = "";
			int fd;

			snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (de->d_name[0] == '.' || fd < 0 || read(fd, name, sizeof(name) - 1) < 0 ||
			    strcmp(name, RV_AGENT_PORT_NAME "\n") != 0) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			close(fd);
			snprintf(path, sizeof(path), "/dev/%s", de->d_name);
			closedir(d);
			return open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
		}
		if (d)
			closedir(d);
	}
	return -ENOENT;
}

/* Write the frame of @type for proc 0, with a VERSION attribute for HELLO, to @fd. */
static int send_frame(int fd, enum rv_msg_type type)
{
	struct rv_buf b = { 0 };
	size_t start;
	int r = rv_frame_begin(&b, type, 0, &start);

	if (r == 0 && type == RV_MSG_HELLO)
		r = rv_put_u32(&b, RV_ATTR_VERSION, RV_PROTO_VERSION);
	if (r == 0)
		r = rv_frame_end(&b, start);
	if (r == 0 && write(fd, b.data, b.len) != (ssize_t)b.len)
		r = -EIO;
	rv_buf_free(&b);
	return r;
}

static int say_hello(void)
{
	int fd = open_port();

	if (fd < 0 || send_frame(fd, RV_MSG_HELLO) < 0) {
		say("fault-init: cannot say HELLO\n");
		hang();
	}
	return fd;
}

/* What the host sends is read and dropped, so that its writes never block on us. */
static void drain(int fd)
{
	char sink[4096];

	while (read(fd, sink, sizeof(sink)) != 0)
		;
	hang();
}

static void silent(void)
{
	int fd = say_hello();

	say("fault-init: HELLO said, silent from now on\n");
	drain(fd);
}

/* Read frames until RUN, then say STARTED. */
static int await_run(int fd)
{
	struct rv_buf in = { 0 };
	uint8_t chunk[4096];

	for (;;) {
		struct rv_frame f;
		size_t used;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		int r;

		if (n <= 0 || rv_buf_append(&in, chunk, (size_t)n) < 0)
			return -EIO;
		while ((r = rv_frame_parse(in.data + in.off, rv_buf_pending(&in), &f, &used)) > 0) {
			if (f.type == RV_MSG_RUN) {
				rv_buf_free(&in);
				return send_frame(fd, RV_MSG_STARTED);
			}
			rv_buf_consume(&in, used);
		}
		if (r < 0)
			return r;
	}
}

static void started(bool then_exit)
{
	int fd = say_hello();

	if (await_run(fd) < 0) {
		say("fault-init: no RUN to answer\n");
		hang();
	}
	if (then_exit) {
		say("fault-init: STARTED said, PID 1 exits now\n");
		_exit(0);
	}
	say("fault-init: STARTED said, silent from now on\n");
	drain(fd);
}

static void hostile(const char *how)
{
	int fd = open_port();
	uint8_t bytes[4096];

	if (fd < 0)
		hang();
	if (strcmp(how, "early") == 0) {
		if (send_frame(fd, RV_MSG_HELLO) < 0 || send_frame(fd, RV_MSG_STARTED) < 0)
			say("fault-init: cannot send\n");
	} else if (strcmp(how, "oversized") == 0) {
		uint8_t hdr[RV_PROTO_HDR_LEN] = { 'R', 'V', RV_PROTO_VERSION, RV_MSG_STDOUT };

		rv_le32(hdr + 8, RV_PROTO_MAX_PAYLOAD + 1);
		if (send_frame(fd, RV_MSG_HELLO) < 0 || write(fd, hdr, sizeof(hdr)) != sizeof(hdr))
			say("fault-init: cannot send\n");
	} else {
		/* Never starts with the magic 'R', so the first header is already wrong. */
		srandom((unsigned)getpid());
		for (size_t i = 0; i < sizeof(bytes); i++)
			bytes[i] = (uint8_t)random();
		bytes[0] = 0xff;
		if (write(fd, bytes, sizeof(bytes)) != sizeof(bytes))
			say("fault-init: cannot send\n");
	}
	say("fault-init: hostile frames sent\n");
	drain(fd);
}

/* The rootfs share, mounted as the agent mounts it, and one of its files opened NOFILE_COUNT
 * times: one file rather than 100000 new ones, which would take many minutes under TCG and leave
 * them all in the bundle; for the host each open is the same cost, a fid with an fd behind it.
 * The reopens go through /proc/self/fd (no walk of the path over 9p each time: a fid clone and
 * an open). A line every NOFILE_REPORT opens tells the host how far it got. */
static void nofile(void)
{
	int fd = say_hello(), first;
	/* Above the kernel's default of 1024: PID 1 is root, and nr_open is 1048576. */
	struct rlimit rl = { NOFILE_COUNT + 64, NOFILE_COUNT + 64 };
	char line[160], self[64];
	int n = 0, e = 0;

	if (await_run(fd) < 0) {
		say("fault-init: no RUN to answer\n");
		hang();
	}
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		say("fault-init: cannot raise RLIMIT_NOFILE\n");
	mkdir(NOFILE_ROOT, 0755);
	if (mount(RV_ROOTFS_TAG, NOFILE_ROOT, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144,cache=mmap") < 0 ||
	    (first = open(NOFILE_ROOT "/etc/passwd", O_RDONLY)) < 0) {
		snprintf(line, sizeof(line), "fault-init: cannot open a file on the rootfs share: %s\n",
			 strerror(errno));
		say(line);
		drain(fd);
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", first);
	for (n = 1; n < NOFILE_COUNT; n++) {
		if (open(self, O_RDONLY) < 0) {
			e = errno;
			break;
		}
		if ((n + 1) % NOFILE_REPORT == 0) {
			snprintf(line, sizeof(line), "fault-init: %d files open over 9p\n", n + 1);
			say(line);
		}
	}
	snprintf(line, sizeof(line), "fault-init: %d files open over 9p (%s), holding them\n", n,
		 n == NOFILE_COUNT ? "all" : strerror(e));
	say(line);
	drain(fd);
}

static void flood(const char *cmdline)
{
	static const char junk[] = "junk \x1b[31mred\x1b[0m \x07\x08\x7f \xff\xfe\xc0 \xe2\x82 tab\there\r\n";
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	const char *kib = strstr(cmdline, "runvm_flood_kib=");
	size_t bytes = kib ? strtoul(kib + strlen("runvm_flood_kib="), NULL, 10) * 1024 : FLOOD_BYTES;

	for (size_t n = 0; fd >= 0 && n < bytes; n += sizeof(junk) - 1)
		if (write(fd, junk, sizeof(junk) - 1) < 0)
			break;
	if (fd >= 0 && write(fd, FLOOD_LAST, sizeof(FLOOD_LAST) - 1) < 0)
		say("fault-init: flood cut short\n");
	hang();
}

int main(void)
{
	char cmdline[4096] = "";
	int fd;

	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, cmdline, sizeof(cmdline) - 1) < 0)
			cmdline[0] = '\0';
		close(fd);
	}
	if (strstr(cmdline, "runvm_fault=silentstart"))
		started(false);
	else if (strstr(cmdline, "runvm_fault=silent"))
		silent();
	else if (strstr(cmdline, "runvm_fault=nohello"))
		hang();
	else if (strstr(cmdline, "runvm_fault=panic"))
		started(true);
	else if (strstr(cmdline, "runvm_fault=early"))
		hostile("early");
	else if (strstr(cmdline, "runvm_fault=oversized"))
		hostile("oversized");
	else if (strstr(cmdline, "runvm_fault=random"))
		hostile("random");
	else if (strstr(cmdline, "runvm_fault=flood"))
		flood(cmdline);
	else if (strstr(cmdline, "runvm_fault=nofile"))
		nofile();
	say("fault-init: no runvm_fault= on the kernel command line\n");
	hang();
}
