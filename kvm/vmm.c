/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMM core (kvmtool's kvm.c + kvm-cpu.c shape): the VM on /dev/kvm, guest RAM as one memfd,
 * one thread per vCPU running KVM_RUN and dispatching port and MMIO exits to the registered
 * handlers, an I/O thread polling the devices' host fds, pause/resume, and an eventfd that
 * tells the owner the VM has ended. Architecture specifics are hooks (kvm/arch.h): where RAM
 * and the devices go, how an interrupt line is raised, how the guest learns of a device, how a
 * kernel boots; the core names no address, port or interrupt number of any architecture.
 *
 * Stopping a vCPU: the owner sets a flag, sets run->immediate_exit and sends the vCPU thread
 * SIGVCPU_KICK. The vCPU clears immediate_exit *before* it reads the flags, so a kick that
 * races with the check still makes the next KVM_RUN return -EINTR at once (KVM's documented
 * use of immediate_exit), and a kick while in the guest forces an exit with -EINTR.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "base/log.h"
#include "kvm/arch.h"
#include "kvm/device.h"
#include "kvm/state.h"
#include "kvm/vmm.h"

/* RAM is one file, in the slots the architecture's layout gives. 1 TiB is what the configuration allows (memory_mib). */
#define VMM_MAX_RAM (1ULL << 40)
/* MMIO regions: the virtio-mmio windows and a few more. */
#define VMM_MAX_MMIO 32
#define VMM_MAX_PIO 16
#define VMM_MAX_WATCHES 64
#define VMM_MAX_ON_FREE 64
#define VMM_THREAD_STACK (256 << 10)

/* Not one of the signals the monitor forwards to the container (runtime/monitor.c). */
#define SIGVCPU_KICK (SIGRTMIN + 4)

enum { VMM_F_EXIT = 1, VMM_F_PAUSE = 2 };

struct vmm_region {
	uint64_t base, len;
	const struct vmm_mmio_ops *ops;
	void *opaque;
};

struct vmm_watch {
	int fd;
	short events;
	void (*fn)(void *opaque, short revents);
	void *opaque;
};

struct vcpu {
	struct vmm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	unsigned long pio_exits, mmio_exits; /* the ones that came to us, for the debug log */
};

struct vmm {
	int kvm_fd, vm_fd, mem_fd, exit_fd, wake_fd, console_fd;
	uint8_t *ram;
	uint64_t ram_size;
	struct vmm_ram_slot slots[VMM_RAM_SLOTS_MAX];
	uint8_t *slot_ram[VMM_RAM_SLOTS_MAX]; /* where each slot starts in @ram */
	unsigned n_slots;
	size_t run_size;
	unsigned n_vcpus;
	struct vcpu *vcpus;
	void *arch;

	/* Fixed once vmm_start() has run: the vCPUs read them without a lock. */
	struct vmm_region mmio[VMM_MAX_MMIO], pio[VMM_MAX_PIO];
	unsigned n_mmio, n_pio;
	unsigned n_virtio_mmio; /* the windows vmm_virtio_mmio_add() has tried */
	uint8_t pio_logged[65536 / 8];
	unsigned mmio_logged;

	/* Everything below is under @lock; @flags is also read without it (atomics). */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int flags;
	bool started, ended;
	unsigned n_live, n_paused;
	int status;
	char reason[256];
	GString *cmdline;
	struct vmm_watch watches[VMM_MAX_WATCHES];
	unsigned n_watches;
	pthread_t io_thread;
	bool io_started;
	struct {
		void (*fn)(void *opaque);
		void *opaque;
	} on_free[VMM_MAX_ON_FREE];
	unsigned n_on_free;
};

/* --- errors and exit -------------------------------------------------------------------- */

static int vm_flags(struct vmm *vm)
{
	return __atomic_load_n(&vm->flags, __ATOMIC_SEQ_CST);
}

/* Lock held. Only threads that have not been joined are signalled: joining waits until
 * n_live is 0, and every kick happens under the lock from a live thread or the owner. */
static void kick_vcpus(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		if (!c->started)
			continue;
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(c->thread, SIGVCPU_KICK);
	}
}

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
		kick_vcpus(vm);
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

/*
 * Guest RAM is one file: shareable with another process (vhost-user) and snapshottable later.
 * Fresh pages read as zero, so nothing is touched that the guest does not use.
 *
 * With @huge_pages the file comes from a tmpfs of our own mounted with huge=always, so that it
 * is backed by 2 MiB pages where the host has transparent huge pages: one fault per 2 MiB the
 * guest touches instead of per 4 KiB, and KVM maps it with large EPT/NPT entries. That is what
 * QEMU gets from anonymous memory with MADV_HUGEPAGE, and a memfd would not (shmem_enabled is
 * "never" by default). The price is memory: what the guest touches is rounded up to 2 MiB.
 * fsmount() leaves the tmpfs attached to no mount namespace: nobody can see it, and it goes away
 * with the file. Otherwise, or where that is refused (no CAP_SYS_ADMIN, no THP), a plain memfd.
 * Sets *huge_fs for the tmpfs.
 */
