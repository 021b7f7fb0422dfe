/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The process table and the way out of the VM (see agent.h). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "base/time.h"
#include "guest/agent/agent.h"
#include "guest/agent/util.h"

void __attribute__((noreturn)) end_vm(void)
{
	kill(-1, SIGKILL);
	sync();
	/* RB_AUTOBOOT, not RB_POWER_OFF: without ACPI a power-off only halts the CPU and QEMU
	 * keeps running, while a reset ends QEMU started with -no-reboot. */
	reboot(RB_AUTOBOOT);
	logmsg("reboot: %m");
	for (;;)
		pause();
}

void set_error(struct proc *p, uint32_t status, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0])
		return; /* the first error is the cause, later ones are consequences */
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	p->status = status;
	logmsg("process %u: %s", p->id, p->err);
}

void proc_init(struct proc *p, uint32_t id)
{
	*p = (struct proc){ .used = true, .id = id, .ep = -1, .in_fd = -1, .out_fd = { -1, -1 } };
}

int proc_parse_config(struct proc *p, const struct rv_frame *f, struct run_config *run)
{
	char err[CONFIG_ERR_MAX];
	int r = config_parse(f, &p->cfg, run, err, sizeof(err));

	if (r < 0)
		set_error(p, RV_EXIT_SETUP_FAILED, "%s", err);
	return r;
}

void proc_free(struct proc *p)
{
	close_fd(&p->ep);
	close_fd(&p->in_fd);
	close_fd(&p->out_fd[0]);
	close_fd(&p->out_fd[1]);
	rv_buf_free(&p->stdin_q);
	proc_config_free(&p->cfg);
	p->used = false;
}

struct proc *find_proc(struct agent *a, uint32_t id)
{
	size_t i;

	for (i = 0; i < MAX_PROCS; i++)
		if (a->procs[i].used && a->procs[i].id == id)
			return &a->procs[i];
	return NULL;
}

void close_stdin(struct proc *p)
{
	close_fd(&p->in_fd);
	rv_buf_free(&p->stdin_q);
}

void container_end(struct agent *a)
{
	if (!a->ending) {
		a->ending = true;
		a->ending_at = rv_now_ms();
	}
	kill(-1, SIGKILL);
}

void proc_exited(struct agent *a, struct proc *p, uint32_t status)
{
	if (p->exited)
		return;
	p->exited = true;
	p->exited_at = rv_now_ms();
	if (!p->err[0])
		p->status = status;
	close_stdin(p);
	if (p == &a->procs[0])
		container_end(a);
}

void proc_failed(struct agent *a, struct proc *p)
{
	close_fd(&p->ep);
	close_fd(&p->out_fd[0]);
	close_fd(&p->out_fd[1]);
	proc_config_free(&p->cfg);
	proc_exited(a, p, p->status);
}
