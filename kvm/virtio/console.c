/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-console with VIRTIO_CONSOLE_F_MULTIPORT (virtio 1.1 5.3), shaped by what Linux's
 * drivers/char/virtio_console.c expects:
 *   queues 0/1: port 0 receive/transmit: the console (hvc0); its output goes to the log fd;
 *   queues 2/3: control receive (to the driver) / control transmit (from the driver);
 *   queues 4/5: port 1 receive/transmit: the named port, relayed to a host stream socket.
 *
 * The handshake: the driver fills queue 2 and sends DEVICE_READY; we answer PORT_ADD per
 * port; the driver sets the port up and answers PORT_READY; we then make port 0 the console
 * (CONSOLE_PORT) and give port 1 its name (PORT_NAME: the sysfs "name" the agent looks for)
 * and, while the host socket is connected, PORT_OPEN 1. The driver sends PORT_OPEN when a
 * guest program opens or closes port 1: Linux throws away what arrives on a closed generic
 * port, so host data waits in the socket until the port is open.
 *
 * The control transmit and console queues are served at once on the notifying vCPU, because
 * Linux spins until they are used (__send_control_msg, put_chars). Port 1's transmit is not
 * (its writers sleep on a full queue), so when the socket is full we keep the chain being
 * written and wait for POLLOUT, and the guest's own queue is the buffer: nothing here grows
 * and no vCPU waits on the host. Host->guest data is read only while the guest has receive
 * buffers; without them the socket is not watched, and the host's writes back up.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "kvm/device.h"
#include "kvm/state.h"
#include "kvm/virtio/virtio.h"
#include "kvm/virtio/virtqueue.h"

enum { Q_CONS_RX, Q_CONS_TX, Q_CTRL_RX, Q_CTRL_TX, Q_PORT_RX, Q_PORT_TX, CONSOLE_QUEUES };

#define CONSOLE_PORTS 2 /* port 0 the console, port 1 the named port */
#define PORT_NAME_MAX 255
#define CTRL_PENDING 16 /* control messages waiting for a receive buffer */
#define BATCH 256       /* chains handled per call, so the I/O thread moves on */

struct ctrl_msg {
	uint8_t data[sizeof(struct virtio_console_control) + PORT_NAME_MAX];
	size_t len;
};

struct console {
	struct vmm *vm;
	struct virtio_dev *dev;
	pthread_mutex_t lock;
	int log_fd, fd;
	bool fd_is_socket;
	char name[PORT_NAME_MAX + 1];
	/* Under lock: */
	bool running;
	bool port_ready[CONSOLE_PORTS]; /* the driver set the port up (PORT_READY 1) */
	bool guest_open;                /* a guest program has port 1 open */
	bool host_open;                 /* the socket is still connected */
	bool rx_starved;                /* port 1 had no receive buffer at the last try */
	bool kick;                      /* chains were pushed: interrupt before unlocking */
	short events;                   /* what the I/O-thread watch asks for now */
	bool tx_held;                   /* port 1: the chain in tx is partly written */
	size_t tx_off;
	struct virtq_chain tx;
	struct ctrl_msg ctrl[CTRL_PENDING];
	unsigned ctrl_head, ctrl_n;
};

static void console_io(void *opaque, short revents);

static ssize_t fd_readv(struct console *c, const struct iovec *iov, unsigned n)
{
	if (c->fd_is_socket) {
		struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };

		return recvmsg(c->fd, &mh, MSG_DONTWAIT);
	}
	return readv(c->fd, iov, n); /* O_NONBLOCK, set at add */
}

