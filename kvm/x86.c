/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The x86_64 hooks of the VMM (kvm/arch.h): in-kernel irqchip and PIT, CPUID, PVH direct boot
 * of vmlinux (layout and structures in kvm/x86.h), an MP table so that the guest finds its
 * CPUs and IOAPIC without ACPI, and the few legacy devices the guest kernel uses: a 16550 UART
 * on 0x3f8 (output only) for the console, the i8042's reset line and a read-only CMOS clock.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "kvm/arch.h"
#include "kvm/vmm.h"
#include "kvm/x86.h"

#define X86_CR0_PE 0x1ULL
#define X86_CR0_ET 0x10ULL
#define X86_EFLAGS_IF 0x200ULL
#define KVM_CPUID_SIGNATURE 0x40000000u

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

struct x86_state {
	struct x86_uart uart;
	uint8_t cmos_index;
	struct kvm_cpuid2 *cpuid; /* what KVM supports, the base of every vCPU's */
	bool tsc_deadline;
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
		struct kvm_irq_level l = { .irq = X86_UART_IRQ, .level = level };

		u->irq_level = level;
		if (ioctl(vmm_vm_fd(u->vm), KVM_IRQ_LINE, &l) < 0)
			rt_debug("kvm: UART KVM_IRQ_LINE: %s, ignoring", strerror(errno));
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
		case 0: /* RBR: the VMM sends the guest nothing */
			break;
		case 1:
			v = u->ier;
			break;
		case 2: /* IIR; reading it acknowledges a THRE interrupt */
			v = UART_IIR_NO_INT;
			if ((u->ier & UART_IER_THRI) && u->thr_int) {
				v = UART_IIR_THRI;
				u->thr_int = false;
			}
			break;
		case 3:
			v = u->lcr;
			break;
		case 4:
			v = u->mcr;
			break;
		case 5: /* LSR: every byte is sent the moment it is written */
			v = UART_LSR_TEMT | UART_LSR_THRE;
			break;
		case 6: /* MSR; in loopback, the modem outputs read back (Linux's probe tests it) */
			if (u->mcr & UART_MCR_LOOP)
				v = (u->mcr & 0x01 ? UART_MSR_DSR : 0) | (u->mcr & 0x02 ? UART_MSR_CTS : 0) |
				    (u->mcr & 0x04 ? UART_MSR_RI : 0) | (u->mcr & 0x08 ? UART_MSR_DCD : 0);
			else
				v = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
			break;
		case 7:
			v = u->scr;
			break;
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
		case 2: /* FCR: no FIFO, so the driver sees a 16450 */
			break;
		case 3:
			u->lcr = v;
			break;
		case 4:
			u->mcr = v & 0x1f;
			break;
		case 7:
			u->scr = v;
			break;
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

/* --- VM and vCPU setup ------------------------------------------------------------------ */

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd, struct rt_error **err)
{
	for (unsigned n = 128;; n *= 2) {
		struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + n * sizeof(c->entries[0]));

		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		g_free(c);
		if (errno != E2BIG || n >= 4096) {
			rt_make_error(err, errno, "KVM_GET_SUPPORTED_CPUID");
			return NULL;
		}
	}
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function)
			return &c->entries[i];
	return NULL;
}

