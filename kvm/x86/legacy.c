/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The few legacy PC devices the guest kernel uses (kvm/x86/legacy.h), all on ISA port I/O: a
 * 16550 UART on 0x3f8 (output only) for the console, the i8042's reset line, a read-only CMOS
 * clock, and all-ones for the absent hardware Linux would otherwise wait for. The PIT and the
 * interrupt controllers are KVM's own (kvm/x86/arch.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "base/log.h"
#include "kvm/arch.h"
#include "kvm/x86/layout.h"
#include "kvm/x86/legacy.h"

/* 8250/16550 registers and bits (Linux's include/uapi/linux/serial_reg.h). */
#define UART_IER_THRI 0x02
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI 0x02
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_LSR_TEMT 0x40
#define UART_LSR_THRE 0x20
#define UART_MSR_DCD 0x80
#define UART_MSR_RI 0x40
#define UART_MSR_DSR 0x20
#define UART_MSR_CTS 0x10

struct x86_uart {
	pthread_mutex_t lock;
	struct vmm *vm;
	int fd;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool thr_int; /* the "transmitter empty" interrupt is pending */
	bool irq_level;
	size_t len;
	char buf[512];
};

struct x86_legacy {
	struct x86_uart uart;
	uint8_t cmos_index;
};

/* --- the UART: enough of a 16550 for Linux's 8250 driver, without a FIFO ----------------- */

static void uart_flush(struct x86_uart *u)
{
	size_t off = 0;

	while (u->fd >= 0 && off < u->len) {
		ssize_t n = write(u->fd, u->buf + off, u->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a console that cannot be written loses output, not the VM */
		off += (size_t)n;
	}
	u->len = 0;
}

/* ISA IRQ 4 follows the interrupt condition as a level (KVM_IRQ_LINE); the IOAPIC pin is
 * edge-triggered, so each rise is one interrupt. */
static void uart_update_irq(struct x86_uart *u)
{
	bool level = (u->ier & UART_IER_THRI) && u->thr_int;

	if (level != u->irq_level) {
		int r;

		u->irq_level = level;
		r = vmm_arch_irq_line(u->vm, X86_UART_IRQ, level);
		if (r < 0)
			rt_debug("kvm: UART KVM_IRQ_LINE: %s, ignoring", strerror(-r));
	}
}

static void uart_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct x86_uart *u = opaque;
	uint8_t v = 0;

	memset(data, 0, len);
	if (len != 1)
		return;
	pthread_mutex_lock(&u->lock);
	if ((u->lcr & UART_LCR_DLAB) && off <= 1) {
		v = off == 0 ? u->dll : u->dlm;
	} else {
		switch (off) {
		case 0: /* RBR: the VMM sends the guest nothing */ break;
		case 1: v = u->ier; break;
		case 2: /* IIR; reading it acknowledges a THRE interrupt */
			v = UART_IIR_NO_INT;
			if ((u->ier & UART_IER_THRI) && u->thr_int) {
				v = UART_IIR_THRI;
				u->thr_int = false;
			}
			break;
		case 3: v = u->lcr; break;
		case 4: v = u->mcr; break;
		case 5: /* LSR: every byte is sent the moment it is written */ v = UART_LSR_TEMT | UART_LSR_THRE; break;
		case 6: /* MSR; in loopback, the modem outputs read back (Linux's probe tests it) */
			if (u->mcr & UART_MCR_LOOP)
				v = (u->mcr & 0x01 ? UART_MSR_DSR : 0) | (u->mcr & 0x02 ? UART_MSR_CTS : 0) |
					(u->mcr & 0x04 ? UART_MSR_RI : 0) | (u->mcr & 0x08 ? UART_MSR_DCD : 0);
			else
				v = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
			break;
		case 7: v = u->scr; break;
		}
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	*(uint8_t *)data = v;
}

static void uart_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct x86_uart *u = opaque;
	uint8_t v = *(const uint8_t *)data;

	if (len != 1)
		return;
	pthread_mutex_lock(&u->lock);
	if ((u->lcr & UART_LCR_DLAB) && off <= 1) {
		*(off == 0 ? &u->dll : &u->dlm) = v;
	} else {
		switch (off) {
		case 0: /* THR */
			if (!(u->mcr & UART_MCR_LOOP)) {
				u->buf[u->len++] = (char)v;
				if (v == '\n' || u->len == sizeof(u->buf))
					uart_flush(u);
			}
			u->thr_int = true;
			break;
		case 1:
			/* Enabling the THRE interrupt with the transmitter empty raises it at once:
			 * Linux's 8250 startup checks that (UART_BUG_THRE). */
			if (!(u->ier & UART_IER_THRI) && (v & UART_IER_THRI))
				u->thr_int = true;
			u->ier = v & 0x0f;
			break;
		case 2: /* FCR: no FIFO, so the driver sees a 16450 */ break;
		case 3: u->lcr = v; break;
		case 4: u->mcr = v & 0x1f; break;
		case 7: u->scr = v; break;
		}
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static const struct vmm_mmio_ops uart_ops = { .read = uart_read, .write = uart_write };

/* --- absent hardware that Linux would otherwise wait for ---------------------------------- */

/* All ones, as a floating bus reads. For the i8042: a status of 0xff (output buffer always
 * full) makes Linux's i8042_flush() give up at once ("No controller found"); with 0 its driver
 * waits 1.5 s of boot for a reply to its first command (measured). reboot=k still resets:
 * kb_wait() stops waiting after ~130 ms and writes 0xfe anyway. For PCI configuration ports
 * 0xcf8-0xcff: with zeros Linux takes mechanism #2 for present and reads through ports
 * 0xc000-0xcfff looking for devices (measured); with all ones it finds no PCI at once. */
static void absent_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0xff, len);
}

