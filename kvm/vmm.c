/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMM core (kvmtool's kvm.c shape): the VM on /dev/kvm, its lifecycle, the registration of
 * MMIO and port regions, an I/O thread polling the devices' host fds, pause/resume, and an
 * eventfd that tells the owner the VM has ended. Guest RAM is kvm/memory.c's, the vCPU threads
 * kvm/vcpu.c's. Architecture specifics are hooks (kvm/arch.h): where RAM and the devices go,
 * how an interrupt line is raised, how the guest learns of a device, how a kernel boots; the
 * core names no address, port or interrupt number of any architecture.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "base/log.h"
#include "hypervisor-backends/jail.h"
#include "kvm/arch.h"
#include "kvm/device.h"
#include "kvm/memory.h"
#include "kvm/state.h"
#include "kvm/vcpu.h"
#include "kvm/vmm-internal.h"
#include "kvm/vmm.h"

/* --- errors and exit -------------------------------------------------------------------- */

static void wake_io(struct vmm *vm)
{
	uint64_t one = 1;

	if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the I/O thread wakes anyway. */
	}
}

static void exit_v(struct vmm *vm, int status, const char *fmt, va_list ap)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->lock);
	if (!vm->ended) {
		vm->ended = true;
		vm->status = status;
		vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
		rt_debug("kvm: VM ended (status %d): %s", status, vm->reason);
		/* When a VM ends unexpectedly the runtime shows the console's last line: make a
		 * VMM failure that line. */
		if (status != 0 && vm->console_fd >= 0)
			dprintf(vm->console_fd, "\nrunvm: the VM ended: %s\n", vm->reason);
		__atomic_or_fetch(&vm->flags, VMM_F_EXIT, __ATOMIC_SEQ_CST);
		if (vm->exit_fd >= 0 && write(vm->exit_fd, &one, sizeof(one)) < 0)
			rt_debug("kvm: exit eventfd: %s, ignoring", strerror(errno));
		vcpu_kick_all(vm);
		wake_io(vm);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

void vmm_exit_with(struct vmm *vm, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	exit_v(vm, status, fmt, ap);
	va_end(ap);
}

int vmm_exit_fd(struct vmm *vm)
{
	return vm->exit_fd;
}

bool vmm_ended(struct vmm *vm, int *ret_status, const char **ret_reason)
{
	bool ended;

	pthread_mutex_lock(&vm->lock);
	ended = vm->ended;
	if (ended) {
		if (ret_status)
			*ret_status = vm->status;
		if (ret_reason)
			*ret_reason = vm->reason;
	}
	pthread_mutex_unlock(&vm->lock);
	return ended;
}

/* --- creation --------------------------------------------------------------------------- */

int vmm_new(unsigned vcpus, unsigned mem_mib, bool huge_pages, int ram_fd, int console_fd, struct vmm **ret,
	    struct rt_error **err)
{
	uint64_t size = (uint64_t)mem_mib << 20;
	struct vmm *vm;
	int r;

	if (vcpus < 1 || vcpus > vmm_arch_max_vcpus())
		return rt_make_error(err, EINVAL, "%u vCPUs asked for, the VMM runs 1 to %u", vcpus,
				     vmm_arch_max_vcpus());
	if (size < (1 << 20) || size > VMM_MAX_RAM)
		return rt_make_error(err, EINVAL, "%u MiB of guest memory asked for, the VMM supports 1 to %llu MiB",
				     mem_mib, VMM_MAX_RAM >> 20);

	vm = g_new0(struct vmm, 1);
	vm->kvm_fd = vm->vm_fd = vm->exit_fd = vm->wake_fd = -1;
	vm->console_fd = console_fd;
	vmm_memory_preinit(vm);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->cmdline = g_string_new(NULL);
	vcpus_alloc(vm, vcpus);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = rt_make_error(err, errno, "open `/dev/kvm`");
		goto fail;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		r = rt_make_error(err, r < 0 ? errno : 0, "KVM_GET_API_VERSION: %d, expected %d", r, KVM_API_VERSION);
		goto fail;
	}
	/* The kick protocol above needs it (Linux 4.11). */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		r = rt_make_error(err, 0, "KVM lacks KVM_CAP_IMMEDIATE_EXIT (host kernel older than 4.11)");
		goto fail;
	}
	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		r = rt_make_error(err, errno, "KVM_CREATE_VM");
		goto fail;
	}
	r = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (r > 0 && vcpus > (unsigned)r) {
		r = rt_make_error(err, EINVAL, "%u vCPUs asked for, KVM runs at most %d", vcpus, r);
		goto fail;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run)) {
		r = rt_make_error(err, r < 0 ? errno : 0, "KVM_GET_VCPU_MMAP_SIZE");
		goto fail;
	}
	vm->run_size = (size_t)r;

	r = vmm_memory_init(vm, size, huge_pages, ram_fd, err);
	if (r < 0)
		goto fail;
	vm->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_fd < 0 || vm->wake_fd < 0) {
		r = rt_make_error(err, errno, "eventfd");
		goto fail;
	}

	/* The interrupt controller must exist before the vCPUs (the in-kernel irqchip creates each
	 * vCPU's part of it with the vCPU). */
	r = vmm_arch_init(vm, err);
	if (r < 0)
		goto fail;
	r = vcpus_create(vm, err);
	if (r < 0)
		goto fail;
	*ret = vm;
	return 0;
