/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio devices' queue handling, driven as Linux drives them, over a fake VMM
 * (tests/unit/fake-vmm.c) and without KVM: rng fills buffers; blk reads, writes, flushes and
 * identifies a temp file and refuses out-of-range requests; the console does the multiport
 * handshake and relays port 1 both ways with a socketpair, with backpressure and hangup;
 * net moves frames between the guest and a real tap in a private network namespace (skipped
 * without the privilege); 9p carries a Tversion round trip. Hostile chains fail the device.
 */
#include <net/if.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_9p.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "kvm/state.h"
#include "kvm/virtio/virtio.h"
#include "tests/unit/fake-vmm.h"
#include "tests/unit/tap.h"

#define RAM (8u << 20)
#define ALL_FEATURES (~0ULL)

static struct vmm *vm;

static void fresh(void)
{
	fake_vmm_free(vm);
	vm = fake_vmm_new(RAM);
}

static void *ram(uint64_t gpa)
{
	return fake_ram(vm, gpa);
}

/* --- rng ------------------------------------------------------------------------------------ */

static void test_rng(void)
{
	struct rt_error *err = NULL;
	struct fake_dev d;
	uint64_t a, b;
	uint32_t id, len;
	static const uint8_t zero[64];

	fresh();
	ok(virtio_rng_add(vm, &err) == 0, "rng: added");
	ok(fake_read32(vm, 0, VIRTIO_MMIO_DEVICE_ID) == 4, "rng: device id 4");
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 1, 64), "rng: started");
	a = fake_alloc(vm, 64, 8);
	b = fake_alloc(vm, 64, 8);
	fake_add(&d, 0, (struct fake_buf[]){ { a, 64, true } }, 1);
	fake_add(&d, 0, (struct fake_buf[]){ { b, 32, true }, { b + 32, 32, true } }, 2);
	fake_kick(&d, 0);
	ok(fake_used(&d, 0, &id, &len) && len == 64 && fake_used(&d, 0, &id, &len) && len == 64,
	   "rng: both buffers filled, 64 bytes each");
	ok(memcmp(ram(a), zero, 64) && memcmp(ram(b), zero, 64) && memcmp(ram(a), ram(b), 64),
	   "rng: with random bytes");
	fake_add(&d, 0, (struct fake_buf[]){ { RAM - 8, 64, true } }, 1);
	fake_kick(&d, 0);
	ok(fake_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET, "rng: buffer past RAM fails the device");
	ok(!fake_used(&d, 0, &id, &len), "rng: and is not used");
}

/* --- blk ------------------------------------------------------------------------------------ */

struct blk_req {
	uint64_t hdr, data, status;
};

/* Queue a request; @data_len bytes of data at req->data (device-writable for reads). */
static void blk_submit(struct fake_dev *d, struct blk_req *r, uint32_t type, uint64_t sector, uint32_t data_len)
{
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;

	memcpy(ram(r->hdr), &h, sizeof(h));
	*(uint8_t *)ram(r->status) = 0xee;
	if (data_len)
		fake_add(
			d, 0,
			(struct fake_buf[]){ { r->hdr, 16, false }, { r->data, data_len, in }, { r->status, 1, true } },
			3);
	else
		fake_add(d, 0, (struct fake_buf[]){ { r->hdr, 16, false }, { r->status, 1, true } }, 2);
	fake_kick(d, 0);
}

static int blk_status(struct fake_dev *d, struct blk_req *r, uint32_t *len)
{
	uint32_t id;

	if (!fake_used(d, 0, &id, len))
		return -1;
	return *(uint8_t *)ram(r->status);
}

