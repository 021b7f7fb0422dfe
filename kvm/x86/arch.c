/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The x86_64 hooks of the VMM (kvm/arch.h): in-kernel irqchip and PIT, CPUID, interrupt lines,
 * the boot (kvm/x86/boot.c), the legacy devices (kvm/x86/legacy.c), and a vCPU's state saved
 * and loaded. The layout hooks are in kvm/x86/layout.c.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <glib.h>

#include "base/error.h"
#include "kvm/arch.h"
#include "kvm/state.h"
#include "kvm/x86/boot.h"
#include "kvm/x86/layout.h"
#include "kvm/x86/legacy.h"

#define X86_EFLAGS_IF 0x200ULL
#define KVM_CPUID_SIGNATURE 0x40000000u

struct x86_state {
	struct x86_legacy *legacy;
	struct kvm_cpuid2 *cpuid; /* what KVM supports, the base of every vCPU's */
	bool tsc_deadline;
};

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
	s->cpuid = supported_cpuid(vmm_kvm_fd(vm), err);
	if (!s->cpuid)
		return -1;
	s->tsc_deadline = ioctl(vmm_kvm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	if (x86_legacy_init(vm, &s->legacy) < 0)
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
			.function = KVM_CPUID_SIGNATURE,
			.eax = KVM_CPUID_SIGNATURE + 1,
			.ebx = 0x4b4d564b,
			.ecx = 0x564b4d56,
			.edx = 0x4d, /* "KVMKVMKVM\0\0\0" */
		};
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){ .function = KVM_CPUID_SIGNATURE + 1 };
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		return rt_make_error(err, errno, "KVM_SET_CPUID2 on vCPU %u", id);
	return 0;
}

int vmm_arch_irq_line(struct vmm *vm, unsigned irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	return ioctl(vmm_vm_fd(vm), KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

bool vmm_arch_exit(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_run *run)
{
	struct kvm_regs regs;

	if (run->exit_reason == KVM_EXIT_SHUTDOWN) {
		/* A triple fault: how `reboot=t` resets the machine, and how a wrecked guest ends. */
		vmm_exit_with(vm, 0, "the guest reset the machine (triple fault, vCPU %u)", id);
		return false;
	}
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
	x86_legacy_free(s->legacy);
	g_free(s->cpuid);
	g_free(s);
	vmm_set_arch_state(vm, NULL);
}

int vmm_arch_load(struct vmm *vm, const char *kernel, const char *initrd, const char *cmdline, struct rt_error **err)
{
	struct x86_state *s = vmm_arch_state(vm);
	const struct kvm_cpuid_entry2 *leaf1 = cpuid_find(s->cpuid, 1);

	return x86_boot_load(vm, leaf1 ? leaf1->eax : 0, leaf1 ? leaf1->edx : 0, kernel, initrd, cmdline, err);
}

/* --- a vCPU's state ------------------------------------------------------------------------ */

#define X86_VCPU_STATE_MAGIC 0x56363878u /* "x86V" */
#define X86_VCPU_STATE_VERSION 1

#define MSR_TSC_DEADLINE 0x6e0u /* IA32_TSC_DEADLINE */

/* The MSRs a Linux guest sets and KVM does not put in sregs (EFER, APIC base): the syscall
 * entry points, the kernel's GS base, the TSC and its deadline, PAT, and kvmclock's two. Each
 * is saved only where this host's KVM reads it. */
static const uint32_t saved_msrs[] = {
	0x10,  /* IA32_TSC */
	0x174, /* IA32_SYSENTER_CS */
	0x175, /* IA32_SYSENTER_ESP */
	0x176, /* IA32_SYSENTER_EIP */
	0x1a0, /* IA32_MISC_ENABLE */
	0x277, /* IA32_PAT */
	MSR_TSC_DEADLINE,
	0xc0000081, /* STAR */
	0xc0000082, /* LSTAR */
	0xc0000083, /* CSTAR */
	0xc0000084, /* SYSCALL_MASK */
	0xc0000102, /* KERNEL_GS_BASE */
	0x4b564d00, /* KVM wall clock */
	0x4b564d01, /* KVM system time */
};
#define N_SAVED_MSRS (sizeof(saved_msrs) / sizeof(saved_msrs[0]))

struct x86_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	bool has_xsave; /* the host has KVM_CAP_XSAVE and KVM_CAP_XCRS: AVX and later state too */
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	uint32_t n_msrs;
	struct kvm_msr_entry msrs[N_SAVED_MSRS];
};

/* The kernel's structs as they are (this is a record for the same host architecture), each
 * behind its size, so that a record from a kernel whose struct differs is refused. */
static void put_raw(struct kvm_state_buf *b, const void *p, size_t len)
{
	kvm_state_put_u32(b, (uint32_t)len);
	kvm_state_put(b, p, len);
}

static bool get_raw(struct kvm_state_reader *r, void *p, size_t len)
{
	return kvm_state_get_u32(r) == len && kvm_state_get(r, p, len);
}

static bool has_xsave(struct vmm *vm)
{
	return ioctl(vmm_kvm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0 &&
		ioctl(vmm_kvm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
}

int vmm_arch_vcpu_save(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_state_buf *out)
{
	g_autofree struct x86_vcpu_state *s = g_new0(struct x86_vcpu_state, 1);

	(void)id;
	s->has_xsave = has_xsave(vm);
	if (s->has_xsave &&
	    (ioctl(vcpu_fd, KVM_GET_XSAVE, &s->xsave) < 0 || ioctl(vcpu_fd, KVM_GET_XCRS, &s->xcrs) < 0))
		return -errno;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &s->regs) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s->sregs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_FPU, &s->fpu) < 0 || ioctl(vcpu_fd, KVM_GET_LAPIC, &s->lapic) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_MP_STATE, &s->mp) < 0 || ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		return -errno;
	for (size_t i = 0; i < N_SAVED_MSRS; i++) {
		struct {
			struct kvm_msrs h;
			struct kvm_msr_entry e;
		} one = { .h.nmsrs = 1, .e.index = saved_msrs[i] };

		/* One at a time: KVM_GET_MSRS stops at the first MSR it does not know. */
		if (ioctl(vcpu_fd, KVM_GET_MSRS, &one) == 1)
			s->msrs[s->n_msrs++] = one.e;
	}
	kvm_state_put_header(out, X86_VCPU_STATE_MAGIC, X86_VCPU_STATE_VERSION);
	put_raw(out, &s->regs, sizeof(s->regs));
	put_raw(out, &s->sregs, sizeof(s->sregs));
	put_raw(out, &s->fpu, sizeof(s->fpu));
	kvm_state_put_u8(out, s->has_xsave);
	if (s->has_xsave) {
		put_raw(out, &s->xsave, sizeof(s->xsave));
		put_raw(out, &s->xcrs, sizeof(s->xcrs));
	}
	put_raw(out, &s->lapic, sizeof(s->lapic));
	put_raw(out, &s->mp, sizeof(s->mp));
	put_raw(out, &s->events, sizeof(s->events));
	kvm_state_put_u32(out, s->n_msrs);
	for (uint32_t i = 0; i < s->n_msrs; i++) {
		kvm_state_put_u32(out, s->msrs[i].index);
		kvm_state_put_u64(out, s->msrs[i].data);
	}
	return kvm_state_buf_error(out);
}