int vmm_arch_init(struct vmm *vm, struct rt_error **err)
{
	int vm_fd = vmm_vm_fd(vm);
	uint64_t idmap = X86_IDENTITY_MAP_ADDR;
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct x86_state *s;

	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return rt_make_error(err, errno, "KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)X86_TSS_ADDR) < 0)
		return rt_make_error(err, errno, "KVM_SET_TSS_ADDR");
	/* PIC, IOAPIC and LAPICs in the kernel: HLT and interrupt delivery never exit to us. */
	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return rt_make_error(err, errno, "KVM_CREATE_IRQCHIP");
	/* The PIT too (ports 0x40-0x43, and 0x61 as a dummy speaker); Linux calibrates against it. */
	if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return rt_make_error(err, errno, "KVM_CREATE_PIT2");

	s = g_new0(struct x86_state, 1);
	vmm_set_arch_state(vm, s);
	pthread_mutex_init(&s->uart.lock, NULL);
	s->uart.vm = vm;
	s->uart.fd = vmm_console_fd(vm);
	s->cpuid = supported_cpuid(vmm_kvm_fd(vm), err);
	if (!s->cpuid)
		return -1;
	s->tsc_deadline = ioctl(vmm_kvm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	if (vmm_pio_register(vm, X86_UART_PORT, 8, &uart_ops, &s->uart) < 0 ||
	    vmm_pio_register(vm, 0x64, 1, &i8042_command_ops, vm) < 0 ||
	    vmm_pio_register(vm, 0x60, 1, &absent_ops, NULL) < 0 || vmm_pio_register(vm, 0xcf8, 8, &absent_ops, NULL) < 0 ||
	    vmm_pio_register(vm, 0x70, 2, &cmos_ops, &s->cmos_index) < 0)
		return rt_make_error(err, 0, "register the legacy devices' ports");
	return 0;
}

int vmm_arch_vcpu_init(struct vmm *vm, unsigned id, int vcpu_fd, struct rt_error **err)
{
	struct x86_state *s = vmm_arch_state(vm);
	g_autofree struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + (s->cpuid->nent + 2) * sizeof(c->entries[0]));

	memcpy(c, s->cpuid, sizeof(*c) + s->cpuid->nent * sizeof(c->entries[0]));
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* The initial APIC id is the vCPU id, as KVM numbers the LAPICs (and the MP
			 * table lists them); bit 31 of ECX: running under a hypervisor. KVM does not
			 * report the TSC-deadline timer (bit 24) as supported, though its LAPIC
			 * emulates it (QEMU sets it the same way): without it Linux calibrates the
			 * LAPIC timer at boot. */
			e->ebx = (e->ebx & 0x00ffffff) | id << 24;
			e->ecx |= 1u << 31 | (s->tsc_deadline ? 1u << 24 : 0);
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC id, in each topology level */
			e->edx = id;
			break;
		}
	}
	/* The KVM leaves (kvmclock, PV EOI...) that the guest's KVM_GUEST support looks for;
	 * KVM reports them itself, this only covers a kernel that does not. */
	if (!cpuid_find(c, KVM_CPUID_SIGNATURE)) {
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
			.function = KVM_CPUID_SIGNATURE, .eax = KVM_CPUID_SIGNATURE + 1,
			.ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d, /* "KVMKVMKVM\0\0\0" */
		};
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){ .function = KVM_CPUID_SIGNATURE + 1 };
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		return rt_make_error(err, errno, "KVM_SET_CPUID2 on vCPU %u", id);
	return 0;
}

bool vmm_arch_exit(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_run *run)
{
	struct kvm_regs regs;

	if (run->exit_reason != KVM_EXIT_HLT)
		return false;
	/* Only without an in-kernel LAPIC; with interrupts off nothing can wake the vCPU. */
	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) == 0 && (regs.rflags & X86_EFLAGS_IF))
		return true;
	vmm_exit_with(vm, 0, "vCPU %u halted with interrupts off (the guest powered off)", id);
	return false;
}

void vmm_arch_free(struct vmm *vm)
{
	struct x86_state *s = vmm_arch_state(vm);

	if (!s)
		return;
	uart_flush(&s->uart);
	pthread_mutex_destroy(&s->uart.lock);
	g_free(s->cpuid);
	g_free(s);
	vmm_set_arch_state(vm, NULL);
}

/* --- loading ---------------------------------------------------------------------------- */

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The PVH entry in a PT_NOTE segment's notes, or 0. */
static uint64_t pvh_entry(const uint8_t *p, size_t len)
{
	while (len >= 12) {
		uint32_t namesz, descsz, type;
		size_t name_pad, desc_pad;

		memcpy(&namesz, p, 4);
		memcpy(&descsz, p + 4, 4);
		memcpy(&type, p + 8, 4);
		name_pad = ((size_t)namesz + 3) & ~(size_t)3;
		desc_pad = ((size_t)descsz + 3) & ~(size_t)3;
		if (name_pad > len - 12 || desc_pad > len - 12 - name_pad)
			return 0;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(p + 12, "Xen", 4) == 0) {
			const uint8_t *d = p + 12 + name_pad;
			uint32_t e32;
			uint64_t e64;

			/* Linux writes it as a .quad on x86_64 (_ASM_PTR), Xen's spec as 32 bits. */
			if (descsz == 4) {
				memcpy(&e32, d, 4);
				return e32;
			}
			if (descsz == 8) {
				memcpy(&e64, d, 8);
				return e64;
			}
			return 0;
		}
		p += 12 + name_pad + desc_pad;
		len -= 12 + name_pad + desc_pad;
	}
	return 0;
}