static ssize_t fd_writev(struct console *c, const struct iovec *iov, unsigned n)
{
	if (c->fd_is_socket) {
		struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };

		/* MSG_NOSIGNAL: a peer that went away is EPIPE here, not a SIGPIPE for the
		 * whole monitor. */
		return sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	return writev(c->fd, iov, n);
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* --- control messages ------------------------------------------------------------------- */

/* Hand pending control messages to the driver's control receive buffers; what finds none waits
 * for the next notify on that queue. */
static void ctrl_flush(struct console *c)
{
	struct virtq *q = virtio_queue(c->dev, Q_CTRL_RX);
	struct virtq_chain ch;

	while (q && c->ctrl_n > 0) {
		struct ctrl_msg *m = &c->ctrl[c->ctrl_head];
		size_t n;
		int r = virtq_pop(q, &ch);

		if (r < 0) {
			virtio_fail(c->dev, "control receive queue: malformed chain");
			return;
		}
		if (r == 0)
			return;
		n = iov_from_buf(ch.in, ch.n_in, 0, m->data, m->len);
		virtq_push(q, &ch, n);
		c->kick = true;
		c->ctrl_head = (c->ctrl_head + 1) % CTRL_PENDING;
		c->ctrl_n--;
	}
}

static void ctrl_send(struct console *c, uint32_t id, uint16_t event, uint16_t value, const char *extra)
{
	struct virtio_console_control m = { .id = htole32(id), .event = htole16(event), .value = htole16(value) };
	size_t extra_len = extra ? strlen(extra) : 0;
	struct ctrl_msg *slot;

	/* Only a driver that ignores our messages (never gives receive buffers) while sending
	 * its own fills this up; it loses what does not fit. */
	if (c->ctrl_n == CTRL_PENDING) {
		rt_debug("virtio-console: control message %u for port %u dropped", event, id);
		return;
	}
	slot = &c->ctrl[(c->ctrl_head + c->ctrl_n) % CTRL_PENDING];
	memcpy(slot->data, &m, sizeof(m));
	/* PORT_NAME: the name follows the header; Linux takes its length from the buffer's. */
	if (extra_len)
		memcpy(slot->data + sizeof(m), extra, extra_len);
	slot->len = sizeof(m) + extra_len;
	c->ctrl_n++;
	ctrl_flush(c);
}

static void port_rx(struct console *c);

static void ctrl_handle(struct console *c, const struct virtio_console_control *m)
{
	uint32_t id = le32toh(m->id);
	uint16_t event = le16toh(m->event), value = le16toh(m->value);

	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (!value) /* the driver failed to set itself up */
			break;
		for (uint32_t i = 0; i < CONSOLE_PORTS; i++)
			ctrl_send(c, i, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
		break;
	case VIRTIO_CONSOLE_PORT_READY:
		if (id >= CONSOLE_PORTS || !value)
			break;
		c->port_ready[id] = true;
		if (id == 0) {
			ctrl_send(c, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL);
			ctrl_send(c, 0, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
		} else {
			ctrl_send(c, id, VIRTIO_CONSOLE_PORT_NAME, 1, c->name);
			if (c->host_open)
				ctrl_send(c, id, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
		}
		break;
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (id != 1)
			break;
		c->guest_open = value != 0;
		if (c->guest_open) {
			c->rx_starved = false;
			port_rx(c);
		}
		break;
	default: /* nothing else from the driver concerns us */ break;
	}
}

static void ctrl_tx(struct console *c)
{
	struct virtq *q = virtio_queue(c->dev, Q_CTRL_TX);
	struct virtq_chain ch;

	for (unsigned i = 0; q && i < BATCH; i++) {
		struct virtio_console_control m;
		int r = virtq_pop(q, &ch);

		if (r < 0) {
			virtio_fail(c->dev, "control transmit queue: malformed chain");
			return;
		}
		if (r == 0)
			return;
		/* A short message is ignored, as QEMU does; it still gets used. */
		if (iov_to_buf(ch.out, ch.n_out, 0, &m, sizeof(m)) == sizeof(m))
			ctrl_handle(c, &m);
		virtq_push(q, &ch, 0);
		c->kick = true;
	}
}

/* --- port 0: the console ------------------------------------------------------------------ */

static void console_tx(struct console *c)
{
	struct virtq *q = virtio_queue(c->dev, Q_CONS_TX);
	struct virtq_chain ch;

	for (unsigned i = 0; q && i < BATCH; i++) {
		int r = virtq_pop(q, &ch);

		if (r < 0) {
			virtio_fail(c->dev, "console transmit queue: malformed chain");
			return;
		}
		if (r == 0)
			return;
		/* The log is a file: a short or failed write loses console text, not data. */
		if (c->log_fd >= 0 && ch.n_out > 0 && writev(c->log_fd, ch.out, ch.n_out) < 0)
			rt_debug("virtio-console: log write: %m, ignoring");
		virtq_push(q, &ch, 0);
		c->kick = true;
	}
}

/* --- port 1: the host socket ------------------------------------------------------------- */

/* The host end went away: tell the driver, so the guest's reader sees end of file and its
 * poll() POLLHUP (Linux: port->host_connected). */
static void host_closed(struct console *c)
{
	if (!c->host_open)
		return;
	c->host_open = false;
	if (c->port_ready[1])
		ctrl_send(c, 1, VIRTIO_CONSOLE_PORT_OPEN, 0, NULL);
}

/* Host -> guest: read the socket straight into the guest's receive buffers. */
static void port_rx(struct console *c)
{
	struct virtq *q = virtio_queue(c->dev, Q_PORT_RX);
	struct virtq_chain ch;

	for (unsigned i = 0; q && c->guest_open && c->host_open && i < BATCH; i++) {
		ssize_t n;
		int r = virtq_pop(q, &ch);

		if (r < 0) {
			virtio_fail(c->dev, "port receive queue: malformed chain");
			return;
		}
		if (r == 0) {
			c->rx_starved = true; /* resumed by the next notify on the queue */
			return;
		}
		if (ch.in_len == 0) {
			virtio_fail(c->dev, "port receive buffer is not writable");
			return;
		}
		n = fd_readv(c, ch.in, ch.n_in);
		if (n > 0) {
			virtq_push(q, &ch, n);
			c->kick = true;
			continue;
		}
		virtq_unpop(q);
		if (n < 0 && would_block())
			return;
		host_closed(c); /* end of file, or the connection broke */
	}
}

/* Guest -> host: write the transmit chains out, keeping the one the socket did not take. */
static void port_tx(struct console *c)
{
	struct virtq *q = virtio_queue(c->dev, Q_PORT_TX);

	for (unsigned i = 0; q && i < BATCH; i++) {
		if (!c->tx_held) {
			int r = virtq_pop(q, &c->tx);

			if (r < 0) {
				virtio_fail(c->dev, "port transmit queue: malformed chain");
				return;
			}
			if (r == 0)
				return;
			c->tx_held = true;
			c->tx_off = 0;
		}
		if (c->host_open && c->tx_off < c->tx.out_len) {
			struct iovec iov[VIRTQ_CHAIN_MAX];
			unsigned n = iov_slice(iov, VIRTQ_CHAIN_MAX, c->tx.out, c->tx.n_out, c->tx_off, SIZE_MAX);
			ssize_t w = fd_writev(c, iov, n);

			if (w < 0 && would_block())
				return; /* POLLOUT brings us back */
			if (w < 0) {
				host_closed(c);
			} else {
				c->tx_off += w;
				if (c->tx_off < c->tx.out_len)
					return;
			}
		}
		/* All written, or nobody left to write to (the data is dropped). */
		virtq_push(q, &c->tx, 0);
		c->kick = true;
		c->tx_held = false;
	}
}

/* Ask the I/O thread for exactly what we can act on: POLLIN only with somewhere to put the data
 * (else poll would wake us for nothing, over and over), POLLOUT only with data held. */
static void update_watch(struct console *c)
{
	short ev = 0;

	if (c->fd < 0)
		return;
	if (c->running && c->guest_open && c->host_open && !c->rx_starved && virtio_queue(c->dev, Q_PORT_RX))
		ev |= POLLIN;
	if (c->running && c->tx_held && c->host_open && virtio_queue(c->dev, Q_PORT_TX))
		ev |= POLLOUT;
	if (ev == c->events)
		return;
	if (vmm_io_watch(c->vm, c->fd, ev, console_io, c) < 0)
		rt_debug("virtio-console: cannot watch the port socket, retrying later");
	else
		c->events = ev;
}

/* Every entry point ends here, lock held: re-aim the watch, then interrupt for what was used. */
static void finish(struct console *c)
{
	update_watch(c);
	if (c->kick) {
		c->kick = false;
		virtio_notify_used(c->dev);
	}
}

static void console_io(void *opaque, short revents)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (c->running) {
		if (revents & (POLLOUT | POLLHUP | POLLERR))
			port_tx(c);
		if (revents & (POLLIN | POLLHUP | POLLERR))
			port_rx(c);
	}
	finish(c);
	pthread_mutex_unlock(&c->lock);
}

/* --- the virtio device -------------------------------------------------------------------- */

static void console_notify(void *opaque, unsigned q)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (c->running) {
		switch (q) {
		case Q_CONS_TX: console_tx(c); break;
		case Q_CTRL_RX: ctrl_flush(c); break;
		case Q_CTRL_TX: ctrl_tx(c); break;
		case Q_PORT_RX:
			c->rx_starved = false;
			port_rx(c);
			break;
		case Q_PORT_TX: port_tx(c); break;
		default: break; /* Q_CONS_RX: we have no console input */
		}
	}
	finish(c);
	pthread_mutex_unlock(&c->lock);
}

static void console_status(void *opaque, bool running)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->lock);
	c->running = running;
	if (!running) {
		/* Reset: the queues are about to go back to their initial state, and the driver
		 * will redo the handshake. The socket's state is the host's and stays. */
		memset(c->port_ready, 0, sizeof(c->port_ready));
		c->guest_open = c->rx_starved = c->tx_held = false;
		c->ctrl_n = c->ctrl_head = 0;
	}
	update_watch(c);
	pthread_mutex_unlock(&c->lock);
}