fail:
	vmm_free(vm);
	return r < 0 ? r : -1;
}

/* --- registration ----------------------------------------------------------------------- */

static int region_add(struct vmm *vm, struct vmm_region *regions, unsigned *n, unsigned max, uint64_t base,
		      uint64_t len, const struct vmm_mmio_ops *ops, void *opaque)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->started)
		r = -EBUSY;
	else if (*n >= max)
		r = -ENOSPC;
	for (unsigned i = 0; r == 0 && i < *n; i++)
		if (base < regions[i].base + regions[i].len && regions[i].base < base + len)
			r = -EEXIST;
	if (r == 0)
		regions[(*n)++] = (struct vmm_region){ .base = base, .len = len, .ops = ops, .opaque = opaque };
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_mmio_register(struct vmm *vm, uint64_t base, uint64_t len, const struct vmm_mmio_ops *ops, void *opaque)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	/* Inside RAM an access never exits to us. */
	for (unsigned i = 0; i < vm->n_slots; i++)
		if (base < vm->slots[i].gpa + vm->slots[i].size && vm->slots[i].gpa < base + len)
			return -EINVAL;
	return region_add(vm, vm->mmio, &vm->n_mmio, VMM_MAX_MMIO, base, len, ops, opaque);
}

int vmm_virtio_mmio_add(struct vmm *vm, const struct vmm_mmio_ops *ops, void *opaque, uint64_t *ret_base,
			unsigned *ret_irq)
{
	uint64_t base, size;
	unsigned irq;
	int r;

	/* The next window: a taken one (a test's region) answers -EEXIST and is skipped, a full
	 * table or a started VM ends the search. */
	do {
		pthread_mutex_lock(&vm->lock);
		r = vmm_arch_virtio_mmio_slot(vm->n_virtio_mmio, &base, &size, &irq);
		if (r == 0)
			vm->n_virtio_mmio++;
		pthread_mutex_unlock(&vm->lock);
		if (r < 0)
			return r;
		r = vmm_mmio_register(vm, base, size, ops, opaque);
	} while (r == -EEXIST || r == -EINVAL);
	if (r < 0)
		return r;
	vmm_arch_virtio_mmio_announce(vm, base, size, irq);
	*ret_base = base;
	*ret_irq = irq;
	return 0;
}