static void test_blk(void)
{
	char path[] = "/tmp/runvm-blk-XXXXXX";
	struct rt_error *err = NULL;
	struct fake_dev d;
	struct blk_req r;
	uint8_t buf[4096], cfg[16];
	uint64_t cap;
	uint32_t len;
	int fd = mkstemp(path);

	fresh();
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	for (int i = 0; i < 256; i++) /* 1 MiB */
		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			break;
	ok(virtio_blk_add(vm, path, false, &err) == 0, "blk: added on a 1 MiB file");
	fake_read(vm, 0, 0x100, cfg, 8);
	memcpy(&cap, cfg, 8);
	ok(le64toh(cap) == 2048, "blk: capacity 2048 sectors");
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 1, 128), "blk: started");
	ok(!(d.features & (1ULL << VIRTIO_BLK_F_RO)) && (d.features & (1ULL << VIRTIO_BLK_F_FLUSH)),
	   "blk: writable, flush");
	r.hdr = fake_alloc(vm, 16, 8);
	r.data = fake_alloc(vm, 8192, 4096);
	r.status = fake_alloc(vm, 1, 1);

	blk_submit(&d, &r, VIRTIO_BLK_T_IN, 1, 1024);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_OK && len == 1025 && !memcmp(ram(r.data), buf + 512, 1024),
	   "blk: read of sectors 1-2");
	memset(ram(r.data), 0xab, 512);
	blk_submit(&d, &r, VIRTIO_BLK_T_OUT, 2047, 512);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_OK && len == 1, "blk: write of the last sector");
	ok(pread(fd, buf, 512, 2047 * 512) == 512 && buf[0] == 0xab && buf[511] == 0xab, "blk: which is in the file");
	blk_submit(&d, &r, VIRTIO_BLK_T_FLUSH, 0, 0);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_OK, "blk: flush");
	blk_submit(&d, &r, VIRTIO_BLK_T_GET_ID, 0, 20);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_OK && len == 21 && !memcmp(ram(r.data), "runvm-blk-", 10),
	   "blk: get-id gives the file name");
	blk_submit(&d, &r, VIRTIO_BLK_T_IN, 2047, 1024);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_IOERR, "blk: read past the end: IOERR");
	blk_submit(&d, &r, VIRTIO_BLK_T_OUT, 2048, 512);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_IOERR, "blk: write at the capacity: IOERR");
	blk_submit(&d, &r, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 512);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_IOERR, "blk: sector whose byte offset overflows: IOERR");
	blk_submit(&d, &r, VIRTIO_BLK_T_IN, 0, 100);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_IOERR, "blk: read of 100 bytes (not whole sectors): IOERR");
	blk_submit(&d, &r, 77, 0, 512);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_UNSUPP, "blk: unknown request type: UNSUPP");
	fake_add(&d, 0, (struct fake_buf[]){ { r.hdr, 8, false }, { r.status, 1, true } }, 2);
	fake_kick(&d, 0);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_IOERR, "blk: short header: IOERR");
	fake_add(&d, 0, (struct fake_buf[]){ { r.hdr, 16, false } }, 1);
	fake_kick(&d, 0);
	ok(fake_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET, "blk: request without a status byte fails the device");

	/* Read-only. */
	fresh();
	ok(virtio_blk_add(vm, path, true, &err) == 0, "blk: added read-only");
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 1, 128) && (d.features & (1ULL << VIRTIO_BLK_F_RO)),
	   "blk: read-only feature offered");
	r.hdr = fake_alloc(vm, 16, 8);
	r.data = fake_alloc(vm, 4096, 4096);
	r.status = fake_alloc(vm, 1, 1);
	blk_submit(&d, &r, VIRTIO_BLK_T_OUT, 0, 512);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_IOERR, "blk: write to a read-only disk: IOERR");
	blk_submit(&d, &r, VIRTIO_BLK_T_IN, 0, 512);
	ok(blk_status(&d, &r, &len) == VIRTIO_BLK_S_OK, "blk: read from it works");

	r.status = virtio_blk_add(vm, "/nonexistent/disk", false, &err);
	ok((int)r.status < 0 && err, "blk: missing file: error `%s`", err ? err->msg : "");
	rt_error_free(&err);
	close(fd);
	unlink(path);
}

/* --- console ------------------------------------------------------------------------------ */

enum { Q_CONS_RX, Q_CONS_TX, Q_CTRL_RX, Q_CTRL_TX, Q_PORT_RX, Q_PORT_TX };

struct ctl {
	uint32_t id;
	uint16_t event, value;
	char name[64];
};

static uint64_t ctl_bufs[64];
static unsigned n_ctl_bufs;

/* Give the device @n control receive buffers (Linux keeps the queue full). */
static void ctl_fill(struct fake_dev *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = fake_alloc(vm, 4096, 4096);

		ctl_bufs[fake_add(d, Q_CTRL_RX, (struct fake_buf[]){ { b, 4096, true } }, 1)] = b;
		n_ctl_bufs++;
	}
	fake_kick(d, Q_CTRL_RX);
}

/* The next control message from the device, if any. */
static bool ctl_next(struct fake_dev *d, struct ctl *m)
{
	struct virtio_console_control c;
	uint32_t id, len;

	if (!fake_used(d, Q_CTRL_RX, &id, &len) || len < sizeof(c))
		return false;
	memcpy(&c, ram(ctl_bufs[id]), sizeof(c));
	m->id = le32toh(c.id);
	m->event = le16toh(c.event);
	m->value = le16toh(c.value);
	memset(m->name, 0, sizeof(m->name));
	if (len > sizeof(c) && len - sizeof(c) < sizeof(m->name))
		memcpy(m->name, (uint8_t *)ram(ctl_bufs[id]) + sizeof(c), len - sizeof(c));
	return true;
}