static const struct vmm_mmio_ops absent_ops = { .read = absent_read };

/* The i8042's command port, 0x64: command 0xfe pulses the CPU reset line. */
static void i8042_command(void *opaque, uint64_t off, const void *data, unsigned len)
{
	(void)off;
	if (len == 1 && *(const uint8_t *)data == 0xfe)
		vmm_exit_with(opaque, 0, "the guest rebooted (i8042 reset)");
}

static const struct vmm_mmio_ops i8042_command_ops = { .read = absent_read, .write = i8042_command };

/* --- CMOS: a read-only RTC in BCD, 24-hour (kvmclock gives Linux its time; this is for
 * code that reads the RTC, and so that no one polls a missing one for "update in progress") */

static uint8_t bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static void cmos_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	time_t now = time(NULL);
	struct tm tm;
	uint8_t v = 0;

	memset(data, 0, len);
	if (len != 1 || off != 1)
		return;
	gmtime_r(&now, &tm);
	switch (__atomic_load_n((uint8_t *)opaque, __ATOMIC_RELAXED)) {
	case 0x00: v = bcd(tm.tm_sec); break;
	case 0x02: v = bcd(tm.tm_min); break;
	case 0x04: v = bcd(tm.tm_hour); break;
	case 0x06: v = bcd(tm.tm_wday + 1); break;
	case 0x07: v = bcd(tm.tm_mday); break;
	case 0x08: v = bcd(tm.tm_mon + 1); break;
	case 0x09: v = bcd(tm.tm_year % 100); break;
	case 0x0a: v = 0x26; break; /* 32.768 kHz, 1024 Hz, update not in progress */
	case 0x0b: v = 0x02; break; /* 24-hour, BCD */
	case 0x0d: v = 0x80; break; /* valid RAM and time */
	case 0x32: v = bcd((tm.tm_year + 1900) / 100); break;
	}
	*(uint8_t *)data = v;
}

static void cmos_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	/* Bit 7 of the index is the NMI mask, meaningless here. Writes to the RTC are dropped. */
	if (len == 1 && off == 0)
		__atomic_store_n((uint8_t *)opaque, *(const uint8_t *)data & 0x7f, __ATOMIC_RELAXED);
}

static const struct vmm_mmio_ops cmos_ops = { .read = cmos_read, .write = cmos_write };

int x86_legacy_init(struct vmm *vm, struct x86_legacy **ret)
{
	struct x86_legacy *l = g_new0(struct x86_legacy, 1);

	pthread_mutex_init(&l->uart.lock, NULL);
	l->uart.vm = vm;
	l->uart.fd = vmm_console_fd(vm);
	/* Owned by the caller from here on, registered or not: x86_legacy_free() undoes it. */
	*ret = l;
	if (vmm_pio_register(vm, X86_UART_PORT, 8, &uart_ops, &l->uart) < 0 ||
	    vmm_pio_register(vm, X86_I8042_COMMAND_PORT, 1, &i8042_command_ops, vm) < 0 ||
	    vmm_pio_register(vm, X86_I8042_DATA_PORT, 1, &absent_ops, NULL) < 0 ||
	    vmm_pio_register(vm, X86_PCI_CONFIG_PORT, 8, &absent_ops, NULL) < 0 ||
	    vmm_pio_register(vm, X86_CMOS_PORT, 2, &cmos_ops, &l->cmos_index) < 0)
		return -ENOSPC;
	return 0;
}

void x86_legacy_free(struct x86_legacy *l)
{
	if (!l)
		return;
	uart_flush(&l->uart);
	pthread_mutex_destroy(&l->uart.lock);
	g_free(l);
}
