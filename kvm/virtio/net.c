/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net (virtio 1.1 5.1) on a tap: queue 0 receive, queue 1 transmit, no control queue.
 * The tap carries the same 12-byte virtio_net_hdr_v1 the guest uses (TUNSETVNETHDRSZ), so a
 * frame goes between the tap and the guest's buffers in one readv/writev, header and all, and
 * checksum and segmentation offloads pass through: the guest hands 64 KiB TSO segments to the
 * host stack and takes them back. TUNSETOFFLOAD tells the tap what the guest agreed to receive.
 *
 * Receive runs on the I/O thread; a frame that finds no guest buffer is dropped (never wait on
 * the guest). Transmit runs on the notifying vCPU: tap writes do not block.
 */
#include <net/if.h> /* before <linux/if_tun.h>, which uses struct ifreq */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "kvm/device.h"
#include "kvm/state.h"
#include "kvm/virtio/virtio.h"
#include "kvm/virtio/virtqueue.h"

enum { Q_RX, Q_TX, NET_QUEUES };

#define NET_HDR_LEN ((int)sizeof(struct virtio_net_hdr_v1))
#define BATCH 256

struct net {
	struct vmm *vm;
	struct virtio_dev *dev;
	pthread_mutex_t lock;
	int tap;
	bool running;
	uint8_t mac[6];
};

/* Take one frame off the tap and drop it; false once the tap is empty. A frame longer than
 * the buffer fails the read (EFAULT), but is gone all the same. */