/* Load vmlinux's segments at their physical addresses; returns the PVH entry and the end of
 * the highest segment. */
static int load_elf(struct vmm *vm, const char *path, uint64_t *ret_entry, uint64_t *ret_end, struct rt_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	g_autofree Elf64_Phdr *ph = NULL;
	uint64_t entry = 0, end = 0;
	struct stat st;
	Elf64_Ehdr eh;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return rt_make_error(err, errno, "open kernel `%s`", path);
	r = pread_full(fd, &eh, sizeof(eh), 0);
	if (r < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return rt_make_error(err, 0, "kernel `%s` is not an x86_64 ELF vmlinux", path);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64)
		return rt_make_error(err, 0, "kernel `%s`: unexpected ELF program headers", path);
	ph = g_new(Elf64_Phdr, eh.e_phnum);
	r = pread_full(fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff);
	if (r < 0)
		return rt_make_error(err, -r, "read the program headers of `%s`", path);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type == PT_LOAD) {
			void *dst = vmm_guest_ptr(vm, p->p_paddr, p->p_memsz);

			/* Below 1 MiB live the boot structures; the rest of RAM starts zeroed, so
			 * the part beyond p_filesz (bss) needs no clearing. */
			if (p->p_offset > (uint64_t)st.st_size || p->p_filesz > (uint64_t)st.st_size - p->p_offset)
				return rt_make_error(err, 0, "kernel `%s` is truncated: a segment ends past the end of the file",
						     path);
			if (!dst || p->p_paddr < X86_HIMEM_START || p->p_filesz > p->p_memsz)
				return rt_make_error(err, 0,
						     "kernel `%s`: segment at 0x%llx (%llu bytes) does not fit in %llu MiB of guest RAM",
						     path, (unsigned long long)p->p_paddr, (unsigned long long)p->p_memsz,
						     (unsigned long long)(vmm_ram_low(vm) >> 20));
			r = pread_full(fd, dst, p->p_filesz, p->p_offset);
			if (r < 0)
				return rt_make_error(err, -r, "read kernel `%s`", path);
			end = MAX(end, p->p_paddr + p->p_memsz);
		} else if (p->p_type == PT_NOTE && !entry && p->p_filesz <= 65536) {
			g_autofree uint8_t *notes = g_malloc(p->p_filesz);

			r = pread_full(fd, notes, p->p_filesz, p->p_offset);
			if (r < 0)
				return rt_make_error(err, -r, "read kernel `%s`", path);
			entry = pvh_entry(notes, p->p_filesz);
		}
	}
	if (!entry)
		return rt_make_error(err, 0, "kernel `%s` has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY; CONFIG_PVH=y)",
				     path);
	if (entry >= end || entry < X86_HIMEM_START)
		return rt_make_error(err, 0, "kernel `%s`: PVH entry 0x%llx is outside its segments", path,
				     (unsigned long long)entry);
	*ret_entry = entry;
	*ret_end = end;
	return 0;
}

/* The initrd at the top of RAM, page-aligned, above the kernel. */
static int load_initrd(struct vmm *vm, const char *path, uint64_t kernel_end, uint64_t *ret_addr, uint64_t *ret_size,
		       struct rt_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t ram = vmm_ram_low(vm), addr, size;
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return rt_make_error(err, errno, "open initrd `%s`", path);
	size = (uint64_t)st.st_size;
	addr = (ram - MIN(size, ram)) & ~0xfffULL;
	if (size == 0 || size > ram || addr < ((kernel_end + 0xfff) & ~0xfffULL))
		return rt_make_error(err, 0, "initrd `%s` (%llu bytes) does not fit in guest RAM above the kernel", path,
				     (unsigned long long)size);
	r = pread_full(fd, vmm_guest_ptr(vm, addr, size), size, 0);
	if (r < 0)
		return rt_make_error(err, -r, "read initrd `%s`", path);
	*ret_addr = addr;
	*ret_size = size;
	return 0;
}

static uint8_t checksum(const void *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += ((const uint8_t *)p)[i];
	return (uint8_t)-sum;
}

/* The MP table: every vCPU (APIC id = vCPU id, 0 boots), one ISA bus, the IOAPIC, each IOAPIC
 * pin routed to the ISA IRQ of the same number (KVM's default GSI routing is the identity: the
 * PIT is GSI 0 on pin 0, the UART pin 4, virtio-mmio devices VMM_MMIO_IRQ_BASE up), and the
 * LAPICs' LINT0 as ExtINT (the PIC), LINT1 as NMI. Linux reads it without ACPI. */