static void ctl_send(struct fake_dev *d, uint32_t id, uint16_t event, uint16_t value)
{
	struct virtio_console_control c = { htole32(id), htole16(event), htole16(value) };
	uint64_t b = fake_alloc(vm, sizeof(c), 8);
	uint32_t uid, len;

	memcpy(ram(b), &c, sizeof(c));
	fake_add(d, Q_CTRL_TX, (struct fake_buf[]){ { b, sizeof(c), false } }, 1);
	fake_kick(d, Q_CTRL_TX);
	/* Linux spins until the device has used it: it must be done when the kick returns. */
	if (!fake_used(d, Q_CTRL_TX, &uid, &len))
		ok(0, "console: control message %u not used at once", event);
}

static uint64_t port_buf(struct fake_dev *d, unsigned q, uint32_t size, bool write)
{
	uint64_t b = fake_alloc(vm, size, 4096);

	fake_add(d, q, (struct fake_buf[]){ { b, size, write } }, 1);
	return b;
}

static void test_console(void)
{
	char logpath[] = "/tmp/runvm-log-XXXXXX", logbuf[64];
	struct rt_error *err = NULL;
	struct fake_dev d;
	struct ctl m;
	int sv[2], logfd = mkstemp(logpath), sndbuf = 4096, got_open = 0;
	uint64_t rx1, rx2, rx3, tx, cons;
	uint32_t id, len;
	uint8_t *big;
	size_t total;
	bool same;

	fresh();
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	ok(virtio_console_add(vm, logfd, "io.runvm.agent", sv[0], &err) == 0, "console: added");
	ok(fake_read32(vm, 0, VIRTIO_MMIO_DEVICE_ID) == 3, "console: device id 3");
	{
		uint32_t ports;

		fake_read(vm, 0, 0x100 + 4, &ports, 4);
		ok(le32toh(ports) == 2, "console: max_nr_ports 2");
	}
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 6, 16), "console: started");
	ok(d.features & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT), "console: multiport negotiated");

	/* Linux's probe: control receive buffers first, then DEVICE_READY. */
	ctl_fill(&d, 8);
	rx1 = port_buf(&d, Q_PORT_RX, 4096, true);
	rx2 = port_buf(&d, Q_PORT_RX, 4096, true);
	fake_kick(&d, Q_PORT_RX);
	ctl_send(&d, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ok(ctl_next(&d, &m) && m.id == 0 && m.event == VIRTIO_CONSOLE_PORT_ADD && ctl_next(&d, &m) && m.id == 1 &&
		   m.event == VIRTIO_CONSOLE_PORT_ADD,
	   "console: DEVICE_READY -> PORT_ADD 0, PORT_ADD 1");
	ctl_send(&d, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	ok(ctl_next(&d, &m) && m.id == 0 && m.event == VIRTIO_CONSOLE_CONSOLE_PORT && m.value == 1,
	   "console: PORT_READY 0 -> CONSOLE_PORT 0");
	ok(ctl_next(&d, &m) && m.id == 0 && m.event == VIRTIO_CONSOLE_PORT_OPEN && m.value == 1,
	   "console: and PORT_OPEN 0");
	ctl_send(&d, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ok(ctl_next(&d, &m) && m.id == 1 && m.event == VIRTIO_CONSOLE_PORT_NAME && !strcmp(m.name, "io.runvm.agent"),
	   "console: PORT_READY 1 -> PORT_NAME 1 \"%s\"", m.name);
	ok(ctl_next(&d, &m) && m.id == 1 && m.event == VIRTIO_CONSOLE_PORT_OPEN && m.value == 1,
	   "console: and PORT_OPEN 1 (the host is connected)");
	ok(!ctl_next(&d, &m), "console: nothing more");

	/* Host data waits until a guest program opens the port (Linux drops it otherwise). */
	ok(send(sv[1], "early", 5, 0) == 5, "console: host writes before the port is open");
	ok(!(fake_watch_events(vm, sv[0]) & POLLIN) && fake_io_poll(vm, 0) == 0 && !fake_used(&d, Q_PORT_RX, &id, &len),
	   "console: not read while the guest has the port closed");
	ctl_send(&d, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ok(fake_used(&d, Q_PORT_RX, &id, &len) && len == 5 && !memcmp(ram(rx1), "early", 5),
	   "console: delivered when the guest opens the port");
	ok(send(sv[1], "hello", 5, 0) == 5 && fake_io_poll(vm, 1000) == 1 && fake_used(&d, Q_PORT_RX, &id, &len) &&
		   len == 5 && !memcmp(ram(rx2), "hello", 5),
	   "console: host -> guest through the I/O watch");

	/* No receive buffers left: stop reading the socket until the guest gives more. */
	ok(send(sv[1], "more", 4, 0) == 4, "console: host writes with no guest buffer left");
	fake_io_poll(vm, 1000);
	ok(!(fake_watch_events(vm, sv[0]) & POLLIN), "console: socket no longer watched for input");
	rx3 = port_buf(&d, Q_PORT_RX, 4096, true);
	port_buf(&d, Q_PORT_RX, 4096, true);
	fake_kick(&d, Q_PORT_RX);
	ok(fake_used(&d, Q_PORT_RX, &id, &len) && len == 4 && !memcmp(ram(rx3), "more", 4),
	   "console: delivered once the guest adds a buffer");
	ok(fake_watch_events(vm, sv[0]) & POLLIN, "console: watched again while a buffer is left");

	/* Guest -> host, and the console log. */
	tx = port_buf(&d, Q_PORT_TX, 5, false);
	memcpy(ram(tx), "world", 5);
	fake_kick(&d, Q_PORT_TX);
	ok(fake_used(&d, Q_PORT_TX, &id, &len) && recv(sv[1], logbuf, sizeof(logbuf), MSG_DONTWAIT) == 5 &&
		   !memcmp(logbuf, "world", 5),
	   "console: guest -> host");
	cons = port_buf(&d, Q_CONS_TX, 9, false);
	memcpy(ram(cons), "boot log\n", 9);
	fake_kick(&d, Q_CONS_TX);
	ok(fake_used(&d, Q_CONS_TX, &id, &len) && pread(logfd, logbuf, sizeof(logbuf), 0) == 9 &&
		   !memcmp(logbuf, "boot log\n", 9),
	   "console: port 0 output appended to the log");

	/* Backpressure: a socket that takes only part of a large write. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	tx = fake_alloc(vm, 1 << 20, 4096);
	for (unsigned i = 0; i < (1u << 20); i++)
		((uint8_t *)ram(tx))[i] = (uint8_t)(i ^ (i >> 8));
	fake_add(&d, Q_PORT_TX, (struct fake_buf[]){ { tx, 1 << 20, false } }, 1);
	fake_kick(&d, Q_PORT_TX);
	ok(!fake_used(&d, Q_PORT_TX, &id, &len) && (fake_watch_events(vm, sv[0]) & POLLOUT),
	   "console: a 1 MiB write the socket cannot take at once is held, POLLOUT watched");
	big = malloc(1 << 20);
	total = 0;
	for (int spins = 0; spins < 100000 && total < (1u << 20); spins++) {
		ssize_t n = recv(sv[1], big + total, (1 << 20) - total, MSG_DONTWAIT);

		if (n > 0)
			total += n;
		fake_io_poll(vm, 0);
	}
	same = total == (1u << 20) && !memcmp(big, ram(tx), 1 << 20);
	ok(same, "console: all of it arrives in order as the host reads (%zu bytes)", total);
	ok(fake_used(&d, Q_PORT_TX, &id, &len) && !(fake_watch_events(vm, sv[0]) & POLLOUT),
	   "console: then the chain is used and POLLOUT dropped");
	free(big);

	/* The host hangs up: the guest is told the port closed. */
	close(sv[1]);
	fake_io_poll(vm, 1000);
	while (ctl_next(&d, &m))
		got_open |= m.id == 1 && m.event == VIRTIO_CONSOLE_PORT_OPEN && m.value == 0;
	ok(got_open, "console: host hangup -> PORT_OPEN 1 0");
	ok(fake_watch_events(vm, sv[0]) == 0, "console: socket no longer watched");
	tx = port_buf(&d, Q_PORT_TX, 3, false);
	fake_kick(&d, Q_PORT_TX);
	ok(fake_used(&d, Q_PORT_TX, &id, &len), "console: guest writes after the hangup are used (dropped), not held");

	/* Hostile: a short control message is ignored; a looping chain fails the device. */
	{
		uint64_t b = fake_alloc(vm, 4, 4);
		struct vring_desc *desc;
		uint16_t head;

		fake_add(&d, Q_CTRL_TX, (struct fake_buf[]){ { b, 4, false } }, 1);
		fake_kick(&d, Q_CTRL_TX);
		ok(fake_used(&d, Q_CTRL_TX, &id, &len) && !(fake_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET),
		   "console: 4-byte control message used and ignored");
		head = fake_add(&d, Q_CTRL_TX, (struct fake_buf[]){ { b, 4, false } }, 1);
		desc = ram(d.vq[Q_CTRL_TX].desc);
		desc[head].flags = htole16(VRING_DESC_F_NEXT);
		desc[head].next = htole16(head);
		fake_kick(&d, Q_CTRL_TX);
		ok(fake_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET, "console: looping control chain fails the device");
	}
	fake_write32(vm, 0, VIRTIO_MMIO_STATUS, 0);
	ok(fake_status(&d) == 0 && fake_watch_events(vm, sv[0]) == 0, "console: reset");
	close(sv[0]);
	close(logfd);
	unlink(logpath);
}

/* --- net ------------------------------------------------------------------------------------ */

static int tap_create(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), s;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ifr.ifr_flags = IFF_UP | IFF_NOARP;
	if (s < 0 || ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		close(fd);
		fd = -1;
	}
	if (s >= 0)
		close(s);
	return fd;
}

static struct vmm *vm_copy(void);

/* The running net device (in vm) saved, and loaded into a fresh one on a second tap
 * in a copy of the VM: the guest sees the same MAC and status, and the queues go on. */
static void test_net_state(void)
{
	struct kvm_state_buf rec = { 0 }, again = { 0 };
	struct virtio_net_config c1, c2;
	struct rt_error *err = NULL;
	struct vmm *vm2;
	int tap2 = tap_create("rvtest1");
	bool r;

	r = virtio_dev_save(fake_mmio_opaque(vm, 0), &rec) == 0;
	ok(r, "net state: saved while running (%zu bytes)", rec.len);
	vm2 = vm_copy();
	r = tap2 >= 0 && virtio_net_add(vm2, tap2, &err) == 0;
	ok(r, "net state: a fresh device on a second tap");
	for (size_t n = 0; n < rec.len && r; n++)
		r = virtio_dev_load(fake_mmio_opaque(vm2, 0), rec.data, n) < 0;
	ok(r && fake_read32(vm2, 0, VIRTIO_MMIO_STATUS) == 0, "net state: every truncated record refused");
	r = virtio_dev_load(fake_mmio_opaque(vm2, 0), rec.data, rec.len) == 0;
	ok(r, "net state: loaded into the fresh device");
	fake_read(vm, 0, 0x100, &c1, sizeof(c1));
	fake_read(vm2, 0, 0x100, &c2, sizeof(c2));
	ok(!memcmp(c1.mac, c2.mac, sizeof(c1.mac)) && c1.status == c2.status,
	   "net state: the guest sees the same MAC and link status");
	r = fake_read32(vm2, 0, VIRTIO_MMIO_STATUS) == fake_read32(vm, 0, VIRTIO_MMIO_STATUS) &&
		virtio_dev_save(fake_mmio_opaque(vm2, 0), &again) == 0 && again.len == rec.len &&
		!memcmp(again.data, rec.data, rec.len);
	ok(r, "net state: the same device status, and it saves the same record");
	rt_error_free(&err);
	kvm_state_buf_release(&rec);
	kvm_state_buf_release(&again);
	fake_vmm_free(vm2);
	if (tap2 >= 0)
		close(tap2);
}

#define ETH_TEST 0x88b5 /* IEEE local experimental ethertype: nothing else sends it */

static void test_net(void)
{
	struct rt_error *err = NULL;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_TEST) };
	struct virtio_net_config cfg;
	struct fake_dev d;
	uint8_t frame[60], got[128];
	uint64_t tx, rx;
	uint32_t id, len;
	int tap, ps, fd, found = 0;

	if (unshare(CLONE_NEWNET) < 0 || (tap = tap_create("rvtest0")) < 0) {
		ok(1, "# SKIP net: no private network namespace or tap here (%s)", strerror(errno));
		return;
	}
	/* No IPv6 chatter (router solicitations) on the test tap. */
	fd = open("/proc/sys/net/ipv6/conf/rvtest0/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			(void)0;
		close(fd);
	}
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_TEST));
	sll.sll_ifindex = if_nametoindex("rvtest0");
	bind(ps, (struct sockaddr *)&sll, sizeof(sll));

	fresh();
	ok(virtio_net_add(vm, tap, &err) == 0, "net: added on a tap");
	ok(virtio_net_add(vm, ps, &err) < 0 && err, "net: a socket that is not a tap is refused");
	rt_error_free(&err);
	fake_read(vm, 0, 0x100, &cfg, sizeof(cfg));
	ok((cfg.mac[0] & 3) == 2, "net: MAC %02x:%02x:%02x:%02x:%02x:%02x is locally administered unicast", cfg.mac[0],
	   cfg.mac[1], cfg.mac[2], cfg.mac[3], cfg.mac[4], cfg.mac[5]);
	ok(le16toh(cfg.status) == VIRTIO_NET_S_LINK_UP, "net: link up");
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 2, 256), "net: started");
	ok((d.features & (1ULL << VIRTIO_NET_F_GUEST_TSO4)) && (d.features & (1ULL << VIRTIO_NET_F_HOST_TSO6)) &&
		   (d.features & (1ULL << VIRTIO_NET_F_CSUM)) && !(d.features & (1ULL << VIRTIO_NET_F_MRG_RXBUF)),
	   "net: checksum and TSO offloads offered, no mergeable buffers");

	/* Guest -> host: a 12-byte header, then the frame. */
	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, cfg.mac, 6);
	frame[12] = ETH_TEST >> 8;
	frame[13] = ETH_TEST & 0xff;
	memcpy(frame + 14, "runvm-tx", 8);
	tx = fake_alloc(vm, 12 + sizeof(frame), 8);
	memcpy((uint8_t *)ram(tx) + 12, frame, sizeof(frame));
	fake_add(&d, 1, (struct fake_buf[]){ { tx, 12, false }, { tx + 12, sizeof(frame), false } }, 2);
	fake_kick(&d, 1);
	ok(fake_used(&d, 1, &id, &len), "net: transmit chain used");
	for (int i = 0; i < 10 && !found; i++) {
		ssize_t n = recv(ps, got, sizeof(got), MSG_DONTWAIT);

		if (n == sizeof(frame) && !memcmp(got + 14, "runvm-tx", 8))
			found = 1;
		else if (n < 0)
			usleep(10000);
	}
	ok(found, "net: the frame comes out of the tap");

	/* Host -> guest. */
	for (int i = 0; i < 4; i++) {
		rx = fake_alloc(vm, 2048, 4096);
		fake_add(&d, 0, (struct fake_buf[]){ { rx, 12, true }, { rx + 12, 2036, true } }, 2);
	}
	fake_kick(&d, 0);
	memcpy(frame + 14, "runvm-rx", 8);
	ok(sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll)) == sizeof(frame),
	   "net: host sends a frame");
	found = 0;
	for (int i = 0; i < 20 && !found; i++) {
		fake_io_poll(vm, 100);
		while (fake_used(&d, 0, &id, &len)) {
			uint8_t *p = ram(le64toh(((struct vring_desc *)ram(d.vq[0].desc))[id].addr));
			struct virtio_net_hdr_v1 h;

			memcpy(&h, p, sizeof(h));
			if (len >= 12 + 22 && !memcmp(p + 12 + 14, "runvm-rx", 8))
				found = le16toh(h.num_buffers) == 1 && len == 12 + sizeof(frame) ? 1 : 2;
		}
	}
	ok(found == 1, "net: it lands in a guest buffer behind a header with num_buffers 1");

	/* More frames than receive buffers (3 left): the rest are dropped, the tap is drained,
	 * nothing blocks. */
	for (int i = 0; i < 8; i++)
		sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll));
	for (int i = 0; i < 10; i++)
		fake_io_poll(vm, 50);
	ok(poll(&(struct pollfd){ .fd = tap, .events = POLLIN }, 1, 0) == 0,
	   "net: frames with no guest buffer dropped, tap drained");
	ok(!(fake_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET), "net: device still healthy");
	test_net_state();

	/* Hostile: a receive buffer too small for the header. */
	rx = fake_alloc(vm, 8, 8);
	fake_add(&d, 0, (struct fake_buf[]){ { rx, 8, true } }, 1);
	fake_kick(&d, 0);
	sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll));
	fake_io_poll(vm, 1000);
	ok(fake_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET, "net: 8-byte receive buffer fails the device");
	close(ps);
	close(tap);
}

