/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A stand-in for a QEMU that a guest has taken over, for t_jail: set as the qemu backend's
 * `binary`, it runs the real QEMU (REAL_QEMU) as its child, and once the guest has created
 * `vmm-syscall-now` at the top of its rootfs share, it makes a system call that the jail's
 * filter denies, as a compromised VMM would on its way out. The filter must kill it there
 * (SIGSYS); as PID 1 of the VMM's pid namespace its end takes QEMU with it.
 *
 * Outside the jail (runvm probing the binary) it is the real QEMU and nothing else. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef REAL_QEMU
#error "build with -DREAL_QEMU='\"/usr/bin/qemu-system-x86_64\"'"
#endif

static pid_t child;

static void forward(int sig)
{
	kill(child, sig);
}

/* The rootfs share: the first `-fsdev local,...,path=P,...`. */
static const char *rootfs_share(int argc, char **argv, char *buf, size_t len)
{
	for (int i = 1; i + 1 < argc; i++) {
		const char *p;

		if (strcmp(argv[i], "-fsdev") || !(p = strstr(argv[i + 1], ",path=")))
			continue;
		p += strlen(",path=");
		snprintf(buf, len, "%.*s/vmm-syscall-now", (int)strcspn(p, ","), p);
		return buf;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char trigger[4096];
	struct stat st;
	int status;

	if (getpid() != 1 || !rootfs_share(argc, argv, trigger, sizeof(trigger))) {
		execv(REAL_QEMU, argv);
		perror(REAL_QEMU);
		return 127;
	}
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		execv(REAL_QEMU, argv);
		_exit(127);
	}
	/* PID 1 gets only the signals it handles: the monitor's SIGTERM must still stop QEMU. */
	signal(SIGTERM, forward);
	signal(SIGINT, forward);
	for (;;) {
		if (waitpid(child, &status, WNOHANG) == child)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (stat(trigger, &st) == 0)
			unshare(CLONE_NEWUTS); /* denied: the filter kills the whole process here */
		usleep(50 * 1000);
	}
}
