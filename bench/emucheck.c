/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a program sees of the machine it runs on, for bench/multiarch.py: built static for
 * aarch64 and run under runvm (an aarch64 guest) and under runc with qemu-user through
 * binfmt_misc, where user-mode emulation is known to differ from a real arm64 machine. Each line
 * is `name: what it saw`; nothing is judged here, the bench prints both side by side. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 100000

static long counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *work(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

/* A child that stops itself under PTRACE_TRACEME, then is stepped from syscall to syscall
 * (what strace does): how many stops the parent saw before it exited. */
static void trace(void)
{
	int st, stops = 0;
	pid_t pid = fork();

	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
			printf("ptrace: PTRACE_TRACEME failed: %s\n", strerror(errno));
			fflush(stdout);
			_exit(1);
		}
		raise(SIGSTOP);
		for (int i = 0; i < 10; i++)
			getppid();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
		printf("ptrace: the child did not stop (%s)\n", pid < 0 ? strerror(errno) : "exited");
		return;
	}
	while (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) == 0 && waitpid(pid, &st, 0) == pid && WIFSTOPPED(st))
		stops++;
	printf("ptrace: %d syscall stops, child %s\n", stops, WIFEXITED(st) ? "exited" : "did not exit");
}

int main(void)
{
	pthread_t t[THREADS];
	char exe[4096], line[256] = "";
	struct utsname u;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f;

	uname(&u);
	printf("uname -m: %s, kernel %s\n", u.machine, u.release);
	exe[n > 0 ? n : 0] = '\0';
	printf("/proc/self/exe: %s\n", n > 0 ? exe : strerror(errno));
	printf("AT_HWCAP: %#lx\n", getauxval(AT_HWCAP));
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CPU implementer", 15) || !strncmp(line, "model name", 10) ||
		    !strncmp(line, "vendor_id", 9))
			break;
	if (f)
		fclose(f);
	line[strcspn(line, "\n")] = '\0';
	printf("/proc/cpuinfo: %s\n", *line ? line : "(no CPU line)");
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, work, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("threads: %d x %d increments under a mutex = %ld (expected %d)\n", THREADS, ROUNDS, counter,
	       THREADS * ROUNDS);
	fflush(stdout);
	trace();
	return 0;
}