static bool msr_saved(uint32_t index)
{
	for (size_t i = 0; i < N_SAVED_MSRS; i++)
		if (saved_msrs[i] == index)
			return true;
	return false;
}

int vmm_arch_vcpu_load(struct vmm *vm, unsigned id, int vcpu_fd, const void *buf, size_t len)
{
	g_autofree struct x86_vcpu_state *s = g_new0(struct x86_vcpu_state, 1);
	g_autofree struct kvm_msrs *msrs = NULL;
	struct kvm_msr_entry deadline = { 0 };
	struct kvm_state_reader r;
	int e;

	(void)id;
	kvm_state_reader_init(&r, buf, len);
	e = kvm_state_get_header(&r, X86_VCPU_STATE_MAGIC, X86_VCPU_STATE_VERSION);
	if (e < 0)
		return e;
	if (!get_raw(&r, &s->regs, sizeof(s->regs)) || !get_raw(&r, &s->sregs, sizeof(s->sregs)) ||
	    !get_raw(&r, &s->fpu, sizeof(s->fpu)))
		return -EBADMSG;
	e = kvm_state_get_u8(&r);
	/* A record with XSAVE state only where this host takes it: without, AVX state would be
	 * lost silently. */
	if (e > 1 || (e && !has_xsave(vm)))
		return -EBADMSG;
	s->has_xsave = e;
	if (s->has_xsave &&
	    (!get_raw(&r, &s->xsave, sizeof(s->xsave)) || !get_raw(&r, &s->xcrs, sizeof(s->xcrs)) ||
	     s->xcrs.nr_xcrs > KVM_MAX_XCRS))
		return -EBADMSG;
	if (!get_raw(&r, &s->lapic, sizeof(s->lapic)) || !get_raw(&r, &s->mp, sizeof(s->mp)) ||
	    !get_raw(&r, &s->events, sizeof(s->events)))
		return -EBADMSG;
	s->n_msrs = kvm_state_get_u32(&r);
	if (s->n_msrs > N_SAVED_MSRS)
		return -EBADMSG;
	for (uint32_t i = 0; i < s->n_msrs; i++) {
		s->msrs[i].index = kvm_state_get_u32(&r);
		s->msrs[i].data = kvm_state_get_u64(&r);
		/* Only the MSRs we save: a record must not reach any other (the guest's view of
		 * the host's features, say). */
		if (!msr_saved(s->msrs[i].index))
			return -EBADMSG;
	}
	e = kvm_state_get_end(&r);
	if (e < 0)
		return e;
	/* KVM checks the values (control registers, segment attributes, MP state) itself and
	 * refuses what the hardware would not take. The order is QEMU's: the APIC base in sregs
	 * before the LAPIC, the MP state and events after it, and the TSC deadline last: KVM
	 * ignores a write of it unless the LAPIC's timer is in TSC-deadline mode, which only the
	 * LAPIC's state sets (without it, a guest idle on its deadline timer never wakes). */
	msrs = g_malloc0(sizeof(*msrs) + s->n_msrs * sizeof(msrs->entries[0]));
	for (uint32_t i = 0; i < s->n_msrs; i++)
		if (s->msrs[i].index == MSR_TSC_DEADLINE)
			deadline = s->msrs[i];
		else
			msrs->entries[msrs->nmsrs++] = s->msrs[i];
	if (ioctl(vcpu_fd, KVM_SET_REGS, &s->regs) < 0 || ioctl(vcpu_fd, KVM_SET_FPU, &s->fpu) < 0)
		return -errno;
	/* XSAVE holds the FPU's state too, and more: after it. */
	if (s->has_xsave &&
	    (ioctl(vcpu_fd, KVM_SET_XSAVE, &s->xsave) < 0 || ioctl(vcpu_fd, KVM_SET_XCRS, &s->xcrs) < 0))
		return -errno;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &s->sregs) < 0)
		return -errno;
	e = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
	if (e < 0)
		return -errno;
	if ((uint32_t)e != msrs->nmsrs)
		return -EINVAL;
	if (ioctl(vcpu_fd, KVM_SET_MP_STATE, &s->mp) < 0 || ioctl(vcpu_fd, KVM_SET_LAPIC, &s->lapic) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		return -errno;
	if (deadline.index == MSR_TSC_DEADLINE) {
		msrs->nmsrs = 1;
		msrs->entries[0] = deadline;
		e = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
		if (e != 1)
			return e < 0 ? -errno : -EINVAL;
	}
	return 0;
}