static int ram_file(bool huge_pages, bool *huge_fs)
{
	int fs, mnt, fd = -1;

	fs = huge_pages ? fsopen("tmpfs", FSOPEN_CLOEXEC) : -1;
	if (fs >= 0) {
		/* size=0: no limit (a tmpfs takes half of the host's RAM by default; a memfd has
		 * none either). The guest's own size bounds the file. */
		if (fsconfig(fs, FSCONFIG_SET_STRING, "huge", "always", 0) == 0 &&
		    fsconfig(fs, FSCONFIG_SET_STRING, "size", "0", 0) == 0 &&
		    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0) {
			mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
			if (mnt >= 0) {
				fd = openat(mnt, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
				close(mnt);
			}
		}
		close(fs);
	}
	*huge_fs = fd >= 0;
	return fd >= 0 ? fd : memfd_create("runvm-guest-ram", MFD_CLOEXEC);
}

int vmm_new(unsigned vcpus, unsigned mem_mib, bool huge_pages, int console_fd, struct vmm **ret,
	    struct rt_error **err)
{
	uint64_t size = (uint64_t)mem_mib << 20, off;
	struct vmm *vm;
	bool huge_fs;
	int r;

	if (vcpus < 1 || vcpus > vmm_arch_max_vcpus())
		return rt_make_error(err, EINVAL, "%u vCPUs asked for, the VMM runs 1 to %u", vcpus, vmm_arch_max_vcpus());
	if (size < (1 << 20) || size > VMM_MAX_RAM)
		return rt_make_error(err, EINVAL, "%u MiB of guest memory asked for, the VMM supports 1 to %llu MiB",
				     mem_mib, VMM_MAX_RAM >> 20);

	vm = g_new0(struct vmm, 1);
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->exit_fd = vm->wake_fd = -1;
	vm->console_fd = console_fd;
	vm->ram = MAP_FAILED;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->cmdline = g_string_new(NULL);
	vm->n_vcpus = vcpus;
	vm->vcpus = g_new0(struct vcpu, vcpus);
	for (unsigned i = 0; i < vcpus; i++)
		vm->vcpus[i] = (struct vcpu){ .vm = vm, .id = i, .fd = -1, .run = MAP_FAILED };

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

	vm->mem_fd = ram_file(huge_pages, &huge_fs);
	if (vm->mem_fd < 0) {
		r = rt_make_error(err, errno, "memfd_create");
		goto fail;
	}
	if (ftruncate(vm->mem_fd, (off_t)size) < 0) {
		r = rt_make_error(err, errno, "ftruncate guest memory to %u MiB", mem_mib);
		goto fail;
	}
	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
	if (vm->ram == MAP_FAILED) {
		r = rt_make_error(err, errno, "mmap %u MiB of guest memory", mem_mib);
		goto fail;
	}
	vm->ram_size = size;
	/* A memfd gets huge pages too where shmem_enabled is "advise". Not the tmpfs: there the
	 * advice would only add direct compaction to a fault that finds no free huge page (defrag
	 * "madvise", the default), a stall of the guest where a 4 KiB page does. */
	if (huge_pages && !huge_fs)
		madvise(vm->ram, size, MADV_HUGEPAGE);
	vm->n_slots = vmm_arch_ram_layout(size, vm->slots);
	off = 0;
	for (unsigned i = 0; i < vm->n_slots; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = i, .guest_phys_addr = vm->slots[i].gpa, .memory_size = vm->slots[i].size,
			.userspace_addr = (uintptr_t)(vm->ram + off),
		};

		vm->slot_ram[i] = vm->ram + off;
		off += vm->slots[i].size;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			r = rt_make_error(err, errno, "KVM_SET_USER_MEMORY_REGION (%llu MiB at %#llx)",
					  (unsigned long long)(vm->slots[i].size >> 20),
					  (unsigned long long)vm->slots[i].gpa);
			goto fail;
		}
	}
	vm->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_fd < 0 || vm->wake_fd < 0) {
		r = rt_make_error(err, errno, "eventfd");
		goto fail;
	}

	/* The irqchip must exist before the vCPUs (their LAPICs are created with them). */
	r = vmm_arch_init(vm, err);
	if (r < 0)
		goto fail;
	for (unsigned i = 0; i < vcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0) {
			r = rt_make_error(err, errno, "KVM_CREATE_VCPU %u", i);
			goto fail;
		}
		c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (c->run == MAP_FAILED) {
			r = rt_make_error(err, errno, "mmap kvm_run of vCPU %u", i);
			goto fail;
		}
		r = vmm_arch_vcpu_init(vm, i, c->fd, err);
		if (r < 0)
			goto fail;
	}
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
			uint64_t *ret_size, unsigned *ret_irq)
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
	*ret_size = size;
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

