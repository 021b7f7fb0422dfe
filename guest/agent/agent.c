/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The process table and the way out of the VM (see agent.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "base/time.h"
#include "guest/agent/agent.h"
#include "guest/agent/cgroup.h"
#include "guest/agent/channel.h"
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

/* An 8-byte attribute as a u64, or -1 when it is not 8 bytes. */
static int attr_u64(const struct rv_attr *at, uint64_t *ret)
{
	uint64_t v = 0;

	if (at->len != 8)
		return -1;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | at->data[i];
	*ret = v;
	return 0;
}

void handle_update(struct agent *a, const struct rv_frame *f)
{
	char err[CONFIG_ERR_MAX] = "";
	bool set_pids = false, set_mem = false;
	uint64_t pids = 0, mem = 0;
	struct rv_attr at;
	size_t pos = 0, start;
	int r;

	/* Stops at a bad attribute with r = 1: malformed too. */
	while ((r = rv_attr_next(f, &pos, &at)) > 0) {
		if (at.type == RV_ATTR_PIDS_LIMIT) {
			if (attr_u64(&at, &pids) < 0)
				break;
			set_pids = true;
		} else if (at.type == RV_ATTR_MEMORY_LIMIT) {
			if (attr_u64(&at, &mem) < 0)
				break;
			set_mem = true;
		}
	}
	if (r != 0 || f->proc != 0)
		snprintf(err, sizeof(err), "malformed UPDATE message");
	else if (cgroup_update(set_pids, pids, set_mem, mem, err, sizeof(err)) == 0)
		err[0] = 0;
	if (err[0])
		logmsg("update: %s", err);
	/* One answer per UPDATE, in order: the host matches them to its callers so. */
	if (rv_frame_begin(&a->tx, RV_MSG_UPDATE, 0, &start) < 0 ||
	    (err[0] && rv_put_str(&a->tx, RV_ATTR_ERROR, err) < 0) || rv_frame_end(&a->tx, start) < 0)
		channel_failed(-ENOMEM);
}