/* --- the platform's state: the in-kernel PIC pair, IOAPIC and PIT, and kvmclock ------------- */

#define X86_PLATFORM_STATE_MAGIC 0x50363878u /* "x86P" */
#define X86_PLATFORM_STATE_VERSION 2

/* KVM_GET_IRQCHIP's chips, in this order. */
static const uint32_t irqchips[] = { KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC };
#define N_IRQCHIPS (sizeof(irqchips) / sizeof(irqchips[0]))

int vmm_arch_platform_save(struct vmm *vm, struct kvm_state_buf *out)
{
	int fd = vmm_vm_fd(vm);
	struct kvm_irqchip chip[N_IRQCHIPS];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };

	for (size_t i = 0; i < N_IRQCHIPS; i++) {
		chip[i] = (struct kvm_irqchip){ .chip_id = irqchips[i] };
		if (ioctl(fd, KVM_GET_IRQCHIP, &chip[i]) < 0)
			return -errno;
	}
	if (ioctl(fd, KVM_GET_PIT2, &pit) < 0 || ioctl(fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;
	kvm_state_put_header(out, X86_PLATFORM_STATE_MAGIC, X86_PLATFORM_STATE_VERSION);
	for (size_t i = 0; i < N_IRQCHIPS; i++)
		put_raw(out, &chip[i], sizeof(chip[i]));
	put_raw(out, &pit, sizeof(pit));
	/* kvmclock's value, so that a restored guest's clock goes on from where it was rather than
	 * from the new VM's zero (a clock that goes back stalls its timers). */
	kvm_state_put_u64(out, clock.clock);
	return kvm_state_buf_error(out);
}

int vmm_arch_platform_load(struct vmm *vm, const void *buf, size_t len)
{
	int fd = vmm_vm_fd(vm);
	struct kvm_irqchip chip[N_IRQCHIPS];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };
	struct kvm_state_reader r;
	int e;

	kvm_state_reader_init(&r, buf, len);
	e = kvm_state_get_header(&r, X86_PLATFORM_STATE_MAGIC, X86_PLATFORM_STATE_VERSION);
	if (e < 0)
		return e;
	for (size_t i = 0; i < N_IRQCHIPS; i++)
		/* Each chip where it was saved from: the id picks the union member KVM reads. */
		if (!get_raw(&r, &chip[i], sizeof(chip[i])) || chip[i].chip_id != irqchips[i])
			return -EBADMSG;
	if (!get_raw(&r, &pit, sizeof(pit)))
		return -EBADMSG;
	clock.clock = kvm_state_get_u64(&r);
	e = kvm_state_get_end(&r);
	if (e < 0)
		return e;
	for (size_t i = 0; i < N_IRQCHIPS; i++)
		if (ioctl(fd, KVM_SET_IRQCHIP, &chip[i]) < 0)
			return -errno;
	if (ioctl(fd, KVM_SET_PIT2, &pit) < 0 || ioctl(fd, KVM_SET_CLOCK, &clock) < 0)
		return -errno;
	return 0;
}