void vmm_cmdline_append(struct vmm *vm, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	va_start(ap, fmt);
	g_string_append_vprintf(vm->cmdline, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&vm->lock);
}

/* --- guest memory and interrupts -------------------------------------------------------- */

void *vmm_guest_ptr(struct vmm *vm, uint64_t gpa, uint64_t len)
{
	/* A range is in one slot: nothing the guest owns spans a hole between slots. */
	for (unsigned i = 0; i < vm->n_slots; i++) {
		const struct vmm_ram_slot *s = &vm->slots[i];

		if (gpa >= s->gpa && gpa - s->gpa <= s->size && len <= s->size - (gpa - s->gpa))
			return vm->slot_ram[i] + (gpa - s->gpa);
	}
	return NULL;
}

void vmm_irq_pulse(struct vmm *vm, unsigned irq)
{
	int r = vmm_arch_irq_line(vm, irq, true);

	if (r < 0)
		rt_debug("kvm: raise interrupt line %u: %s, ignoring", irq, strerror(-r));
	vmm_arch_irq_line(vm, irq, false);
}

/* --- the vCPU threads ------------------------------------------------------------------- */

static const struct vmm_region *region_find(const struct vmm_region *regions, unsigned n, uint64_t addr,
					    unsigned len)
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
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vmm_exit_with(vm, 0, "the guest powered off");
			break;
		case KVM_SYSTEM_EVENT_RESET:
			vmm_exit_with(vm, 0, "the guest rebooted");
			break;
		case KVM_SYSTEM_EVENT_CRASH:
			vmm_exit_with(vm, 1, "the guest crashed");
			break;
		default:
			vmm_exit_with(vm, 1, "vCPU %u: unknown system event %u", c->id, run->system_event.type);
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vmm_exit_with(vm, 1, "vCPU %u: KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx)",
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
	static const char *const wanted[] = { "exits", "halt_exits", "irq_exits", "io_exits", "mmio_exits",
					      "pf_taken", "pf_fixed", "irq_injections", "insn_emulation" };
	struct kvm_stats_header h;
	g_autoptr(GString) line = g_string_new(NULL);
	g_autofree uint8_t *descs = NULL;
	size_t dsize;
	int fd;

	if (!rt_log_debug_enabled())
		return;
	g_string_printf(line, "kvm: vCPU %u: %lu port and %lu MMIO exits to the VMM", c->id, c->pio_exits, c->mmio_exits);
	fd = ioctl(c->fd, KVM_GET_STATS_FD, NULL);
	if (fd >= 0 && pread(fd, &h, sizeof(h), 0) == sizeof(h) && h.num_desc < 1024 && h.name_size > 0 && h.name_size < 256) {
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

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vmm *vm = c->vm;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, SIGVCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
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

/* --- the I/O thread --------------------------------------------------------------------- */

static void *io_thread(void *arg)
{
	struct vmm *vm = arg;
	struct vmm_watch w[VMM_MAX_WATCHES];
	struct pollfd p[1 + VMM_MAX_WATCHES];

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

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

static void install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGVCPU_KICK, &sa, NULL);
}

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

	pthread_once(&once, install_kick_handler);
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
		kick_vcpus(vm);
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

/* Under the lock, so that no vCPU leaves its park while its state is read: a vCPU's registers
 * are only consistent while its thread is out of KVM_RUN. */
int vmm_vcpu_save(struct vmm *vm, unsigned id, struct kvm_state_buf *out)
{
	int r;

	if (id >= vm->n_vcpus)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->n_paused < vm->n_live)
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

void vmm_stop(struct vmm *vm)
{
	if (!vm)
		return;
	vmm_exit_with(vm, 0, "stopped by the runtime");
	pthread_mutex_lock(&vm->lock);
	/* Every kick happens under the lock while a vCPU is live (see kick_vcpus). */
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
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		if (vm->vcpus[i].run != MAP_FAILED)
			munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	g_free(vm->vcpus);
	if (vm->ram != MAP_FAILED)
		munmap(vm->ram, vm->ram_size);
	for (int *fd[] = { &vm->mem_fd, &vm->vm_fd, &vm->kvm_fd, &vm->exit_fd, &vm->wake_fd }, i = 0; i < 5; i++)
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

int vmm_vcpu_fd(struct vmm *vm, unsigned id)
{
	return id < vm->n_vcpus ? vm->vcpus[id].fd : -1;
}

unsigned vmm_nr_vcpus(struct vmm *vm)
{
	return vm->n_vcpus;
}

const struct vmm_ram_slot *vmm_ram_slot(struct vmm *vm, unsigned i)
{
	return i < vm->n_slots ? &vm->slots[i] : NULL;
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