/* --- 9p -------------------------------------------------------------------------------------- */

static void test_9p(void)
{
	struct rt_error *err = NULL;
	struct fake_dev d;
	uint8_t cfg[32], *rep;
	uint64_t req, resp;
	uint32_t id, len;
	char dir[] = "/tmp/runvm-9p-XXXXXX";
	/* Tversion tag NOTAG msize 8192 "9P2000.L" */
	static const uint8_t tversion[] = { 21, 0, 0,   0,   100, 0xff, 0xff, 0,   0x20, 0,  0,
					    8,  0, '9', 'P', '2', '0',  '0',  '0', '.',  'L' };

	fresh();
	mkdtemp(dir);
	ok(virtio_9p_add(vm, "rootfs", dir, false, &err) == 0, "9p: added");
	fake_read(vm, 0, 0x100, cfg, 8);
	ok(cfg[0] == 6 && cfg[1] == 0 && !memcmp(cfg + 2, "rootfs", 6), "9p: mount tag in config");
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 1, 128) && (d.features & (1ULL << VIRTIO_9P_MOUNT_TAG)),
	   "9p: started with MOUNT_TAG");
	req = fake_alloc(vm, sizeof(tversion), 8);
	resp = fake_alloc(vm, 8192, 4096);
	memcpy(ram(req), tversion, sizeof(tversion));
	/* The reply split over two buffers, as a zero-copy request has it. */
	fake_add(
		&d, 0,
		(struct fake_buf[]){ { req, sizeof(tversion), false }, { resp, 7, true }, { resp + 4096, 4096, true } },
		3);
	fake_kick(&d, 0);
	rep = ram(resp);
	len = 0;
	fake_used(&d, 0, &id, &len);
	ok(len >= 13 && rep[4] == 101 && rep[5] == 0xff && rep[6] == 0xff, "9p: Tversion -> Rversion (%u bytes)", len);
	fake_add(&d, 0, (struct fake_buf[]){ { req, sizeof(tversion), false }, { resp, 4, true } }, 2);
	fake_kick(&d, 0);
	ok(fake_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET, "9p: a 4-byte reply buffer fails the device");
	ok(virtio_9p_add(vm, "", dir, false, &err) < 0, "9p: empty tag refused");
	rt_error_free(&err);
	rmdir(dir);
}

