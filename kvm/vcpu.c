/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vCPUs of the VMM core (kvm/vcpu.h; kvmtool's kvm-cpu.c): one thread each, running
 * KVM_RUN and dispatching port and MMIO exits to the registered handlers, the exits the core
 * does not know to the architecture (kvm/arch.h), parking at a safe point while paused.
 *
 * Stopping a vCPU: the owner sets a flag, sets run->immediate_exit and sends the vCPU thread
 * SIGVCPU_KICK. The vCPU clears immediate_exit *before* it reads the flags, so a kick that
 * races with the check still makes the next KVM_RUN return -EINTR at once (KVM's documented
 * use of immediate_exit), and a kick while in the guest forces an exit with -EINTR.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "base/log.h"
#include "kvm/vcpu.h"
#include "kvm/vmm-internal.h"
#include "kvm/vmm.h"

/* Not one of the signals the monitor forwards to the container (runtime/monitor.c). */
#define SIGVCPU_KICK (SIGRTMIN + 4)

void vcpus_alloc(struct vmm *vm, unsigned n)
{
	vm->n_vcpus = n;
	vm->vcpus = g_new0(struct vcpu, n);
	for (unsigned i = 0; i < n; i++)
		vm->vcpus[i] = (struct vcpu){ .vm = vm, .id = i, .fd = -1, .run = MAP_FAILED };
}

int vcpus_create(struct vmm *vm, struct rt_error **err)
{
	int r;

	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0)
			return rt_make_error(err, errno, "KVM_CREATE_VCPU %u", i);
		c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (c->run == MAP_FAILED)
			return rt_make_error(err, errno, "mmap kvm_run of vCPU %u", i);
		r = vmm_arch_vcpu_init(vm, i, c->fd, err);
		if (r < 0)
			return r;
	}
	return 0;
}

void vcpus_free(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		if (vm->vcpus[i].run != MAP_FAILED)
			munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	g_free(vm->vcpus);
}

/* Lock held. Only threads that have not been joined are signalled: joining waits until
 * n_live is 0, and every kick happens under the lock from a live thread or the owner. */
void vcpu_kick_all(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		if (!c->started)
			continue;
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(c->thread, SIGVCPU_KICK);
	}
}

static const struct vmm_region *region_find(const struct vmm_region *regions, unsigned n, uint64_t addr, unsigned len)
{
	for (unsigned i = 0; i < n; i++)
		if (addr >= regions[i].base && addr - regions[i].base < regions[i].len &&
		    len <= regions[i].len - (addr - regions[i].base))
			return &regions[i];
	return NULL;
}

static void region_access(const struct vmm_region *r, uint64_t addr, bool write, void *data, unsigned len)
{
	if (write) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, data, len);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, addr - r->base, data, len);
	} else {
		memset(data, 0, len);
	}
}

static void vcpu_pio(struct vmm *vm, struct kvm_run *run)
{
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	unsigned size = run->io.size;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	const struct vmm_region *r = region_find(vm->pio, vm->n_pio, run->io.port, size);

	if (run->io.data_offset + (uint64_t)size * run->io.count > vm->run_size)
		return;
	/* count > 1 for the string instructions (rep outsb and the like). */
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (r) {
			region_access(r, run->io.port, write, data, size);
			continue;
		}
		/* The kernel probes ports of hardware it does not find (other UARTs, PCI
		 * configuration): reads as zero, said once. */
		if (!write)
			memset(data, 0, size);
		if (!(vm->pio_logged[run->io.port / 8] & (1 << run->io.port % 8))) {
			__atomic_or_fetch(&vm->pio_logged[run->io.port / 8], 1 << run->io.port % 8, __ATOMIC_RELAXED);
			rt_debug("kvm: unhandled port %s 0x%x (size %u), ignoring", write ? "write" : "read",
				 run->io.port, size);
		}
	}
}

static void vcpu_mmio(struct vmm *vm, struct kvm_run *run)
{
	unsigned len = run->mmio.len;
	const struct vmm_region *r;

	if (len > sizeof(run->mmio.data))
		return;
	r = region_find(vm->mmio, vm->n_mmio, run->mmio.phys_addr, len);
	if (r) {
		region_access(r, run->mmio.phys_addr, run->mmio.is_write, run->mmio.data, len);
		return;
	}
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0, len);
	if (__atomic_fetch_add(&vm->mmio_logged, 1, __ATOMIC_RELAXED) < 16)
		rt_debug("kvm: unhandled MMIO %s 0x%llx (size %u), ignoring", run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr, len);
}

/* Returns false when the vCPU is done: the VM has ended. */
static bool vcpu_exit(struct vmm *vm, struct vcpu *c)
{
	struct kvm_run *run = c->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		c->pio_exits++;
		vcpu_pio(vm, run);
		return true;
	case KVM_EXIT_MMIO:
		c->mmio_exits++;
		vcpu_mmio(vm, run);
		return true;
	case KVM_EXIT_INTR: return true;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN: vmm_exit_with(vm, 0, "the guest powered off"); break;
		case KVM_SYSTEM_EVENT_RESET: vmm_exit_with(vm, 0, "the guest rebooted"); break;
		case KVM_SYSTEM_EVENT_CRASH: vmm_exit_with(vm, 1, "the guest crashed"); break;
		default: vmm_exit_with(vm, 1, "vCPU %u: unknown system event %u", c->id, run->system_event.type);
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vmm_exit_with(vm, 1,
			      "vCPU %u: KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx)",
			      c->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vmm_exit_with(vm, 1, "vCPU %u: KVM internal error (KVM_EXIT_INTERNAL_ERROR, suberror %u)", c->id,
			      run->internal.suberror);
		return false;
	default:
		if (vmm_arch_exit(vm, c->id, c->fd, run))
			return true;
		/* No-op when the hook ended the VM itself. */
		vmm_exit_with(vm, 1, "vCPU %u: unexpected KVM exit reason %u", c->id, run->exit_reason);
		return false;
	}
}

