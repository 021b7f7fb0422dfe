/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file I/O bench's timer inside the container (bench/fileio.py), static so that it runs in
 * any rootfs: `stopwatch LABEL CMD [ARG...]` runs CMD with its stdout and stderr on
 * /dev/null, and prints "LABEL SECONDS STATUS" on its own stdout. The same binary runs under
 * runc and in runvm's guest, so both measure the same thing, with nanosecond resolution
 * (busybox's `time` has 10 ms).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	int st = 0, fd;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: stopwatch LABEL CMD [ARG...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0) {
		perror("waitpid");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s %.6f %d\n", argv[1], (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}
