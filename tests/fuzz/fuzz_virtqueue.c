/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the split virtqueue parser (kvm/virtio/virtqueue.c) over guest memory the input
 * chooses. The first 32 bytes pick the queue size, the ring addresses, whether indirect
 * descriptors were negotiated and how much each push claims to have written; the rest is guest
 * RAM, copied into a buffer of exactly that size so ASan sees any access past it. Chains are
 * popped and pushed (the used ring may overlap the others, so pushes rewrite what later pops
 * read) until the ring is empty or refused. Every popped iovec must lie inside RAM and add up
 * to the chain's lengths. `make fuzz` runs it.
 */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/device.h"
#include "kvm/virtio/virtqueue.h"

struct vmm {
	uint8_t *ram;
	uint64_t size;
};

/* The one function of the VMM core the virtqueue uses, with the core's bounds check. */
void *vmm_guest_ptr(struct vmm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->size || len > vm->size - gpa)
		return NULL;
	return vm->ram + gpa;
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void check_iov(const struct vmm *vm, const struct iovec *iov, unsigned n, size_t total)
{
	size_t sum = 0;

	if (n > VIRTQ_CHAIN_MAX)
		abort();
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *b = iov[i].iov_base;

		if (iov[i].iov_len == 0 || b < vm->ram || b + iov[i].iov_len > vm->ram + vm->size)
			abort();
		sum += iov[i].iov_len;
	}
	if (sum != total)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	struct vmm vm;
	struct virtq q;
	uint64_t span;
	uint8_t sink = 0;

	if (size < 32)
		return 0;
	vm.size = size - 32;
	vm.ram = malloc(vm.size ? vm.size : 1);
	if (!vm.ram)
		return 0;
	memcpy(vm.ram, data + 32, vm.size);

	virtq_init(&q, &vm, 256);
	/* Mostly a well-formed set-up (a power-of-two size, aligned rings inside RAM) so the
	 * fuzzer spends its time on the chains; a flag bit each lets the raw values through. */
	q.num = data[1] & 0x80 ? (uint16_t)(data[0] | data[1] << 8) : 1u << (data[0] % 9);
	span = vm.size + 64;
	q.desc_gpa = data[2] & 0x80 ? le64_at(data + 8) : (le64_at(data + 8) % span) & ~15ULL;
	q.avail_gpa = data[2] & 0x40 ? le64_at(data + 16) : (le64_at(data + 16) % span) & ~1ULL;
	q.used_gpa = data[2] & 0x20 ? le64_at(data + 24) : (le64_at(data + 24) % span) & ~3ULL;
	if (virtq_enable(&q, data[2] & 1) == 0) {
		for (unsigned i = 0; i < 2u * q.num + 4; i++) {
			int r = virtq_pop(&q, &c);

			if (r <= 0)
				break;
			check_iov(&vm, c.out, c.n_out, c.out_len);
			check_iov(&vm, c.in, c.n_in, c.in_len);
			/* Touch every byte as a device would: read the out part, write the in part. */
			for (unsigned k = 0; k < c.n_out; k++)
				for (size_t j = 0; j < c.out[k].iov_len; j++)
					sink ^= ((uint8_t *)c.out[k].iov_base)[j];
			for (unsigned k = 0; k < c.n_in; k++)
				memset(c.in[k].iov_base, sink, c.in[k].iov_len);
			if (data[3] & 1 && i == 0) {
				virtq_unpop(&q);
				continue;
			}
			virtq_push(&q, &c,
				   (uint32_t)(data[4] | data[5] << 8 | data[6] << 16 | (uint32_t)data[7] << 24));
			virtq_take_signal(&q);
		}
	}
	free(vm.ram);
	return 0;
}