static bool drop_frame(struct net *n)
{
	uint8_t scratch[64];

	return read(n->tap, scratch, sizeof(scratch)) >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

static void net_rx(void *opaque, short revents)
{
	struct net *n = opaque;
	struct virtq_chain ch;
	bool pushed = false;

	(void)revents;
	pthread_mutex_lock(&n->lock);
	for (unsigned i = 0; i < BATCH; i++) {
		struct virtq *q = n->running ? virtio_queue(n->dev, Q_RX) : NULL;
		uint16_t one = htole16(1);
		ssize_t len;
		int r = q ? virtq_pop(q, &ch) : 0;

		if (r < 0)
			virtio_fail(n->dev, "receive queue: malformed chain");
		if (r <= 0) {
			if (!drop_frame(n))
				break;
			continue;
		}
		if (ch.in_len < (size_t)NET_HDR_LEN) {
			virtq_unpop(q);
			virtio_fail(n->dev, "receive buffer smaller than the header");
			continue;
		}
		len = readv(n->tap, ch.in, ch.n_in);
		if (len < NET_HDR_LEN) {
			virtq_unpop(q);
			break; /* EAGAIN: drained */
		}
		/* 5.1.6.4: num_buffers is 1 without VIRTIO_NET_F_MRG_RXBUF; the tap leaves the
		 * header's last two bytes alone. */
		iov_from_buf(ch.in, ch.n_in, offsetof(struct virtio_net_hdr_v1, num_buffers), &one, sizeof(one));
		virtq_push(q, &ch, len);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(n->dev);
	pthread_mutex_unlock(&n->lock);
}

static void net_tx(struct net *n)
{
	struct virtq *q = virtio_queue(n->dev, Q_TX);
	struct virtq_chain ch;
	bool pushed = false;

	for (unsigned i = 0; q && i < BATCH; i++) {
		int r = virtq_pop(q, &ch);

		if (r < 0) {
			virtio_fail(n->dev, "transmit queue: malformed chain");
			break;
		}
		if (r == 0)
			break;
		/* The tap checks the header and the frame; one it refuses (or a frame shorter
		 * than the header) is dropped, as a NIC drops a bad frame. */
		if (ch.out_len < (size_t)NET_HDR_LEN || writev(n->tap, ch.out, ch.n_out) < 0)
			rt_debug("virtio-net: transmit: frame dropped");
		virtq_push(q, &ch, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(n->dev);
}

static void net_notify(void *opaque, unsigned q)
{
	struct net *n = opaque;

	pthread_mutex_lock(&n->lock);
	/* Receive buffers added need nothing: the next frame finds them. */
	if (n->running && q == Q_TX)
		net_tx(n);
	pthread_mutex_unlock(&n->lock);
}

/* What the tap may hand us, from what the guest accepted to receive (TUN_F_* needs CSUM for
 * any TSO, as GUEST_TSO* needs GUEST_CSUM). */
static unsigned tap_offloads(uint64_t features)
{
	unsigned off = 0;

	if (!(features & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	off |= TUN_F_CSUM;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		off |= TUN_F_TSO4;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		off |= TUN_F_TSO6;
	return off;
}

static void net_status(void *opaque, bool running)
{
	struct net *n = opaque;
	unsigned off = running ? tap_offloads(virtio_driver_features(n->dev)) : 0;

	pthread_mutex_lock(&n->lock);
	n->running = running;
	/* With no offloads the host stack checksums and segments before the tap, which every
	 * guest can take. */
	if (n->tap >= 0 && ioctl(n->tap, TUNSETOFFLOAD, off) < 0 && off) {
		rt_debug("virtio-net: TUNSETOFFLOAD %#x: %m, ignoring", off);
		ioctl(n->tap, TUNSETOFFLOAD, 0);
	}
	pthread_mutex_unlock(&n->lock);
}

static void net_config_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct net *n = opaque;
	struct virtio_net_config cfg = { .status = htole16(VIRTIO_NET_S_LINK_UP) };

	memcpy(cfg.mac, n->mac, sizeof(cfg.mac));
	virtio_config_copy(&cfg, sizeof(cfg), off, data, len);
}

static void net_free(void *opaque)
{
	struct net *n = opaque;

	pthread_mutex_destroy(&n->lock);
	free(n);
}

#define NET_STATE_MAGIC 0x74656e76u /* "vnet" */
#define NET_STATE_VERSION 1

/* The MAC address: random per device, and the guest has read it. */
static int net_save(void *opaque, struct kvm_state_buf *out)
{
	struct net *n = opaque;

	kvm_state_put_header(out, NET_STATE_MAGIC, NET_STATE_VERSION);
	kvm_state_put(out, n->mac, sizeof(n->mac));
	return 0;
}

static int net_load(void *opaque, const void *buf, size_t len)
{
	struct net *n = opaque;
	struct kvm_state_reader r;
	uint8_t mac[sizeof(n->mac)];
	int e;

	kvm_state_reader_init(&r, buf, len);
	e = kvm_state_get_header(&r, NET_STATE_MAGIC, NET_STATE_VERSION);
	if (e < 0)
		return e;
	kvm_state_get(&r, mac, sizeof(mac));
	e = kvm_state_get_end(&r);
	/* A unicast address, as the device makes them (the guest would drop a multicast one). */
	if (e < 0 || (mac[0] & 1))
		return -EBADMSG;
	pthread_mutex_lock(&n->lock);
	memcpy(n->mac, mac, sizeof(mac));
	pthread_mutex_unlock(&n->lock);
	return 0;
}

static const struct virtio_dev_ops net_ops = {
	.device_id = VIRTIO_ID_NET,
	.features = (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_MAC) |
		(1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
		(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_STATUS),
	.num_queues = NET_QUEUES,
	.queue_max = 256,
	.config_read = net_config_read,
	.notify = net_notify,
	.status = net_status,
	.save = net_save,
	.load = net_load,
};

int virtio_net_add(struct vmm *vm, int tap_fd, struct rt_error **err)
{
	struct ifreq ifr = { 0 };
	int hdr_len = NET_HDR_LEN, fl, r;
	struct net *n;

	/* No tap: a template's NIC, which its clones connect (the guest sends nothing before it
	 * has an address, and what it sends is dropped). */
	if (tap_fd < 0)
		goto add;
	if (ioctl(tap_fd, TUNGETIFF, &ifr) < 0)
		return rt_make_error(err, errno, "virtio-net: not a tap");
	if (!(ifr.ifr_flags & IFF_VNET_HDR) || !(ifr.ifr_flags & IFF_NO_PI))
		return rt_make_error(err, EINVAL, "virtio-net: the tap needs IFF_NO_PI and IFF_VNET_HDR");
	if (ioctl(tap_fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
		return rt_make_error(err, errno, "virtio-net: TUNSETVNETHDRSZ");
	/* Until the guest says what it takes, it takes plain frames. */
	if (ioctl(tap_fd, TUNSETOFFLOAD, 0) < 0)
		return rt_make_error(err, errno, "virtio-net: TUNSETOFFLOAD");
	/* The receive path drains the tap until EAGAIN. */
	fl = fcntl(tap_fd, F_GETFL);
	if (fl < 0 || fcntl(tap_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return rt_make_error(err, errno, "virtio-net: tap O_NONBLOCK");
add:
	n = calloc(1, sizeof(*n));
	if (!n)
		return rt_make_error(err, ENOMEM, "virtio-net");
	n->vm = vm;
	n->tap = tap_fd;
	/* A random, locally administered, unicast MAC; the agent may set the container's own. */
	if (getrandom(n->mac, sizeof(n->mac), 0) != sizeof(n->mac)) {
		free(n);
		return rt_make_error(err, errno, "virtio-net: getrandom");
	}
	n->mac[0] = (n->mac[0] & 0xfe) | 0x02;
	pthread_mutex_init(&n->lock, NULL);
	r = virtio_mmio_add(vm, &net_ops, n, &n->dev);
	if (r < 0) {
		pthread_mutex_destroy(&n->lock);
		free(n);
		return rt_make_error(err, -r, "virtio-net: add device");
	}
	if (vmm_on_free(vm, net_free, n) < 0)
		rt_debug("virtio-net: not freed with the VM, ignoring");
	r = tap_fd < 0 ? 0 : vmm_io_watch(vm, tap_fd, POLLIN, net_rx, n);
	if (r < 0)
		return rt_make_error(err, -r, "virtio-net: watch the tap");
	return 0;
}