int vmm_pio_register(struct vmm *vm, uint16_t base, uint16_t len, const struct vmm_mmio_ops *ops, void *opaque)
{
	if (len == 0 || (uint32_t)base + len > 0x10000)
		return -EINVAL;
	return region_add(vm, vm->pio, &vm->n_pio, VMM_MAX_PIO, base, len, ops, opaque);
}

int vmm_io_watch(struct vmm *vm, int fd, short events, void (*fn)(void *opaque, short revents), void *opaque)
{
	unsigned i;
	int r = 0;

	if (fd < 0 || (events && !fn))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->n_watches && vm->watches[i].fd != fd; i++)
		;
	if (events == 0) {
		if (i < vm->n_watches)
			vm->watches[i] = vm->watches[--vm->n_watches];
	} else if (i == vm->n_watches && i == VMM_MAX_WATCHES) {
		r = -ENOSPC;
	} else {
		vm->watches[i] = (struct vmm_watch){ .fd = fd, .events = events, .fn = fn, .opaque = opaque };
		if (i == vm->n_watches)
			vm->n_watches++;
	}
	pthread_mutex_unlock(&vm->lock);
	/* poll() in the I/O thread still waits on the old set. */
	wake_io(vm);
	return r;
}

int vmm_on_free(struct vmm *vm, void (*fn)(void *opaque), void *opaque)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->n_on_free == VMM_MAX_ON_FREE)
		r = -ENOSPC;
	else
		vm->on_free[vm->n_on_free++] = (typeof(vm->on_free[0])){ .fn = fn, .opaque = opaque };
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_state_register(struct vmm *vm, int (*save)(void *opaque, struct kvm_state_buf *out),
		       int (*load)(void *opaque, const void *buf, size_t len), void *opaque)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->n_states == VMM_MAX_STATES)
		r = -ENOSPC;
	else
		vm->states[vm->n_states++] = (typeof(vm->states[0])){ .save = save, .load = load, .opaque = opaque };
	vm->states_lost |= r < 0;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void vmm_cmdline_append(struct vmm *vm, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	va_start(ap, fmt);
	g_string_append_vprintf(vm->cmdline, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&vm->lock);
}

/* --- interrupts --------------------------------------------------------------------------- */

void vmm_irq_pulse(struct vmm *vm, unsigned irq)
{
	int r = vmm_arch_irq_line(vm, irq, true);

	if (r < 0)
		rt_debug("kvm: raise interrupt line %u: %s, ignoring", irq, strerror(-r));
	vmm_arch_irq_line(vm, irq, false);
}

/* --- the I/O thread --------------------------------------------------------------------- */

void vmm_set_thread_filter(struct vmm *vm, const uint8_t *bpf, size_t len)
{
	vm->thread_bpf = bpf;
	vm->thread_bpf_len = len;
}

int vmm_confine_thread(struct vmm *vm)
{
	/* Per thread, as seccomp itself: each VMM thread stacks this on the process's filter,
	 * so a thread that runs guest-driven code is filtered even where the process is not. */
	if (!vm->thread_bpf)
		return 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return hv_jail_seccomp_load(vm->thread_bpf, vm->thread_bpf_len);
}

