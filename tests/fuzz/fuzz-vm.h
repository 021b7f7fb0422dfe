/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the virtio fuzz targets share: one device of the VMM on the test double of the core
 * (tests/unit/fake-vmm.c), its host side set up once per process (a disk file and a 9p export
 * under /dev/shm, a tap in a private network namespace, a fresh socketpair per input for the
 * console), and an interpreter of guest actions read from the input: MMIO accesses anywhere
 * in the window, writes into guest RAM (rings included), descriptor chains added and kicked,
 * rounds of the I/O thread, and what the host end of a console does. Every action is bounded
 * by the input, so an input reproduces alone.
 */
#ifndef RUNVM_TEST_FUZZ_VM_H
#define RUNVM_TEST_FUZZ_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/unit/fake-vmm.h"

enum fuzz_dev { FUZZ_RNG, FUZZ_BLK, FUZZ_CONSOLE, FUZZ_NET, FUZZ_9P, _FUZZ_DEV_MAX };

/* The input, consumed front to back; reads past the end yield zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t len, off;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
bool fuzz_more(const struct fuzz_in *in);

struct fuzz_vm {
	struct vmm *vm;
	enum fuzz_dev kind;
	uint8_t flags;
	struct fake_dev d; /* valid once started */
	bool tried, started;
	uint64_t data_gpa; /* FUZZ_DATA bytes of guest RAM for the chains' buffers */
	int host_fd;       /* the console's host end, or -1 */
	int console_fd;    /* the device's end */
};

#define FUZZ_RAM (256 * 1024)
#define FUZZ_DATA (64 * 1024)

/* A fresh VM with device @kind in slot 0 (@flags: bit 0 a read-only blk or 9p). 0, or -1 when
 * the device cannot exist here (no tap for net); *fv is then empty. */
int fuzz_vm_new(struct fuzz_vm *fv, enum fuzz_dev kind, uint8_t flags);
void fuzz_vm_free(struct fuzz_vm *fv);
/* The driver's handshake, as Linux makes it: @want & offered features, @nq queues of @qsize. */
bool fuzz_vm_start(struct fuzz_vm *fv, uint64_t want, unsigned nq, uint16_t qsize);
/* A chain of @n buffers at offsets into the data area, device-readable ones filled from the
 * input, put on queue @q and kicked. Needs a started device. */
void fuzz_vm_chain(struct fuzz_vm *fv, struct fuzz_in *in, unsigned q);
/* The device's state saved, and loaded into a fresh device of the same kind over a copy of
 * guest RAM: whatever state the guest drove the device into, a save that succeeds must load
 * (aborts when it does not). */
void fuzz_vm_save_load(struct fuzz_vm *fv);
/* One action read from the input. */
void fuzz_vm_step(struct fuzz_vm *fv, struct fuzz_in *in);

#endif
