/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the multiport control protocol of virtio-console (kvm/virtio/console.c) as
 * a hostile guest speaks it. The device is brought up with VIRTIO_CONSOLE_F_MULTIPORT and its
 * six queues (byte 0: bits 0-3 the queue size, bit 4: the Linux handshake first: DEVICE_READY,
 * PORT_READY for both ports, PORT_OPEN 1); then each action is a control message (id, event,
 * value in or out of range, with trailing bytes), a control receive buffer, a port receive
 * buffer, or any action of tests/fuzz/fuzz-vm.h (the port socket's host end included).
 *
 * Besides the sanitizers, an oracle: every control message the device hands the driver names
 * port 0 or 1, is one the device sends (PORT_ADD, CONSOLE_PORT, PORT_OPEN, PORT_NAME) and fits
 * a header plus a port name. It holds while the guest has not scribbled over its own rings
 * (raw RAM writes, chains of its own on the control receive queue), after which only the
 * sanitizers judge. `make fuzz` runs it.
 */
#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz-vm.h"

enum { Q_CTRL_RX = 2, Q_CTRL_TX = 3, Q_PORT_RX = 4, QUEUES = 6 };

#define CTRL_BUFS 64
#define CTRL_BUF_LEN (sizeof(struct virtio_console_control) + 255)

struct state {
	struct fuzz_vm fv;
	uint64_t ctrl_gpa;    /* CTRL_BUFS receive buffers */
	uint64_t buf_of[256]; /* head -> its control receive buffer, 0 unknown */
	unsigned next_buf;
	bool dirty; /* the guest changed rings behind the driver's back */
};

static void ctrl_msg(struct state *s, uint32_t id, uint16_t event, uint16_t value, const uint8_t *extra,
		     size_t extra_len)
{
	struct virtio_console_control m = { .id = htole32(id), .event = htole16(event), .value = htole16(value) };
	uint64_t gpa = s->fv.data_gpa;

	memcpy(fake_ram(s->fv.vm, gpa), &m, sizeof(m));
	if (extra_len)
		memcpy(fake_ram(s->fv.vm, gpa + sizeof(m)), extra, extra_len);
	fake_add(&s->fv.d, Q_CTRL_TX, &(struct fake_buf){ gpa, (uint32_t)(sizeof(m) + extra_len), false }, 1);
	fake_kick(&s->fv.d, Q_CTRL_TX);
}

static void ctrl_buffer(struct state *s)
{
	uint64_t gpa = s->ctrl_gpa + (s->next_buf++ % CTRL_BUFS) * CTRL_BUF_LEN;
	uint16_t head = fake_add(&s->fv.d, Q_CTRL_RX, &(struct fake_buf){ gpa, CTRL_BUF_LEN, true }, 1);

	s->buf_of[head] = gpa;
	fake_kick(&s->fv.d, Q_CTRL_RX);
}

static void check_ctrl(struct state *s)
{
	uint32_t head, len;

	while (!s->dirty && fake_used(&s->fv.d, Q_CTRL_RX, &head, &len)) {
		struct virtio_console_control m;
		uint16_t ev;

		if (head >= 256 || !s->buf_of[head])
			continue;
		if (len > CTRL_BUF_LEN || len < sizeof(m)) {
			fprintf(stderr, "fuzz: a control message of %u bytes\n", len);
			abort();
		}
		memcpy(&m, fake_ram(s->fv.vm, s->buf_of[head]), sizeof(m));
		ev = le16toh(m.event);
		if (le32toh(m.id) > 1 ||
		    (ev != VIRTIO_CONSOLE_PORT_ADD && ev != VIRTIO_CONSOLE_CONSOLE_PORT &&
		     ev != VIRTIO_CONSOLE_PORT_OPEN && ev != VIRTIO_CONSOLE_PORT_NAME)) {
			fprintf(stderr, "fuzz: control message %u for port %u\n", ev, le32toh(m.id));
			abort();
		}
		s->buf_of[head] = 0;
	}
}

static void step(struct state *s, struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in), extra[64];
	uint64_t off;
	size_t n;
	uint32_t id;
	uint16_t event, value;

	switch (op % 6) {
	case 0: /* a control message: mostly ports 0-2, events 0-9, values 0-1 */
		id = op & 0x80 ? fuzz_u32(in) : fuzz_u8(in) % 3;
		event = op & 0x40 ? fuzz_u16(in) : fuzz_u8(in) % 10;
		value = op & 0x20 ? fuzz_u16(in) : fuzz_u8(in) % 2;
		n = op & 0x10 ? fuzz_u8(in) % sizeof(extra) : 0;
		for (size_t i = 0; i < n; i++)
			extra[i] = fuzz_u8(in);
		ctrl_msg(s, id, event, value, extra, n);
		break;
	case 1: ctrl_buffer(s); break;
	case 2: /* a port receive buffer */
		off = fuzz_u16(in) % (FUZZ_DATA / 2);
		fake_add(&s->fv.d, Q_PORT_RX,
			 &(struct fake_buf){ s->fv.data_gpa + FUZZ_DATA / 2 + off, 1 + fuzz_u16(in) % 4096, true }, 1);
		fake_kick(&s->fv.d, Q_PORT_RX);
		break;
	default:
		/* MMIO writes (a reset, queues moved), raw RAM writes and chains of the guest's own:
		 * the oracle's view of the rings no
		 * longer holds. Port receive buffers above half the data area may overlap them. */
		if (fuzz_more(in) && ((1u << in->p[in->off] % 9 & (1u << 0 | 1u << 2 | 1u << 4 | 1u << 5))))
			s->dirty = true;
		fuzz_vm_step(&s->fv, in);
		break;
	}
	check_ctrl(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct fuzz_in in = { data, size, 0 };
	uint8_t b0 = fuzz_u8(&in);

	memset(&s, 0, sizeof(s));
	if (fuzz_vm_new(&s.fv, FUZZ_CONSOLE, 0) < 0)
		abort();
	if (!fuzz_vm_start(&s.fv, 1ULL << VIRTIO_CONSOLE_F_MULTIPORT | 1ULL << VIRTIO_F_VERSION_1, QUEUES,
			   (uint16_t)(1u << (b0 & 15) % 9)))
		abort(); /* the driver's own handshake must work */
	s.ctrl_gpa = fake_alloc(s.fv.vm, CTRL_BUFS * CTRL_BUF_LEN, 8);
	if (b0 & 0x10) {
		for (int i = 0; i < 4; i++)
			ctrl_buffer(&s);
		ctrl_msg(&s, 0, VIRTIO_CONSOLE_DEVICE_READY, 1, NULL, 0);
		ctrl_msg(&s, 0, VIRTIO_CONSOLE_PORT_READY, 1, NULL, 0);
		ctrl_msg(&s, 1, VIRTIO_CONSOLE_PORT_READY, 1, NULL, 0);
		ctrl_msg(&s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
		check_ctrl(&s);
	}
	while (fuzz_more(&in))
		step(&s, &in);
	fuzz_vm_free(&s.fv);
	return 0;
}
