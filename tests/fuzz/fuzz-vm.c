/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_mmio.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "kvm/arch.h"
#include "kvm/state.h"
#include "kvm/virtio/virtio.h"
#include "tests/fuzz/fuzz-scratch.h"
#include "tests/fuzz/fuzz-vm.h"

#define DISK_SIZE (64 * 1024)

static char disk[160], export[160];
static int tap = -2; /* -2: not tried yet, -1: none here */
static uint64_t window;

uint8_t fuzz_u8(struct fuzz_in *in)
{
	return in->off < in->len ? in->p[in->off++] : 0;
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)(fuzz_u8(in) | fuzz_u8(in) << 8);
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
	return fuzz_u16(in) | (uint32_t)fuzz_u16(in) << 16;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_u32(in) | (uint64_t)fuzz_u32(in) << 32;
}

bool fuzz_more(const struct fuzz_in *in)
{
	return in->off < in->len;
}

static void reset_export(void)
{
	char p[128];
	int fd;

	fuzz_remove_tree(export);
	mkdir(export, 0755);
	snprintf(p, sizeof(p), "%s/f", export);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "0123456789", 10) != 10)
		abort();
	close(fd);
}

static void reset_disk(void)
{
	int fd = open(disk, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, 0) < 0 || ftruncate(fd, DISK_SIZE) < 0)
		abort();
	close(fd);
}

/* The host side every input starts from: a zeroed disk, an export holding one file. Only what
 * device @kind uses is reset (each costs system calls); both are made the first time. */
static void scratch_reset(enum fuzz_dev kind)
{
	if (!disk[0]) {
		uint64_t base;
		unsigned irq;

		snprintf(disk, sizeof(disk), "%s/disk", fuzz_scratch_dir("vm"));
		snprintf(export, sizeof(export), "%s/export", fuzz_scratch_dir("vm"));
		if (vmm_arch_virtio_mmio_slot(0, &base, &window, &irq) < 0)
			abort();
		reset_export();
		reset_disk();
	} else if (kind == FUZZ_9P) {
		reset_export();
	} else if (kind == FUZZ_BLK) {
		reset_disk();
	}
}

/* One tap for the process's life, in a network namespace of its own so that nothing the
 * guest sends reaches a real network; -1 where there is none (not root, no /dev/net/tun). */
static int tap_get(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int s;

	if (tap != -2)
		return tap;
	tap = -1;
	if (unshare(CLONE_NEWNET) < 0)
		return tap;
	tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "fuzz0");
	if (tap >= 0 && ioctl(tap, TUNSETIFF, &ifr) < 0) {
		close(tap);
		tap = -1;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ifr.ifr_flags = IFF_UP | IFF_NOARP;
	if (s >= 0 && tap >= 0)
		ioctl(s, SIOCSIFFLAGS, &ifr);
	if (s >= 0)
		close(s);
	return tap;
}

/* @reset: the host side back to where every input starts (not for a second VM beside one
 * that uses it). */
static int vm_new(struct fuzz_vm *fv, enum fuzz_dev kind, uint8_t flags, bool reset)
{
	struct rt_error *err = NULL;
	int sv[2] = { -1, -1 }, r = -1;

	memset(fv, 0, sizeof(*fv));
	fv->host_fd = -1;
	fv->console_fd = -1;
	if (reset || !disk[0])
		scratch_reset(kind);
	fv->vm = fake_vmm_new(FUZZ_RAM);
	fv->kind = kind;
	fv->flags = flags;
	fv->data_gpa = fake_alloc(fv->vm, FUZZ_DATA, 16);
	switch (kind) {
	case FUZZ_RNG: r = virtio_rng_add(fv->vm, &err); break;
	case FUZZ_BLK: r = virtio_blk_add(fv->vm, disk, flags & 1, &err); break;
	case FUZZ_CONSOLE:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
			abort();
		fv->console_fd = sv[0];
		fv->host_fd = sv[1];
		r = virtio_console_add(fv->vm, -1, "io.runvm.agent", sv[0], &err);
		break;
	case FUZZ_NET: r = tap_get() < 0 ? -1 : virtio_net_add(fv->vm, tap, &err); break;
	case FUZZ_9P: r = virtio_9p_add(fv->vm, "fuzz", export, flags & 1, &err); break;
	default: break;
	}
	/* Only a missing tap may stop a device from existing: anything else is a bug here. */
	if (r < 0 && !(kind == FUZZ_NET && tap < 0)) {
		fprintf(stderr, "fuzz: device %d not added: %s\n", kind, err ? err->msg : "?");
		abort();
	}
	rt_error_free(&err);
	if (r < 0)
		fuzz_vm_free(fv);
	return r < 0 ? -1 : 0;
}

int fuzz_vm_new(struct fuzz_vm *fv, enum fuzz_dev kind, uint8_t flags)
{
	return vm_new(fv, kind, flags, true);
}

void fuzz_vm_free(struct fuzz_vm *fv)
{
	/* The device goes first: the fds it uses stay open until it is freed. */
	fake_vmm_free(fv->vm);
	fv->vm = NULL;
	if (fv->host_fd >= 0)
		close(fv->host_fd);
	if (fv->console_fd >= 0)
		close(fv->console_fd);
	fv->host_fd = fv->console_fd = -1;
}

bool fuzz_vm_start(struct fuzz_vm *fv, uint64_t want, unsigned nq, uint16_t qsize)
{
	const char *why;

	/* Once per VM: each try takes guest RAM for its rings. */
	if (fv->tried)
		return fv->started;
	fv->tried = true;
	fv->started = fake_dev_start(&fv->d, fv->vm, 0, want, nq, qsize, &why) == 0;
	return fv->started;
}