static void write_mptable(struct vmm *vm, struct kvm_cpuid2 *cpuid)
{
	unsigned ncpus = vmm_nr_vcpus(vm);
	size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) + ncpus * sizeof(struct mpc_cpu) +
		      sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) + (X86_IOAPIC_PINS + 2) * sizeof(struct mpc_intsrc);
	uint8_t *base = vmm_guest_ptr(vm, X86_MPTABLE_ADDR, size), *p;
	struct kvm_cpuid_entry2 *leaf1 = cpuid_find(cpuid, 1);
	struct mpf_intel *mpf = (struct mpf_intel *)base;
	struct mpc_table *mpc = (struct mpc_table *)(mpf + 1);
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t count = 0;

	memset(base, 0, size);
	p = (uint8_t *)(mpc + 1);
	for (unsigned i = 0; i < ncpus; i++, count++, p += sizeof(struct mpc_cpu))
		*(struct mpc_cpu *)p = (struct mpc_cpu){
			.type = MP_PROCESSOR, .apicid = (uint8_t)i, .apicver = 0x14, /* KVM's LAPIC */
			.cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BOOTPROCESSOR : 0),
			.cpufeature = leaf1 ? leaf1->eax : 0, .featureflag = leaf1 ? leaf1->edx : 0,
		};
	*(struct mpc_bus *)p = (struct mpc_bus){ .type = MP_BUS, .busid = 0, .bustype = "ISA   " };
	p += sizeof(struct mpc_bus), count++;
	*(struct mpc_ioapic *)p = (struct mpc_ioapic){
		.type = MP_IOAPIC, .apicid = ioapic_id, .apicver = 0x11, /* KVM's IOAPIC */
		.flags = MP_APIC_USABLE, .apicaddr = (uint32_t)X86_IOAPIC_ADDR,
	};
	p += sizeof(struct mpc_ioapic), count++;
	for (uint8_t pin = 0; pin < X86_IOAPIC_PINS; pin++, count++, p += sizeof(struct mpc_intsrc))
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
			.type = MP_INTSRC, .irqtype = MP_IRQ_INT, .srcbus = 0, .srcbusirq = pin, .dstapic = ioapic_id, .dstirq = pin,
		};
	*(struct mpc_intsrc *)p = (struct mpc_intsrc){ .type = MP_LINTSRC, .irqtype = MP_IRQ_EXTINT, .dstapic = 0xff, .dstirq = 0 };
	p += sizeof(struct mpc_intsrc), count++;
	*(struct mpc_intsrc *)p = (struct mpc_intsrc){ .type = MP_LINTSRC, .irqtype = MP_IRQ_NMI, .dstapic = 0xff, .dstirq = 1 };
	p += sizeof(struct mpc_intsrc), count++;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "RUNVM   ", 8);
	memcpy(mpc->productid, "RUNVM KVM   ", 12);
	mpc->oemcount = count;
	mpc->lapic = (uint32_t)X86_LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(X86_MPTABLE_ADDR + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
}

/* The PVH entry state (start_info.h, "Start of day"): 32-bit protected mode, paging off, flat
 * 4 GiB code and data segments, a valid TR, EFLAGS.IF clear, EBX = start_info. The GDT in
 * memory matches the loaded segments, though Linux loads its own at once. */
static int set_boot_cpu(struct vmm *vm, uint64_t entry, struct rt_error **err)
{
	static const uint64_t gdt[] = {
		0,
		0x00cf9b000000ffffULL, /* 0x08: code, base 0, limit 4 GiB, 32-bit, read/execute */
		0x00cf93000000ffffULL, /* 0x10: data, base 0, limit 4 GiB, read/write */
		0x00008b0000000067ULL, /* 0x18: TSS, base 0, limit 0x67, 32-bit busy */
	};
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
				    .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1 };
	struct kvm_segment data = code;
	struct kvm_segment tr = { .base = 0, .limit = 0x67, .selector = 0x18, .type = 0xb, .present = 1 };
	struct kvm_regs regs = { .rflags = 0x2, .rip = entry, .rbx = X86_START_INFO_ADDR };
	int fd = vmm_vcpu_fd(vm, 0);
	struct kvm_sregs sregs;

	memcpy(vmm_guest_ptr(vm, X86_GDT_ADDR, sizeof(gdt)), gdt, sizeof(gdt));
	data.selector = 0x10;
	data.type = 0x3;
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return rt_make_error(err, errno, "KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tr;
	sregs.gdt.base = X86_GDT_ADDR;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return rt_make_error(err, errno, "KVM_SET_SREGS");
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return rt_make_error(err, errno, "KVM_SET_REGS");
	/* The other vCPUs stay as KVM created them, waiting for the INIT-SIPI that Linux sends. */
	return 0;
}

