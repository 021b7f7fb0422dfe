/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runvm's own VMM on /dev/kvm, as its owner drives it: create, add devices, load a kernel,
 * start, pause, resume, wait for the end, free. The pieces, kvmtool's shape:
 *   kvm/vmm.c      the arch-neutral core: the VM, guest RAM, the vCPU threads and their run
 *                  loop, the I/O thread (this header, kvm/device.h for the devices);
 *   kvm/arch.h     the architecture hooks (layout, interrupts, boot, vCPU state), filled by
 *                  kvm/x86/ or the stub;
 *   kvm/virtio/    the virtio-mmio transport, the virtqueue, the devices and the 9P server,
 *                  which see only kvm/device.h;
 *   kvm/kvm-backend.c  the driver interface (hypervisor-backends/backend.h) over this header.
 *
 * Errors: the entry points the backend calls while it sets a VM up or changes its run state
 * (vmm_new, vmm_load_kernel, vmm_start, vmm_pause, vmm_resume, and the devices' *_add in
 * kvm/virtio/virtio.h) take `struct rt_error **err`: they are the boundary with the runtime,
 * where the crun model holds, and only they have something to tell a user (which file, which
 * ioctl, which limit). Everything else in kvm/ returns 0 or -errno (vmm_vcpu_save/load
 * included: templates will call them from code that wraps the errno itself).
 */
#ifndef RUNVM_KVM_VMM_H
#define RUNVM_KVM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_state_buf;
struct rt_error;
struct vmm;

/* Open /dev/kvm and create a VM with @vcpus vCPUs and @mem_mib MiB of guest RAM (one file,
 * placed by the architecture's layout), then the architecture's platform (x86: irqchip, PIT,
 * UART on @console_fd, i8042, CMOS). The RAM is a new file, or with @ram_fd >= 0 a template's
 * memory (vmm_save), mapped copy-on-write: the VM's writes stay its own, and the pages it
 * never writes are the page cache's, shared by every clone. @ram_fd and @console_fd (or -1)
 * stay the caller's; @console_fd must outlive the VM. Nothing runs until vmm_start(). */
int vmm_new(unsigned vcpus, unsigned mem_mib, bool huge_pages, int ram_fd, int console_fd, struct vmm **ret,
	    struct rt_error **err);

/* Append to the kernel command line (devices announce themselves there on x86). */
void vmm_cmdline_append(struct vmm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Load @kernel (x86: a vmlinux ELF with a PVH entry) and @initrd (NULL for none), pass the
 * command line built with vmm_cmdline_append() and set the boot vCPU's entry state. Call after
 * every device is added: devices append themselves to the command line. */
int vmm_load_kernel(struct vmm *vm, const char *kernel, const char *initrd, struct rt_error **err);

/* Start the vCPU threads and the I/O thread. */
int vmm_start(struct vmm *vm, struct rt_error **err);

/* Before vmm_start(): the seccomp filter (BPF, borrowed until vmm_free) that the vCPU and I/O
 * threads load for themselves as they start, on top of whatever the process already has. */
void vmm_set_thread_filter(struct vmm *vm, const uint8_t *bpf, size_t len);

/* At the start of a VMM thread: no_new_privs and the filter for the calling thread only.
 * Returns 0 or -errno. */
int vmm_confine_thread(struct vmm *vm);

/* Stop every vCPU at a safe point (out of KVM_RUN, no exit being handled), and let them go on.
 * vmm_pause returns once all of them have stopped; it fails when the VM has ended. */
int vmm_pause(struct vmm *vm, struct rt_error **err);
int vmm_resume(struct vmm *vm, struct rt_error **err);

/* vCPU @id's state appended to @out (a record of kvm/state.h), with the vCPUs paused or not
 * started; and loaded into vCPU @id of a VM that has not started (after vmm_load_kernel, which
 * sets the boot vCPU's entry state this replaces). 0 or -errno (-EBUSY: vCPUs running,
 * -EINVAL: no such vCPU, -EBADMSG: a malformed record). */
int vmm_vcpu_save(struct vmm *vm, unsigned id, struct kvm_state_buf *out);
int vmm_vcpu_load(struct vmm *vm, unsigned id, const void *buf, size_t len);

/* The same for the VM's platform state outside the vCPUs (x86: the in-kernel interrupt
 * controllers and the PIT), on the same conditions. */
int vmm_platform_save(struct vmm *vm, struct kvm_state_buf *out);
int vmm_platform_load(struct vmm *vm, const void *buf, size_t len);

/* VM templates. vmm_save ends a started VM (vmm_stop) and writes its state to @state_fd (the
 * platform, each vCPU and each device of vmm_state_register(), as records of kvm/state.h) and
 * its RAM to @memory_fd (sized to the RAM; pages of zeros are holes). vmm_restore loads such a
 * state, in place of vmm_load_kernel, into a VM made over that memory (vmm_new's @ram_fd) with
 * the same vCPUs and the same devices added in the same order; vmm_start then runs it on from
 * where it was saved. The state is hostile input (a template's file): a malformed one is
 * refused. 0 or -errno (-EBADMSG: malformed or of another VM, -EBUSY: started, -ENOSPC: a
 * device's state was never registered). */
int vmm_save(struct vmm *vm, int state_fd, int memory_fd);
int vmm_restore(struct vmm *vm, const void *buf, size_t len);

/* Readable (POLLIN) once the VM has ended, and from then on. Owned by the VM. */
int vmm_exit_fd(struct vmm *vm);
/* Whether the VM has ended; if so its status (0: the guest rebooted or powered off, > 0: a
 * failure) and reason. *ret_reason stays valid for the VM's life. */
bool vmm_ended(struct vmm *vm, int *ret_status, const char **ret_reason);

/* End the VM (if it has not ended) and wait until no vCPU or I/O thread runs any more. */
void vmm_stop(struct vmm *vm);
/* vmm_stop, run the vmm_on_free() callbacks (last registered first), release everything.
 * NULL-safe; returns NULL. */
struct vmm *vmm_free(struct vmm *vm);

#endif