void fuzz_vm_chain(struct fuzz_vm *fv, struct fuzz_in *in, unsigned q)
{
	struct fake_buf b[4];
	unsigned n = 1 + fuzz_u8(in) % 4;

	for (unsigned i = 0; i < n; i++) {
		uint8_t how = fuzz_u8(in);
		uint32_t off = fuzz_u16(in) % FUZZ_DATA, len = fuzz_u16(in);

		/* Mostly buffers inside the data area; bit 7 lets any length through. */
		if (!(how & 0x80) && len > FUZZ_DATA - off)
			len = FUZZ_DATA - off;
		b[i] = (struct fake_buf){ .gpa = fv->data_gpa + off, .len = len, .write = how & 1 };
		if (!b[i].write) {
			size_t fill = len < FUZZ_DATA - off ? len : FUZZ_DATA - off;

			if (fill > in->len - in->off)
				fill = in->len - in->off;
			memcpy(fake_ram(fv->vm, b[i].gpa), in->p + in->off, fill);
			in->off += fill;
		}
	}
	fake_add(&fv->d, q, b, n);
	fake_kick(&fv->d, q);
}

/* The registers a driver writes, so that the fuzzer need not find their offsets. */
static const uint16_t regs[] = {
	VIRTIO_MMIO_DEVICE_FEATURES_SEL,
	VIRTIO_MMIO_DRIVER_FEATURES,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL,
	VIRTIO_MMIO_QUEUE_SEL,
	VIRTIO_MMIO_QUEUE_NUM,
	VIRTIO_MMIO_QUEUE_READY,
	VIRTIO_MMIO_QUEUE_NOTIFY,
	VIRTIO_MMIO_INTERRUPT_ACK,
	VIRTIO_MMIO_STATUS,
	VIRTIO_MMIO_QUEUE_DESC_LOW,
	VIRTIO_MMIO_QUEUE_DESC_HIGH,
	VIRTIO_MMIO_QUEUE_AVAIL_LOW,
	VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
	VIRTIO_MMIO_QUEUE_USED_LOW,
	VIRTIO_MMIO_QUEUE_USED_HIGH,
	VIRTIO_MMIO_SHM_SEL,
};

void fuzz_vm_save_load(struct fuzz_vm *fv)
{
	struct kvm_state_buf rec = { 0 };
	struct fuzz_vm copy;
	int r;

	r = virtio_dev_save(fake_mmio_opaque(fv->vm, 0), &rec);
	if (r == 0 && kvm_state_buf_error(&rec) == 0 && vm_new(&copy, fv->kind, fv->flags, false) == 0) {
		fake_ram_copy(copy.vm, fv->vm);
		r = virtio_dev_load(fake_mmio_opaque(copy.vm, 0), rec.data, rec.len);
		if (r < 0) {
			fprintf(stderr, "fuzz: a saved device (%zu bytes) does not load: %s\n", rec.len, strerror(-r));
			abort();
		}
		fuzz_vm_free(&copy);
	}
	kvm_state_buf_release(&rec);
}

void fuzz_vm_step(struct fuzz_vm *fv, struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in), buf[256];
	unsigned len = 1u << (op >> 4 & 3);
	uint64_t off, val;

	switch (op % 9) {
	case 0: /* any access in the window; bit 7 off: the registers and config space */
	case 1:
		off = fuzz_u16(in) % (op & 0x80 ? window : 0x200);
		off = off > window - len ? window - len : off;
		if (op % 9 == 0) {
			val = htole64(fuzz_u64(in));
			fake_write(fv->vm, 0, off, &val, len);
		} else {
			fake_read(fv->vm, 0, off, &val, len);
		}
		break;
	case 2: /* a driver register, 32 bits */
		off = regs[fuzz_u8(in) % (sizeof(regs) / sizeof(regs[0]))];
		fake_write32(fv->vm, 0, off, fuzz_u32(in));
		break;
	case 3: /* the handshake: all features or the input's, 1-8 queues of 1-256 */
		val = op & 0x80 ? ~0ULL : fuzz_u64(in);
		off = fuzz_u8(in);
		fuzz_vm_start(fv, val, 1 + off % 8, (uint16_t)(1u << (off >> 3) % 9));
		break;
	case 4:
		if (fv->started)
			fuzz_vm_chain(fv, in, fuzz_u8(in) % fv->d.nq);
		break;
	case 5: /* raw bytes into guest RAM: rings, descriptors, buffers */
		off = fuzz_u32(in) % FUZZ_RAM;
		len = fuzz_u8(in) % 33;
		len = len > FUZZ_RAM - off ? FUZZ_RAM - off : len;
		for (unsigned i = 0; i < len; i++)
			*(uint8_t *)fake_ram(fv->vm, off + i) = fuzz_u8(in);
		break;
	case 6: fake_io_poll(fv->vm, 0); break;
	case 7: /* the console's host end: write, drain, or hang up */
		if (fv->host_fd < 0)
			break;
		if ((op >> 4) % 3 == 0) {
			len = fuzz_u8(in);
			for (unsigned i = 0; i < len; i++)
				buf[i] = fuzz_u8(in);
			if (write(fv->host_fd, buf, len) < 0)
				(void)0; /* full: the device is not reading, as it may not */
		} else if ((op >> 4) % 3 == 1) {
			while (read(fv->host_fd, buf, sizeof(buf)) > 0)
				;
		} else {
			close(fv->host_fd);
			fv->host_fd = -1;
		}
		break;
	case 8: fuzz_vm_save_load(fv); break;
	}
}