/*
 * With --debug, where the vCPU's time went: the exits that reached us, and KVM's own counters
 * (the binary stats of KVM_GET_STATS_FD, Linux 5.14) for the exits it handled in the kernel.
 * Every exit is costly under nested virtualisation; this is how the boot's were counted.
 */
static void vcpu_log_stats(struct vcpu *c)
{
	static const char *const wanted[] = { "exits",    "halt_exits", "irq_exits",      "io_exits",      "mmio_exits",
					      "pf_taken", "pf_fixed",   "irq_injections", "insn_emulation" };
	struct kvm_stats_header h;
	g_autoptr(GString) line = g_string_new(NULL);
	g_autofree uint8_t *descs = NULL;
	size_t dsize;
	int fd;

	if (!rt_log_debug_enabled())
		return;
	g_string_printf(line, "kvm: vCPU %u: %lu port and %lu MMIO exits to the VMM", c->id, c->pio_exits,
			c->mmio_exits);
	fd = ioctl(c->fd, KVM_GET_STATS_FD, NULL);
	if (fd >= 0 && pread(fd, &h, sizeof(h), 0) == sizeof(h) && h.num_desc < 1024 && h.name_size > 0 &&
	    h.name_size < 256) {
		dsize = sizeof(struct kvm_stats_desc) + h.name_size;
		descs = g_malloc((size_t)h.num_desc * dsize);
		if (pread(fd, descs, h.num_desc * dsize, h.desc_offset) == (ssize_t)(h.num_desc * dsize)) {
			g_string_append(line, "; KVM:");
			for (unsigned i = 0; i < h.num_desc; i++) {
				struct kvm_stats_desc *d = (void *)(descs + i * dsize);
				uint64_t v;

				d->name[h.name_size - 1] = 0;
				for (size_t k = 0; k < G_N_ELEMENTS(wanted); k++)
					if (strcmp(d->name, wanted[k]) == 0 &&
					    pread(fd, &v, sizeof(v), h.data_offset + d->offset) == sizeof(v))
						g_string_append_printf(line, " %s %" PRIu64, d->name, v);
			}
		}
	}
	if (fd >= 0)
		close(fd);
	rt_debug("%s", line->str);
}

/* Park at a safe point until resumed or ended. */
static void vcpu_park(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->n_paused++;
	pthread_cond_broadcast(&vm->cond);
	while ((vm_flags(vm) & (VMM_F_PAUSE | VMM_F_EXIT)) == VMM_F_PAUSE)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->n_paused--;
	pthread_mutex_unlock(&vm->lock);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vmm *vm = c->vm;
	int r = vmm_confine_thread(vm);
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, SIGVCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	if (r < 0)
		vmm_exit_with(vm, 1, "vCPU %u: load the seccomp filter: %s", c->id, strerror(-r));
	for (;;) {
		int f;

		/* Clear first, then look: see the comment at the top of the file. */
		__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		f = vm_flags(vm);
		if (f & VMM_F_EXIT)
			break;
		if (f & VMM_F_PAUSE) {
			vcpu_park(vm);
			continue;
		}
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vmm_exit_with(vm, 1, "vCPU %u: KVM_RUN: %s", c->id, strerror(errno));
			break;
		}
		if (!vcpu_exit(vm, c))
			break;
	}
	vcpu_log_stats(c);
	pthread_mutex_lock(&vm->lock);
	vm->n_live--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu_complete_exit(struct vcpu *c)
{
	/* KVM's documented way: KVM_RUN with immediate_exit completes what is pending and returns
	 * -EINTR without entering the guest. */
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(c->fd, KVM_RUN, 0) == 0)
		return -EIO;
	return errno == EINTR ? 0 : -errno;
}

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

void vcpu_install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGVCPU_KICK, &sa, NULL);
}

/* Under the lock, so that no vCPU leaves its park while its state is read: a vCPU's registers
 * are only consistent while its thread is out of KVM_RUN. */
int vmm_vcpu_save(struct vmm *vm, unsigned id, struct kvm_state_buf *out)
{
	int r;

	if (id >= vm->n_vcpus)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (!vm_stopped(vm))
		r = -EBUSY;
	else
		r = vmm_arch_vcpu_save(vm, id, vm->vcpus[id].fd, out);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_vcpu_load(struct vmm *vm, unsigned id, const void *buf, size_t len)
{
	int r;

	if (id >= vm->n_vcpus)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->started)
		r = -EBUSY;
	else
		r = vmm_arch_vcpu_load(vm, id, vm->vcpus[id].fd, buf, len);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_vcpu_fd(struct vmm *vm, unsigned id)
{
	return id < vm->n_vcpus ? vm->vcpus[id].fd : -1;
}