/* --- saved state ------------------------------------------------------------------------ */

/* Offsets into the transport's record (kvm/virtio/mmio.c, version 1): after the header (6),
 * device id and queue count (8), status, failed, isr, driver features (17), the negotiated
 * features; then the selectors (16) and queue 0's size and descriptor table address. */
#define REC_FEATURES 31
#define REC_Q0_DESC 57

static struct vmm *vm_copy(void)
{
	struct vmm *v = fake_vmm_new(RAM);

	fake_ram_copy(v, vm);
	return v;
}

/* @rec with @len bytes of @with at @off, loaded into a fresh rng: refused? */
static bool rng_refuses(const struct kvm_state_buf *rec, size_t off, const void *with, size_t len)
{
	struct vmm *v = vm_copy();
	struct rt_error *err = NULL;
	uint8_t *bad = malloc(rec->len);
	bool refused;

	memcpy(bad, rec->data, rec->len);
	memcpy(bad + off, with, len);
	virtio_rng_add(v, &err);
	refused = virtio_dev_load(fake_mmio_opaque(v, 0), bad, rec->len) < 0 &&
		fake_read32(v, 0, VIRTIO_MMIO_STATUS) == 0;
	free(bad);
	fake_vmm_free(v);
	return refused;
}

static void test_rng_state(void)
{
	struct kvm_state_buf rec = { 0 }, again = { 0 };
	struct rt_error *err = NULL;
	struct fake_dev d;
	struct vmm *vm2;
	uint64_t a, all_ones = ~0ULL;
	uint32_t id, len;
	unsigned loaded = 0;
	bool r = true;

	fresh();
	virtio_rng_add(vm, &err);
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 1, 64), "state: rng started");
	a = fake_alloc(vm, 64, 8);
	fake_add(&d, 0, (struct fake_buf[]){ { a, 64, true } }, 1);
	fake_kick(&d, 0);
	fake_used(&d, 0, &id, &len);
	/* (Each condition is computed before ok(): argument order is unspecified.) */
	r = virtio_dev_save(fake_mmio_opaque(vm, 0), &rec) == 0 && rec.len > REC_Q0_DESC + 8;
	ok(r, "state: rng saved (%zu bytes)", rec.len);

	vm2 = vm_copy();
	virtio_rng_add(vm2, &err);
	for (size_t n = 0; n < rec.len && r; n++)
		r = virtio_dev_load(fake_mmio_opaque(vm2, 0), rec.data, n) == -EBADMSG;
	ok(r && fake_read32(vm2, 0, VIRTIO_MMIO_STATUS) == 0,
	   "state: every truncated record refused, the device untouched");
	ok(rng_refuses(&rec, 0, "xxxx", 4), "state: another record's magic refused");
	ok(rng_refuses(&rec, REC_FEATURES, &all_ones, 8), "state: features the device does not offer refused");
	ok(rng_refuses(&rec, REC_Q0_DESC, &all_ones, 8), "state: a ring outside guest RAM refused");
	/* Every byte flipped in turn: refused or loaded, never a crash (ASan in `make fuzz`'s
	 * targets would see more; here the checks must hold up on their own). */
	for (size_t i = 0; i < rec.len; i++) {
		uint8_t b = rec.data[i] ^ 0xff;

		loaded += !rng_refuses(&rec, i, &b, 1);
	}
	ok(1, "state: %zu single-byte corruptions: %u loaded (selectors, indices), the rest refused", rec.len, loaded);

	ok(virtio_dev_load(fake_mmio_opaque(vm2, 0), rec.data, rec.len) == 0, "state: loaded into a fresh rng");
	ok(virtio_dev_save(fake_mmio_opaque(vm2, 0), &again) == 0 && again.len == rec.len &&
		   !memcmp(again.data, rec.data, rec.len),
	   "state: which saves the same record");
	ok(fake_read32(vm2, 0, VIRTIO_MMIO_STATUS) == fake_status(&d), "state: with the same status");
	ok(virtio_dev_load(fake_mmio_opaque(vm2, 0), rec.data, rec.len) == -EBUSY,
	   "state: a live device refuses a load");
	fake_vmm_free(vm);
	vm = vm2;
	d.vm = vm;
	a = fake_alloc(vm, 64, 8);
	fake_add(&d, 0, (struct fake_buf[]){ { a, 32, true } }, 1);
	fake_kick(&d, 0);
	ok(fake_used(&d, 0, &id, &len) && len == 32 && fake_irqs(vm, 5) == 1,
	   "state: the loaded device goes on where the saved one was");
	kvm_state_buf_release(&rec);
	kvm_state_buf_release(&again);
}