int vmm_arch_load(struct vmm *vm, const char *kernel, const char *initrd, const char *cmdline, struct rt_error **err)
{
	struct x86_state *s = vmm_arch_state(vm);
	size_t cmdline_len = strlen(cmdline);
	uint64_t ram = vmm_ram_low(vm), high = vmm_ram_size(vm) - ram, entry = 0, kernel_end = 0, initrd_addr = 0,
		 initrd_size = 0;
	struct hvm_start_info *si;
	struct hvm_memmap_table_entry *mm;
	unsigned n = 0;
	int r;

	if (cmdline_len >= X86_CMDLINE_MAX)
		return rt_make_error(err, 0, "the kernel command line is %zu bytes, x86 Linux takes at most %d",
				     cmdline_len, X86_CMDLINE_MAX - 1);
	if (ram <= X86_HIMEM_START)
		return rt_make_error(err, 0, "guest RAM too small to boot a kernel");
	r = load_elf(vm, kernel, &entry, &kernel_end, err);
	if (r < 0)
		return r;
	if (initrd) {
		r = load_initrd(vm, initrd, kernel_end, &initrd_addr, &initrd_size, err);
		if (r < 0)
			return r;
	}
	memcpy(vmm_guest_ptr(vm, X86_CMDLINE_ADDR, cmdline_len + 1), cmdline, cmdline_len + 1);

	/* RAM except the EBDA/BIOS hole below 1 MiB, which holds the MP table. Linux adds the
	 * ISA range 0xa0000-0x100000 as reserved itself. */
	mm = vmm_guest_ptr(vm, X86_MEMMAP_ADDR, X86_MEMMAP_MAX * sizeof(*mm));
	mm[n++] = (struct hvm_memmap_table_entry){ .addr = 0, .size = X86_EBDA_START, .type = XEN_HVM_MEMMAP_TYPE_RAM };
	mm[n++] = (struct hvm_memmap_table_entry){ .addr = X86_EBDA_START, .size = X86_HIMEM_START - X86_EBDA_START,
						   .type = XEN_HVM_MEMMAP_TYPE_RESERVED };
	mm[n++] = (struct hvm_memmap_table_entry){ .addr = X86_HIMEM_START, .size = ram - X86_HIMEM_START,
						   .type = XEN_HVM_MEMMAP_TYPE_RAM };
	if (high)
		mm[n++] = (struct hvm_memmap_table_entry){ .addr = VMM_RAM_HIGH_BASE, .size = high,
							   .type = XEN_HVM_MEMMAP_TYPE_RAM };

	si = vmm_guest_ptr(vm, X86_START_INFO_ADDR, sizeof(*si));
	*si = (struct hvm_start_info){
		.magic = XEN_HVM_START_MAGIC_VALUE, .version = 1, .cmdline_paddr = X86_CMDLINE_ADDR,
		.memmap_paddr = X86_MEMMAP_ADDR, .memmap_entries = n,
	};
	if (initrd) {
		/* The first module is the initrd (Linux's init_pvh_bootparams). */
		*(struct hvm_modlist_entry *)vmm_guest_ptr(vm, X86_MODLIST_ADDR, sizeof(struct hvm_modlist_entry)) =
			(struct hvm_modlist_entry){ .paddr = initrd_addr, .size = initrd_size };
		si->nr_modules = 1;
		si->modlist_paddr = X86_MODLIST_ADDR;
	}
	write_mptable(vm, s->cpuid);
	rt_debug("kvm: vmlinux entry 0x%llx, end 0x%llx, initrd 0x%llx+%llu, cmdline: %s", (unsigned long long)entry,
		 (unsigned long long)kernel_end, (unsigned long long)initrd_addr, (unsigned long long)initrd_size, cmdline);
	return set_boot_cpu(vm, entry, err);
}
