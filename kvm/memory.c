/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM (kvm/memory.h): one file, mapped once, cut into the KVM memory slots the
 * architecture's layout gives (kvm/arch.h), and the bounds check every device access goes
 * through.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "kvm/memory.h"
#include "kvm/vmm-internal.h"

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

void vmm_memory_preinit(struct vmm *vm)
{
	vm->mem_fd = -1;
	vm->ram = MAP_FAILED;
}

/* A template's memory, copy-on-write (vmm_new()): the file is opened read-only, so nothing this
 * VM does reaches it, and its pages stay in the page cache for the next clone. */
static int map_template(struct vmm *vm, uint64_t size, int ram_fd, struct rt_error **err)
{
	struct stat st;

	if (fstat(ram_fd, &st) < 0)
		return rt_make_error(err, errno, "the template's memory");
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return rt_make_error(err, EINVAL, "the template's memory is not a file of %llu MiB",
				     (unsigned long long)(size >> 20));
	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, ram_fd, 0);
	if (vm->ram == MAP_FAILED)
		return rt_make_error(err, errno, "map the template's memory");
	return 0;
}

/* A new RAM file of @size bytes, mapped shared. */
static int map_new(struct vmm *vm, uint64_t size, bool huge_pages, struct rt_error **err)
{
	bool huge_fs;

	vm->mem_fd = ram_file(huge_pages, &huge_fs);
	if (vm->mem_fd < 0)
		return rt_make_error(err, errno, "memfd_create");
	if (ftruncate(vm->mem_fd, (off_t)size) < 0)
		return rt_make_error(err, errno, "ftruncate guest memory to %llu MiB",
				     (unsigned long long)(size >> 20));
	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
	if (vm->ram == MAP_FAILED)
		return rt_make_error(err, errno, "mmap %llu MiB of guest memory", (unsigned long long)(size >> 20));
	/* A memfd gets huge pages too where shmem_enabled is "advise". Not the tmpfs: there the
	 * advice would only add direct compaction to a fault that finds no free huge page (defrag
	 * "madvise", the default), a stall of the guest where a 4 KiB page does. */
	if (huge_pages && !huge_fs)
		madvise(vm->ram, size, MADV_HUGEPAGE);
	return 0;
}

int vmm_memory_init(struct vmm *vm, uint64_t size, bool huge_pages, int ram_fd, struct rt_error **err)
{
	uint64_t off;

	if ((ram_fd >= 0 ? map_template(vm, size, ram_fd, err) : map_new(vm, size, huge_pages, err)) < 0)
		return -1;
	vm->ram_size = size;
	vm->n_slots = vmm_arch_ram_layout(size, vm->slots);
	off = 0;
	for (unsigned i = 0; i < vm->n_slots; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = vm->slots[i].gpa,
			.memory_size = vm->slots[i].size,
			.userspace_addr = (uintptr_t)(vm->ram + off),
		};

		vm->slot_ram[i] = vm->ram + off;
		off += vm->slots[i].size;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return rt_make_error(err, errno, "KVM_SET_USER_MEMORY_REGION (%llu MiB at %#llx)",
					     (unsigned long long)(vm->slots[i].size >> 20),
					     (unsigned long long)vm->slots[i].gpa);
	}
	return 0;
}

void vmm_memory_free(struct vmm *vm)
{
	if (vm->ram != MAP_FAILED)
		munmap(vm->ram, vm->ram_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
}

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

const struct vmm_ram_slot *vmm_ram_slot(struct vmm *vm, unsigned i)
{
	return i < vm->n_slots ? &vm->slots[i] : NULL;
}