static void console_config_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	const struct virtio_console_config cfg = { .max_nr_ports = htole32(CONSOLE_PORTS) };

	(void)opaque;
	virtio_config_copy(&cfg, sizeof(cfg), off, data, len);
}

#define CONSOLE_STATE_MAGIC 0x6e6f6376u /* "vcon" */
#define CONSOLE_STATE_VERSION 1

/* The guest's side of the ports: the handshake done, port 1 open, the control messages it has
 * not taken yet. The host's side (the socket) belongs to the VM that loads it. */
static int console_save(void *opaque, struct kvm_state_buf *out)
{
	struct console *c = opaque;
	int r = 0;

	pthread_mutex_lock(&c->lock);
	/* A chain half written to the socket points into guest RAM as this VM has it: drain
	 * first. */
	if (c->tx_held) {
		r = -EBUSY;
	} else {
		kvm_state_put_header(out, CONSOLE_STATE_MAGIC, CONSOLE_STATE_VERSION);
		for (unsigned i = 0; i < CONSOLE_PORTS; i++)
			kvm_state_put_u8(out, c->port_ready[i]);
		kvm_state_put_u8(out, c->guest_open);
		kvm_state_put_u8(out, (uint8_t)c->ctrl_n);
		for (unsigned i = 0; i < c->ctrl_n; i++) {
			const struct ctrl_msg *m = &c->ctrl[(c->ctrl_head + i) % CTRL_PENDING];

			kvm_state_put_u16(out, (uint16_t)m->len);
			kvm_state_put(out, m->data, m->len);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int console_load(void *opaque, const void *buf, size_t len)
{
	struct console *c = opaque;
	struct kvm_state_reader r;
	bool ready[CONSOLE_PORTS], open;
	struct ctrl_msg msgs[CTRL_PENDING];
	unsigned n;
	int e;

	kvm_state_reader_init(&r, buf, len);
	e = kvm_state_get_header(&r, CONSOLE_STATE_MAGIC, CONSOLE_STATE_VERSION);
	if (e < 0)
		return e;
	for (unsigned i = 0; i < CONSOLE_PORTS; i++) {
		uint8_t v = kvm_state_get_u8(&r);

		if (v > 1)
			return -EBADMSG;
		ready[i] = v;
	}
	e = kvm_state_get_u8(&r);
	n = kvm_state_get_u8(&r);
	if (e > 1 || n > CTRL_PENDING)
		return -EBADMSG;
	open = e;
	for (unsigned i = 0; i < n; i++) {
		msgs[i].len = kvm_state_get_u16(&r);
		/* What ctrl_send() makes: a header, and a port name of at most PORT_NAME_MAX. */
		if (msgs[i].len < sizeof(struct virtio_console_control) || msgs[i].len > sizeof(msgs[i].data) ||
		    !kvm_state_get(&r, msgs[i].data, msgs[i].len))
			return -EBADMSG;
	}
	e = kvm_state_get_end(&r);
	if (e < 0)
		return e;
	pthread_mutex_lock(&c->lock);
	memcpy(c->port_ready, ready, sizeof(ready));
	c->guest_open = open;
	c->rx_starved = c->tx_held = false;
	memcpy(c->ctrl, msgs, n * sizeof(msgs[0]));
	c->ctrl_head = 0;
	c->ctrl_n = n;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void console_free(void *opaque)
{
	struct console *c = opaque;

	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct virtio_dev_ops console_ops = {
	.device_id = VIRTIO_ID_CONSOLE,
	.features = 1ULL << VIRTIO_CONSOLE_F_MULTIPORT,
	.num_queues = CONSOLE_QUEUES,
	.queue_max = 128,
	.config_read = console_config_read,
	.notify = console_notify,
	.status = console_status,
	.save = console_save,
	.load = console_load,
};

int virtio_console_add(struct vmm *vm, int log_fd, const char *port_name, int fd, struct rt_error **err)
{
	size_t len = port_name ? strlen(port_name) : 0;
	struct console *c;
	int r;

	if (len == 0 || len > PORT_NAME_MAX)
		return rt_make_error(err, EINVAL, "virtio-console: port name must have 1 to %d bytes", PORT_NAME_MAX);
	c = calloc(1, sizeof(*c));
	if (!c)
		return rt_make_error(err, ENOMEM, "virtio-console");
	pthread_mutex_init(&c->lock, NULL);
	c->vm = vm;
	c->log_fd = log_fd;
	c->fd = fd;
	memcpy(c->name, port_name, len + 1);
	c->host_open = fd >= 0;
	if (fd >= 0) {
		int type;
		socklen_t sl = sizeof(type);

		/* A socket gets per-call MSG_DONTWAIT; anything else must not block the I/O
		 * thread or a vCPU either. */
		c->fd_is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0;
		if (!c->fd_is_socket && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = virtio_mmio_add(vm, &console_ops, c, &c->dev);
	if (r < 0)
		goto fail;
	if (vmm_on_free(vm, console_free, c) < 0)
		rt_debug("virtio-console: not freed with the VM, ignoring");
	return 0;
fail:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return rt_make_error(err, -r, "virtio-console: add device");
}
