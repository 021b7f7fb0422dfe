/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the saved-state loaders of the kvm backend's devices (virtio_dev_load:
 * the transport's record in kvm/virtio/mmio.c, the device's own inside it, read with
 * kvm/state.c), which take a template file anyone with access to it may have changed. Byte 0
 * picks the device (as fuzz_virtio_mmio does), bytes 1-2 the record's length (little-endian),
 * then the record, loaded into a fresh device over zeroed guest RAM; what follows is guest
 * actions (tests/fuzz/fuzz-vm.h) on the device as loaded. Besides the sanitizers: a load that
 * fails leaves the device as it was (status 0), and a loaded device saves again into a record
 * that loads. `make fuzz` runs it, seeded from records of running devices
 * (tests/fuzz/seeds/fuzz_vmm_state/).
 */
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvm/virtio/virtio.h"
#include "tests/fuzz/fuzz-vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size, 0 };
	struct fuzz_vm fv;
	uint8_t b0 = fuzz_u8(&in);
	size_t len = fuzz_u16(&in);

	if (size < 3 || fuzz_vm_new(&fv, b0 % _FUZZ_DEV_MAX, b0 >> 7) < 0)
		return 0;
	if (len > size - in.off)
		len = size - in.off;
	if (virtio_dev_load(fake_mmio_opaque(fv.vm, 0), data + in.off, len) < 0) {
		if (fake_read32(fv.vm, 0, VIRTIO_MMIO_STATUS) != 0) {
			fprintf(stderr, "fuzz: a refused record changed the device\n");
			abort();
		}
	} else {
		fuzz_vm_save_load(&fv);
	}
	in.off += len;
	/* The driver's view of the queues is unknown after a load: its handshake is refused. */
	fv.tried = true;
	while (fuzz_more(&in))
		fuzz_vm_step(&fv, &in);
	fuzz_vm_free(&fv);
	return 0;
}