static void *io_thread(void *arg)
{
	struct vmm *vm = arg;
	struct vmm_watch w[VMM_MAX_WATCHES];
	struct pollfd p[1 + VMM_MAX_WATCHES];
	int r = vmm_confine_thread(vm);

	if (r < 0) {
		vmm_exit_with(vm, 1, "I/O thread: load the seccomp filter: %s", strerror(-r));
		return NULL;
	}
	for (;;) {
		unsigned n;
		uint64_t v;

		pthread_mutex_lock(&vm->lock);
		n = vm->n_watches;
		memcpy(w, vm->watches, n * sizeof(w[0]));
		pthread_mutex_unlock(&vm->lock);
		if (vm_flags(vm) & VMM_F_EXIT)
			break;
		p[0] = (struct pollfd){ .fd = vm->wake_fd, .events = POLLIN };
		for (unsigned i = 0; i < n; i++)
			p[1 + i] = (struct pollfd){ .fd = w[i].fd, .events = w[i].events };
		if (poll(p, 1 + n, -1) < 0) {
			if (errno == EINTR)
				continue;
			vmm_exit_with(vm, 1, "I/O thread: poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents && read(vm->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another wake-up drained it. */
		}
		for (unsigned i = 0; i < n; i++) {
			bool current = false;

			if (!p[1 + i].revents)
				continue;
			/* A callback may have changed or dropped a later watch since the copy. */
			pthread_mutex_lock(&vm->lock);
			for (unsigned j = 0; j < vm->n_watches; j++)
				if (vm->watches[j].fd == w[i].fd && vm->watches[j].fn == w[i].fn &&
				    vm->watches[j].opaque == w[i].opaque)
					current = true;
			pthread_mutex_unlock(&vm->lock);
			if (!current)
				continue;
			if (p[1 + i].revents & POLLNVAL) {
				/* Closed without unwatching: drop it rather than spin. */
				rt_debug("kvm: watched fd %d is not open, unwatching it", w[i].fd);
				vmm_io_watch(vm, w[i].fd, 0, NULL, NULL);
				continue;
			}
			w[i].fn(w[i].opaque, p[1 + i].revents);
		}
	}
	return NULL;
}

/* --- lifecycle -------------------------------------------------------------------------- */

int vmm_load_kernel(struct vmm *vm, const char *kernel, const char *initrd, struct rt_error **err)
{
	g_autofree char *cmdline = NULL;

	pthread_mutex_lock(&vm->lock);
	cmdline = g_strdup(vm->cmdline->str);
	pthread_mutex_unlock(&vm->lock);
	if (vm->started)
		return rt_make_error(err, EBUSY, "load the kernel: the VM is already running");
	return vmm_arch_load(vm, kernel, initrd, cmdline, err);
}

int vmm_start(struct vmm *vm, struct rt_error **err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_attr_t attr;
	sigset_t all, old;
	int r = 0, e;

	pthread_once(&once, vcpu_install_kick_handler);
	pthread_mutex_lock(&vm->lock);
	if (vm->started || vm->ended) {
		pthread_mutex_unlock(&vm->lock);
		return rt_make_error(err, EBUSY, "start the VM: it has already run");
	}
	vm->started = true;
	pthread_mutex_unlock(&vm->lock);

	/* The threads start with every signal blocked: the monitor's signals belong to its
	 * signalfd, and a stray signal would only interrupt KVM_RUN. vCPUs unblock the kick. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* Small stacks: the default 8 MiB mapping gets a transparent huge page on hosts where THP
	 * is "always", 2 MiB of host memory per thread for a few KiB of frames (the deepest: a 9p
	 * request with a PATH_MAX buffer and a chain's iovec array). */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, VMM_THREAD_STACK);
	e = pthread_create(&vm->io_thread, &attr, io_thread, vm);
	if (e) {
		r = rt_make_error(err, e, "create the VMM's I/O thread");
		goto out;
	}
	vm->io_started = true;
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		/* Created and marked under the lock, so that no kick (always under the lock) can
		 * miss a thread that already runs. */
		pthread_mutex_lock(&vm->lock);
		e = pthread_create(&c->thread, &attr, vcpu_thread, c);
		if (e == 0) {
			vm->n_live++;
			c->started = true;
		}
		pthread_mutex_unlock(&vm->lock);
		if (e) {
			r = rt_make_error(err, e, "create the thread of vCPU %u", i);
			vmm_exit_with(vm, 1, "could not start vCPU %u", i);
			goto out;
		}
	}