static void test_console_state(void)
{
	struct kvm_state_buf rec = { 0 }, again = { 0 };
	struct rt_error *err = NULL;
	struct fake_dev d;
	struct ctl m;
	struct vmm *vm2;
	int sv[2], sv2[2];
	bool r;

	fresh();
	n_ctl_bufs = 0;
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2);
	virtio_console_add(vm, -1, "io.runvm.agent", sv[0], &err);
	ok(fake_dev_started(&d, vm, 0, ALL_FEATURES, 6, 16), "state: console started");
	/* Halfway through the handshake: three control buffers for four messages, so PORT_OPEN 0
	 * waits in the device. */
	ctl_fill(&d, 3);
	ctl_send(&d, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ctl_send(&d, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	r = ctl_next(&d, &m) && ctl_next(&d, &m) && ctl_next(&d, &m) && m.event == VIRTIO_CONSOLE_CONSOLE_PORT &&
		!ctl_next(&d, &m);
	ok(r, "state: PORT_ADD 0, PORT_ADD 1, CONSOLE_PORT 0 taken, PORT_OPEN 0 pending");
	r = virtio_dev_save(fake_mmio_opaque(vm, 0), &rec) == 0;
	ok(r, "state: console saved (%zu bytes)", rec.len);

	vm2 = vm_copy();
	virtio_console_add(vm2, -1, "io.runvm.agent", sv2[0], &err);
	r = true;
	for (size_t n = 0; n < rec.len && r; n++)
		r = virtio_dev_load(fake_mmio_opaque(vm2, 0), rec.data, n) < 0;
	ok(r && fake_read32(vm2, 0, VIRTIO_MMIO_STATUS) == 0, "state: every truncated record refused");
	ok(virtio_dev_load(fake_mmio_opaque(vm2, 0), rec.data, rec.len) == 0, "state: loaded into a fresh console");
	ok(virtio_dev_save(fake_mmio_opaque(vm2, 0), &again) == 0 && again.len == rec.len &&
		   !memcmp(again.data, rec.data, rec.len),
	   "state: which saves the same record");
	fake_vmm_free(vm);
	vm = vm2;
	d.vm = vm;
	ctl_fill(&d, 2);
	ok(ctl_next(&d, &m) && m.id == 0 && m.event == VIRTIO_CONSOLE_PORT_OPEN,
	   "state: the pending PORT_OPEN 0 arrives");
	ctl_send(&d, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ok(ctl_next(&d, &m) && m.id == 1 && m.event == VIRTIO_CONSOLE_PORT_NAME && !strcmp(m.name, "io.runvm.agent"),
	   "state: and the handshake goes on: PORT_READY 1 -> PORT_NAME 1");
	kvm_state_buf_release(&rec);
	kvm_state_buf_release(&again);
	rt_error_free(&err);
	fresh(); /* before the sockets go: the device watches them */
	for (int i = 0; i < 2; i++)
		close(sv[i]), close(sv2[i]);
}

int main(void)
{
	test_rng();
	test_blk();
	test_console();
	test_9p();
	test_rng_state();
	test_console_state();
	test_net(); /* last: it moves the process to its own network namespace */
	fake_vmm_free(vm);
	return tap_done();
}
