/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMM core's own state, shared by its three files (kvm/vmm.c: the VM and its lifecycle,
 * kvm/memory.c: guest RAM, kvm/vcpu.c: the vCPU threads) and by nothing else: the devices see
 * kvm/device.h, the architecture kvm/arch.h, the owner kvm/vmm.h.
 */
#ifndef RUNVM_KVM_VMM_INTERNAL_H
#define RUNVM_KVM_VMM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "kvm/arch.h"
#include "kvm/device.h"

struct kvm_run;
struct kvm_state_buf;

/* 1 TiB is what the configuration allows (memory_mib). */
#define VMM_MAX_RAM (1ULL << 40)
/* MMIO regions: the virtio-mmio windows and a few more. */
#define VMM_MAX_MMIO 32
#define VMM_MAX_PIO 16
#define VMM_MAX_WATCHES 64
#define VMM_MAX_ON_FREE 64
#define VMM_MAX_STATES 32
#define VMM_THREAD_STACK (256 << 10)

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
	/* runvm's seccomp deny list, loaded by each VMM thread for itself at its start (borrowed:
	 * the backend keeps it for the VM's life), or NULL. */
	const uint8_t *thread_bpf;
	size_t thread_bpf_len;
	struct {
		void (*fn)(void *opaque);
		void *opaque;
	} on_free[VMM_MAX_ON_FREE];
	unsigned n_on_free;
	struct {
		int (*save)(void *opaque, struct kvm_state_buf *out);
		int (*load)(void *opaque, const void *buf, size_t len);
		void *opaque;
	} states[VMM_MAX_STATES];
	unsigned n_states;
	bool states_lost; /* a device's could not be registered: vmm_save refuses */
};

/* Lock held: no vCPU is in KVM_RUN or can get there (paused, not started, or ended), so that
 * their state and the platform's can be read. */
static inline bool vm_stopped(const struct vmm *vm)
{
	return vm->n_paused == vm->n_live;
}

static inline int vm_flags(struct vmm *vm)
{
	return __atomic_load_n(&vm->flags, __ATOMIC_SEQ_CST);
}

#endif