out:
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int vmm_pause(struct vmm *vm, struct rt_error **err)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (!vm->ended) {
		__atomic_or_fetch(&vm->flags, VMM_F_PAUSE, __ATOMIC_SEQ_CST);
		vcpu_kick_all(vm);
		while (vm->n_paused < vm->n_live && !vm->ended)
			pthread_cond_wait(&vm->cond, &vm->lock);
	}
	if (vm->ended)
		r = rt_make_error(err, ESRCH, "pause the VM: it has ended (%s)", vm->reason);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_resume(struct vmm *vm, struct rt_error **err)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->ended)
		r = rt_make_error(err, ESRCH, "resume the VM: it has ended (%s)", vm->reason);
	__atomic_and_fetch(&vm->flags, ~VMM_F_PAUSE, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_platform_save(struct vmm *vm, struct kvm_state_buf *out)
{
	int r;

	pthread_mutex_lock(&vm->lock);
	r = vm_stopped(vm) ? vmm_arch_platform_save(vm, out) : -EBUSY;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_platform_load(struct vmm *vm, const void *buf, size_t len)
{
	int r;

	pthread_mutex_lock(&vm->lock);
	r = vm->started ? -EBUSY : vmm_arch_platform_load(vm, buf, len);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void vmm_stop(struct vmm *vm)
{
	if (!vm)
		return;
	vmm_exit_with(vm, 0, "stopped by the runtime");
	pthread_mutex_lock(&vm->lock);
	/* Every kick happens under the lock while a vCPU is live (see vcpu_kick_all). */
	while (vm->n_live > 0)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		if (vm->vcpus[i].started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = false;
		}
	if (vm->io_started) {
		pthread_join(vm->io_thread, NULL);
		vm->io_started = false;
	}
}

struct vmm *vmm_free(struct vmm *vm)
{
	if (!vm)
		return NULL;
	vmm_stop(vm);
	while (vm->n_on_free > 0) {
		vm->n_on_free--;
		vm->on_free[vm->n_on_free].fn(vm->on_free[vm->n_on_free].opaque);
	}
	vmm_arch_free(vm);
	vcpus_free(vm);
	vmm_memory_free(vm);
	for (int *fd[] = { &vm->vm_fd, &vm->kvm_fd, &vm->exit_fd, &vm->wake_fd }, i = 0; i < 4; i++)
		if (*fd[i] >= 0)
			close(*fd[i]);
	g_string_free(vm->cmdline, TRUE);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	g_free(vm);
	return NULL;
}

/* --- for the architecture hooks --------------------------------------------------------- */

int vmm_kvm_fd(struct vmm *vm)
{
	return vm->kvm_fd;
}

int vmm_vm_fd(struct vmm *vm)
{
	return vm->vm_fd;
}

unsigned vmm_nr_vcpus(struct vmm *vm)
{
	return vm->n_vcpus;
}

int vmm_console_fd(struct vmm *vm)
{
	return vm->console_fd;
}

void *vmm_arch_state(struct vmm *vm)
{
	return vm->arch;
}

void vmm_set_arch_state(struct vmm *vm, void *state)
{
	vm->arch = state;
}

/* --- VM templates: the whole VM's state ------------------------------------------------------- */

#define VMM_STATE_MAGIC 0x534d4d56u /* "VMMS" */
#define VMM_STATE_VERSION 1
#define RAM_PAGE 4096

static bool page_zero(const uint8_t *p, size_t n)
{
	return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Guest RAM into @fd, as sparse as what the guest touched: only the ranges the RAM file holds
 * (SEEK_DATA), and of those only the pages that are not all zeros. */
static int save_ram(struct vmm *vm, int fd)
{
	off_t off = 0, end = (off_t)vm->ram_size;

	/* A clone's RAM is a private mapping of its template's file: not saved again. */
	if (vm->mem_fd < 0)
		return -EOPNOTSUPP;
	if (ftruncate(fd, end) < 0)
		return -errno;
	while (off < end) {
		off_t data = lseek(vm->mem_fd, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		hole = data < 0 ? -1 : lseek(vm->mem_fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		hole = MIN(hole, end);
		for (off_t p = data; p < hole;) {
			off_t run = p;
			int r;

			while (run < hole && !page_zero(vm->ram + run, (size_t)MIN((off_t)RAM_PAGE, hole - run)))
				run += RAM_PAGE;
			run = MIN(run, hole);
			if (run > p && (r = pwrite_all(fd, vm->ram + p, (size_t)(run - p), p)) < 0)
				return r;
			p = run + RAM_PAGE;
		}
		off = hole;
	}
	return fdatasync(fd) < 0 ? -errno : 0;
}

int vmm_save(struct vmm *vm, int state_fd, int memory_fd)
{
	struct kvm_state_buf out = { 0 }, rec = { 0 };
	int r = 0;

	if (!vm->started)
		return -EINVAL;
	if (vm->states_lost)
		return -ENOSPC;
	/* With every thread gone no device callback runs and no vCPU is in KVM_RUN: the
	 * devices, the vCPUs and the platform hold still while they are read. */
	vmm_stop(vm);
	kvm_state_put_header(&out, VMM_STATE_MAGIC, VMM_STATE_VERSION);
	kvm_state_put_u32(&out, vm->n_vcpus);
	kvm_state_put_u32(&out, vm->n_states);
	kvm_state_put_u64(&out, vm->ram_size);
	r = vmm_arch_platform_save(vm, &rec);
	kvm_state_put_blob(&out, &rec);
	for (unsigned i = 0; r == 0 && i < vm->n_vcpus; i++) {
		kvm_state_buf_release(&rec);
		r = vcpu_complete_exit(&vm->vcpus[i]);
		if (r == 0)
			r = vmm_arch_vcpu_save(vm, i, vm->vcpus[i].fd, &rec);
		kvm_state_put_blob(&out, &rec);
	}
	for (unsigned i = 0; r == 0 && i < vm->n_states; i++) {
		kvm_state_buf_release(&rec);
		r = vm->states[i].save(vm->states[i].opaque, &rec);
		kvm_state_put_blob(&out, &rec);
	}
	if (r == 0)
		r = kvm_state_buf_error(&out);
	if (r == 0)
		r = pwrite_all(state_fd, out.data, out.len, 0);
	if (r == 0 && fdatasync(state_fd) < 0)
		r = -errno;
	if (r == 0)
		r = save_ram(vm, memory_fd);
	kvm_state_buf_release(&rec);
	kvm_state_buf_release(&out);
	return r;
}

int vmm_restore(struct vmm *vm, const void *buf, size_t len)
{
	struct kvm_state_reader r;
	const void *p;
	size_t n;
	int e;

	if (vm->started)
		return -EBUSY;
	kvm_state_reader_init(&r, buf, len);
	e = kvm_state_get_header(&r, VMM_STATE_MAGIC, VMM_STATE_VERSION);
	if (e < 0)
		return e;
	/* The same machine: as many vCPUs, the same devices (each record says which it is), the
	 * same RAM. */
	if (kvm_state_get_u32(&r) != vm->n_vcpus || kvm_state_get_u32(&r) != vm->n_states || vm->states_lost ||
	    kvm_state_get_u64(&r) != vm->ram_size)
		return -EBADMSG;
	if (!kvm_state_get_blob(&r, &p, &n))
		return -EBADMSG;
	e = vmm_arch_platform_load(vm, p, n);
	for (unsigned i = 0; e == 0 && i < vm->n_vcpus; i++)
		e = kvm_state_get_blob(&r, &p, &n) ? vmm_arch_vcpu_load(vm, i, vm->vcpus[i].fd, p, n) : -EBADMSG;
	for (unsigned i = 0; e == 0 && i < vm->n_states; i++)
		e = kvm_state_get_blob(&r, &p, &n) ? vm->states[i].load(vm->states[i].opaque, p, n) : -EBADMSG;
	return e < 0 ? e : kvm_state_get_end(&r);
}
