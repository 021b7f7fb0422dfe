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
 *                       keeps the console log bounded and shows only its escaped tail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol/agent-proto.h"

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

static void silent(void)
{
	struct rv_buf b = { 0 };
	char sink[4096];
	size_t start;
	int fd = open_port();

	if (fd < 0 || rv_frame_begin(&b, RV_MSG_HELLO, 0, &start) < 0 ||
	    rv_put_u32(&b, RV_ATTR_VERSION, RV_PROTO_VERSION) < 0 || rv_frame_end(&b, start) < 0 ||
	    write(fd, b.data, b.len) != (ssize_t)b.len) {
		say("fault-init: cannot say HELLO\n");
		hang();
	}
	say("fault-init: HELLO said, silent from now on\n");
	/* What the host sends is read and dropped, so that its writes never block on us. */
	while (read(fd, sink, sizeof(sink)) != 0)
		;
	hang();
}

static void flood(void)
{
	static const char junk[] = "junk \x1b[31mred\x1b[0m \x07\x08\x7f \xff\xfe\xc0 \xe2\x82 tab\there\r\n";
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	for (size_t n = 0; fd >= 0 && n < FLOOD_BYTES; n += sizeof(junk) - 1)
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
	if (strstr(cmdline, "runvm_fault=silent"))
		silent();
	else if (strstr(cmdline, "runvm_fault=flood"))
		flood();
	say("fault-init: no runvm_fault= on the kernel command line\n");
	hang();
}
