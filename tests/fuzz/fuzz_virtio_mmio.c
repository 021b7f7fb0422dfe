/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the virtio-mmio register state machine (kvm/virtio/mmio.c) with each device
 * behind it, driven by a hostile guest on the test double of the VMM core. Byte 0 picks the
 * device (rng, blk, console, net on a tap in a private network namespace, skipped where there
 * is none, 9p on a scratch export) and its flags (bit 7: read-only blk or 9p); the rest is a
 * sequence of guest actions (tests/fuzz/fuzz-vm.h): register and config-space accesses of any
 * width anywhere in the window, the Linux handshake, descriptor chains kicked on any queue,
 * raw writes into guest RAM and rings, I/O-thread rounds, the console's host end, and a
 * save/load round trip that must succeed whenever the save does. Besides the sanitizers:
 * nothing may abort on guest input. `make fuzz` runs it.
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz-vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size, 0 };
	struct fuzz_vm fv;
	uint8_t b0 = fuzz_u8(&in);

	if (size < 1 || fuzz_vm_new(&fv, b0 % _FUZZ_DEV_MAX, b0 >> 7) < 0)
		return 0;
	while (fuzz_more(&in))
		fuzz_vm_step(&fv, &in);
	fuzz_vm_free(&fv);
	return 0;
}
