/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMM's run loop on the host's /dev/kvm, with a tiny guest booted the way vmlinux is: an
 * ELF with a PVH note, loaded by the x86 PVH loader and entered in 32-bit protected mode with
 * EBX = start_info. (The PVM hypervisor of the development machines runs such a guest, though
 * not a Linux kernel.) The guest writes to a port and an MMIO region the test registers, reads
 * MMIO, prints on the UART, spins on a counter while the test pauses and resumes it, then ends
 * the VM with an i8042 reset or a triple fault; its vCPU's state, saved while it spins, is loaded
 * into a new VM that goes on counting. Skips where /dev/kvm cannot be opened.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "base/time.h"
#include "hypervisor-backends/backend.h"
#include "kvm/arch.h"
#include "kvm/device.h"
#include "kvm/kvm-backend.h"
#include "kvm/state.h"
#include "kvm/vmm.h"
#include "kvm/x86/boot.h"
#include "kvm/x86/layout.h"
#include "tests/unit/tap.h"

#define GUEST_LOAD 0x100000
#define GUEST_COUNTER 0x200000 /* u32 counter, u32 command: 1 reset, 2 triple fault */
#define TEST_PORT 0x510
#define RAM_MIB 32

/* Assembled from (as --32):
 *	mov $0x514, %edx; mov %ebx, %eax; out %eax, (%dx)	start_info address
 *	mov $0x510, %dx; mov $0x42, %al; out %al, (%dx)
 *	mov $0xdeadbeef, %eax; mov %eax, 0xd0000008		MMIO write
 *	mov 0xd0000010, %eax; mov $0x514, %dx; out %eax, (%dx)	MMIO read, echoed
 *	mov $0x3f8, %dx; "hi\n" out %al, (%dx)			UART
 * spin: incl 0x200000; mov 0x200004, %eax; test %eax, %eax; jz spin
 *	cmp $2, %eax; je triple; mov $0xfe, %al; out %al, $0x64; hlt
 * triple: lidt 0x200008 (limit 0); int3
 */
static const uint8_t guest_code[] = {
	0xba, 0x14, 0x05, 0x00, 0x00, 0x89, 0xd8, 0xef, 0x66, 0xba, 0x10, 0x05, 0xb0, 0x42, 0xee, 0xb8, 0xef,
	0xbe, 0xad, 0xde, 0xa3, 0x08, 0x00, 0x00, 0xd0, 0xa1, 0x10, 0x00, 0x00, 0xd0, 0x66, 0xba, 0x14, 0x05,
	0xef, 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x68, 0xee, 0xb0, 0x69, 0xee, 0xb0, 0x0a, 0xee, 0xff, 0x05, 0x00,
	0x00, 0x20, 0x00, 0xa1, 0x04, 0x00, 0x20, 0x00, 0x85, 0xc0, 0x74, 0xf1, 0x83, 0xf8, 0x02, 0x74, 0x05,
	0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0x0f, 0x01, 0x1d, 0x08, 0x00, 0x20, 0x00, 0xcc,
};

/* What the guest's accesses delivered. Read after vmm_stop() has joined the vCPU threads. */
static struct {
	uint32_t words[4];
	unsigned n_words;
	uint8_t byte;
	unsigned n_bytes;
	uint64_t mmio_w_off, mmio_r_off;
	uint32_t mmio_w_val;
	unsigned mmio_w_len, mmio_r_len;
} seen;

static void port_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	(void)opaque;
	if (off == 4 && len == 4 && seen.n_words < 4)
		memcpy(&seen.words[seen.n_words++], data, 4);
	if (off == 0 && len == 1) {
		seen.byte = *(const uint8_t *)data;
		seen.n_bytes++;
	}
}

static void mmio_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	uint32_t v = 0x11223344;

	(void)opaque;
	seen.mmio_r_off = off;
	seen.mmio_r_len = len;
	memset(data, 0, len);
	memcpy(data, &v, MIN(len, 4u));
}

static void mmio_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	(void)opaque;
	seen.mmio_w_off = off;
	seen.mmio_w_len = len;
	memcpy(&seen.mmio_w_val, data, MIN(len, 4u));
}

/* The I/O thread's callbacks, and vmm_on_free's. */
static int io_calls, freed;

static void io_ready(void *opaque, short revents)
{
	char c;

	if ((revents & POLLIN) && read(*(int *)opaque, &c, 1) == 1)
		__atomic_add_fetch(&io_calls, 1, __ATOMIC_SEQ_CST);
}

static void on_free(void *opaque)
{
	(void)opaque;
	freed++;
}

static bool io_calls_reach(int n)
{
	for (long long end = rv_now_ms() + 5000; rv_now_ms() < end; usleep(1000))
		if (__atomic_load_n(&io_calls, __ATOMIC_SEQ_CST) >= n)
			return true;
	return false;
}

static const struct vmm_mmio_ops port_ops = { .write = port_write };
static const struct vmm_mmio_ops mmio_ops = { .read = mmio_read, .write = mmio_write };

/* An ELF64 like vmlinux: one PT_LOAD at its physical address, a PT_NOTE with a GNU note and
 * then the Xen PVH entry note (8 bytes, as Linux writes it). */
static GBytes *make_elf(bool pvh_note)
{
	uint8_t *img = g_malloc0(512);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	uint8_t *note = img + sizeof(*eh) + 2 * sizeof(*ph), *n = note;
	uint32_t w[3];
	uint64_t entry = GUEST_LOAD;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0xffffffff81000000ULL; /* the 64-bit entry, which PVH does not use */
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;

	w[0] = 4, w[1] = 4, w[2] = NT_GNU_BUILD_ID;
	memcpy(n, w, 12), memcpy(n + 12, "GNU", 4), memcpy(n + 16, "\1\2\3\4", 4), n += 20;
	w[0] = 4, w[1] = 8, w[2] = pvh_note ? XEN_ELFNOTE_PHYS32_ENTRY : 17;
	memcpy(n, w, 12), memcpy(n + 12, "Xen", 4), memcpy(n + 16, &entry, 8), n += 24;
	ph[1] = (Elf64_Phdr){
		.p_type = PT_NOTE, .p_offset = (uint64_t)(note - img), .p_filesz = (uint64_t)(n - note), .p_align = 4
	};

	memcpy(img + 256, guest_code, sizeof(guest_code));
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_offset = 256,
			      .p_vaddr = 0xffffffff81000000ULL,
			      .p_paddr = GUEST_LOAD,
			      .p_filesz = sizeof(guest_code),
			      .p_memsz = 0x2000,
			      .p_flags = PF_R | PF_X,
			      .p_align = 0x1000 };
	return g_bytes_new_take(img, 256 + sizeof(guest_code));
}

/* Wait up to 5 s for the guest's counter to pass @above. */
static bool counter_passes(volatile uint32_t *counter, uint32_t above)
{
	for (long long end = rv_now_ms() + 5000; rv_now_ms() < end; usleep(1000))
		if (*counter > above)
			return true;
	return false;
}

static bool ended_within(struct vmm *vm, int ms)
{
	struct pollfd p = { .fd = vmm_exit_fd(vm), .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* The test VM: 2 vCPUs, the test port and MMIO window; @kernel loaded, or with @ram_fd >= 0 a
 * clone of a saved one's memory, for vmm_restore(). */
static struct vmm *new_vm_over(int ram_fd, int console_fd, const char *kernel, const char *initrd)
{
	struct rt_error *err = NULL;
	struct vmm *vm = NULL;

	if (vmm_new(2, RAM_MIB, false, ram_fd, console_fd, &vm, &err) < 0) {
		ok(0, "vmm_new: %s", err->msg);
		rt_error_free(&err);
		return NULL;
	}
	vmm_cmdline_append(vm, "console=ttyS0 reboot=t");
	vmm_cmdline_append(vm, " test=%d", 1);
	if (vmm_pio_register(vm, TEST_PORT, 8, &port_ops, NULL) < 0 ||
	    vmm_mmio_register(vm, X86_VIRTIO_MMIO_BASE, X86_VIRTIO_MMIO_SIZE, &mmio_ops, NULL) < 0 ||
	    (ram_fd < 0 && vmm_load_kernel(vm, kernel, initrd, &err) < 0)) {
		ok(0, "set the VM up: %s", err ? err->msg : "register");
		rt_error_free(&err);
		return vmm_free(vm);
	}
	return vm;
}

static struct vmm *new_vm(int console_fd, const char *kernel, const char *initrd)
{
	return new_vm_over(-1, console_fd, kernel, initrd);
}

static void test_boot_and_run(const char *dir, const char *kernel, const char *initrd, GBytes *initrd_data)
{
	g_autofree char *console = g_build_filename(dir, "console.log", NULL);
	g_autofree char *log = NULL;
	int console_fd = open(console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct rt_error *err = NULL;
	volatile uint32_t *counter;
	const struct hvm_start_info *si;
	const struct hvm_memmap_table_entry *mm;
	const struct hvm_modlist_entry *mod;
	const struct mpf_intel *mpf;
	const struct mpc_table *mpc;
	const char *reason = "";
	uint32_t c1, c2;
	int status = -1;
	struct vmm *vm;
	int pipefd[2] = { -1, -1 };
	bool r;

	vm = new_vm(console_fd, kernel, initrd);
	if (!vm)
		return;
	ok(vmm_pio_register(vm, TEST_PORT + 4, 1, &port_ops, NULL) == -EEXIST, "an overlapping port range is refused");
	ok(vmm_mmio_register(vm, 0x1000, 0x1000, &mmio_ops, NULL) == -EINVAL, "an MMIO region inside RAM is refused");
	counter = vmm_guest_ptr(vm, GUEST_COUNTER, 16);
	ok(vmm_guest_ptr(vm, (RAM_MIB << 20) - 8, 16) == NULL && vmm_guest_ptr(vm, ~0ULL, 2) == NULL &&
		   vmm_guest_ptr(vm, (RAM_MIB << 20) - 8, 8) != NULL,
	   "vmm_guest_ptr bounds ranges by guest RAM");

	ok(vmm_start(vm, &err) == 0, "vmm_start");
	ok(counter_passes(counter, 0), "the guest runs");
	ok(vmm_pause(vm, &err) == 0, "vmm_pause");
	c1 = counter[0];
	usleep(50 * 1000);
	c2 = counter[0];
	ok(c1 == c2, "paused vCPUs do not run (%u, %u)", c1, c2);
	ok(vmm_resume(vm, &err) == 0, "vmm_resume");
	ok(counter_passes(counter, c2), "resumed vCPUs run again");
	ok(!vmm_ended(vm, NULL, NULL), "the VM has not ended yet");

	/* The I/O thread: a watched fd's callback runs; events 0 stops it. */
	ok(pipe2(pipefd, O_CLOEXEC) == 0 && vmm_io_watch(vm, pipefd[0], POLLIN, io_ready, &pipefd[0]) == 0 &&
		   write(pipefd[1], "x", 1) == 1 && io_calls_reach(1),
	   "vmm_io_watch: the callback runs when its fd is readable");
	ok(vmm_io_watch(vm, pipefd[0], 0, NULL, NULL) == 0 && write(pipefd[1], "y", 1) == 1, "unwatch");
	usleep(50 * 1000);
	ok(__atomic_load_n(&io_calls, __ATOMIC_SEQ_CST) == 1, "an unwatched fd's callback does not run");
	ok(vmm_io_watch(vm, pipefd[0], POLLIN, io_ready, &pipefd[0]) == 0 && io_calls_reach(2),
	   "watching it again delivers what is pending");
	ok(vmm_on_free(vm, on_free, NULL) == 0, "vmm_on_free");

	counter[1] = 1; /* the guest writes 0xfe to port 0x64 */
	ok(ended_within(vm, 5000), "vmm_exit_fd becomes readable when the guest resets through the i8042");
	/* (Each condition is computed before ok(): argument order is unspecified.) */
	r = vmm_ended(vm, &status, &reason) && status == 0 && strstr(reason, "i8042");
	ok(r, "status %d: %s", status, reason);
	r = vmm_pause(vm, &err) < 0 && err && strstr(err->msg, "ended");
	ok(r, "pausing an ended VM fails: %s", err ? err->msg : "");
	rt_error_free(&err);
	vmm_stop(vm);

	ok(seen.n_words == 2 && seen.words[0] == X86_START_INFO_ADDR, "EBX = start_info (0x%x) at entry",
	   seen.words[0]);
	ok(seen.n_bytes == 1 && seen.byte == 0x42, "a port write reaches its handler (0x%x)", seen.byte);
	ok(seen.mmio_w_off == 8 && seen.mmio_w_len == 4 && seen.mmio_w_val == 0xdeadbeef,
	   "an MMIO write reaches its handler (off %llu len %u value 0x%x)", (unsigned long long)seen.mmio_w_off,
	   seen.mmio_w_len, seen.mmio_w_val);
	ok(seen.mmio_r_off == 0x10 && seen.mmio_r_len == 4 && seen.words[1] == 0x11223344,
	   "an MMIO read returns what its handler gave (0x%x)", seen.words[1]);

	si = vmm_guest_ptr(vm, X86_START_INFO_ADDR, sizeof(*si));
	ok(si->magic == XEN_HVM_START_MAGIC_VALUE && si->version == 1, "start_info magic and version");
	ok(si->cmdline_paddr && !strcmp(vmm_guest_ptr(vm, si->cmdline_paddr, 1), "console=ttyS0 reboot=t test=1"),
	   "the command line: %s", (char *)vmm_guest_ptr(vm, si->cmdline_paddr, 1));
	mod = vmm_guest_ptr(vm, si->modlist_paddr, sizeof(*mod));
	ok(si->nr_modules == 1 && mod && mod->size == g_bytes_get_size(initrd_data) && mod->paddr % 4096 == 0 &&
		   mod->paddr + mod->size <= (RAM_MIB << 20) && mod->paddr + mod->size > (RAM_MIB << 20) - 4096 &&
		   !memcmp(vmm_guest_ptr(vm, mod->paddr, mod->size), g_bytes_get_data(initrd_data, NULL), mod->size),
	   "the initrd is module 0, page-aligned at the top of RAM (0x%llx)", mod ? (unsigned long long)mod->paddr : 0);
	mm = vmm_guest_ptr(vm, si->memmap_paddr, si->memmap_entries * sizeof(*mm));
	ok(mm && si->memmap_entries == 3 && mm[0].addr == 0 && mm[0].type == XEN_HVM_MEMMAP_TYPE_RAM &&
		   mm[1].type == XEN_HVM_MEMMAP_TYPE_RESERVED && mm[1].addr <= X86_MPTABLE_ADDR &&
		   mm[1].addr + mm[1].size == X86_HIMEM_START && mm[2].type == XEN_HVM_MEMMAP_TYPE_RAM &&
		   mm[2].addr + mm[2].size == (RAM_MIB << 20),
	   "the memory map: RAM, the reserved hole with the MP table, RAM to the end");

	mpf = vmm_guest_ptr(vm, X86_MPTABLE_ADDR, sizeof(*mpf));
	mpc = vmm_guest_ptr(vm, mpf->physptr, sizeof(*mpc));
	{
		const uint8_t *b = (const uint8_t *)mpf, *t = (const uint8_t *)mpc;
		const struct mpc_cpu *cpu = (const struct mpc_cpu *)(mpc + 1);
		uint8_t sum1 = 0, sum2 = 0;

		for (size_t i = 0; i < sizeof(*mpf); i++)
			sum1 += b[i];
		for (size_t i = 0; mpc && i < mpc->length; i++)
			sum2 += t[i];
		ok(!memcmp(mpf->signature, "_MP_", 4) && sum1 == 0 && mpc && !memcmp(mpc->signature, "PCMP", 4) &&
			   sum2 == 0,
		   "MP floating pointer and table with valid checksums");
		ok(mpc && mpc->oemcount == 2 + 1 + 1 + X86_IOAPIC_PINS + 2 && cpu[0].type == MP_PROCESSOR &&
			   cpu[0].cpuflag == (MP_CPU_ENABLED | MP_CPU_BOOTPROCESSOR) && cpu[1].apicid == 1 &&
			   cpu[1].cpuflag == MP_CPU_ENABLED,
		   "the MP table lists both vCPUs, the bus, the IOAPIC and its routes");
	}
	vm = vmm_free(vm);
	ok(freed == 1, "vmm_free runs the vmm_on_free callbacks");
	close(pipefd[0]);
	close(pipefd[1]);
	close(console_fd);
	ok(g_file_get_contents(console, &log, NULL, NULL) && !strcmp(log, "hi\n"),
	   "the UART's output is in the console log");
}

static void test_triple_fault(const char *kernel)
{
	const char *reason = "";
	int status = -1;
	struct vmm *vm = new_vm(-1, kernel, NULL);
	struct rt_error *err = NULL;
	bool r;

	if (!vm)
		return;
	((volatile uint32_t *)vmm_guest_ptr(vm, GUEST_COUNTER, 8))[1] = 2;
	ok(vmm_start(vm, &err) == 0 && ended_within(vm, 5000), "a triple fault ends the VM");
	if (access("/sys/module/kvm_pvm", F_OK) == 0) {
		/* PVM emulates the guest's exception delivery and gives up instead: that still has
		 * to end the VM, as a failure with its reason. */
		r = vmm_ended(vm, &status, &reason) && status == 1 && strstr(reason, "internal error");
		ok(r, "status %d: %s # SKIP PVM reports a KVM internal error, not KVM_EXIT_SHUTDOWN", status, reason);
	} else {
		r = vmm_ended(vm, &status, &reason) && status == 0 && strstr(reason, "triple fault");
		ok(r, "status %d: %s", status, reason);
	}
	vmm_free(vm);
}

static void test_stop_running(const char *kernel)
{
	struct vmm *vm = new_vm(-1, kernel, NULL);
	struct rt_error *err = NULL;
	const char *reason = "";
	long long t;
	bool r;

	if (!vm)
		return;
	ok(vmm_start(vm, &err) == 0 && counter_passes(vmm_guest_ptr(vm, GUEST_COUNTER, 4), 0), "a spinning guest");
	/* Kicks racing with KVM_RUN entry and exit: none may be lost (a lost one hangs here). */
	r = true;
	for (int i = 0; i < 200 && r; i++)
		r = vmm_pause(vm, &err) == 0 && vmm_resume(vm, &err) == 0;
	ok(r &&
		   counter_passes(vmm_guest_ptr(vm, GUEST_COUNTER, 4),
				  *(volatile uint32_t *)vmm_guest_ptr(vm, GUEST_COUNTER, 4)),
	   "200 pause/resume cycles, and the guest still runs");
	ok(vmm_pause(vm, &err) == 0, "paused");
	t = rv_now_ms();
	vmm_stop(vm);
	r = vmm_ended(vm, NULL, &reason) && strstr(reason, "stopped");
	ok(r, "vmm_stop ends a paused VM: %s", reason);
	vmm_free(vm);
	vm = new_vm(-1, kernel, NULL);
	if (!vm)
		return;
	vmm_start(vm, &err);
	counter_passes(vmm_guest_ptr(vm, GUEST_COUNTER, 4), 0);
	vmm_free(vm);
	ok(rv_now_ms() - t < 2000, "vmm_free stops running vCPUs at once (%lld ms for both)", rv_now_ms() - t);
}

/* More RAM than fits below the 32-bit MMIO hole: 3 GiB at 0, the rest at 4 GiB, in the memory
 * map the guest gets, and nothing in the hole. The guest boots and resets as usual. */
static void test_high_ram(const char *kernel)
{
	const unsigned mib = 3072 + 64;
	const struct hvm_memmap_table_entry *mm;
	const struct hvm_start_info *si;
	struct rt_error *err = NULL;
	struct vmm *vm = NULL;
	uint8_t *low, *high;

	if (vmm_new(1, mib, true, -1, -1, &vm, &err) < 0 || vmm_load_kernel(vm, kernel, NULL, &err) < 0) {
		ok(0, "a %u MiB VM: %s", mib, err->msg);
		rt_error_free(&err);
		vmm_free(vm);
		return;
	}
	low = vmm_guest_ptr(vm, 0, 1);
	high = vmm_guest_ptr(vm, 4ULL << 30, 1);
	ok(vmm_ram_slot(vm, 0)->size + vmm_ram_slot(vm, 1)->size == (uint64_t)mib << 20 &&
		   vmm_ram_slot(vm, 0)->size == 3ULL << 30,
	   "%u MiB: 3072 below the hole", mib);
	ok(vmm_guest_ptr(vm, (3ULL << 30) - 4096, 4096) == low + (3ULL << 30) - 4096 &&
		   !vmm_guest_ptr(vm, (3ULL << 30) - 4096, 8192) && !vmm_guest_ptr(vm, 3ULL << 30, 1) &&
		   !vmm_guest_ptr(vm, (4ULL << 30) - 1, 2),
	   "the hole from 3 GiB is not RAM, and no range spans it");
	ok(high == low + (3ULL << 30) && vmm_guest_ptr(vm, (4ULL << 30) + (64 << 20) - 1, 1) &&
		   !vmm_guest_ptr(vm, (4ULL << 30) + (64 << 20) - 1, 2) &&
		   !vmm_guest_ptr(vm, (4ULL << 30) + (64 << 20), 1),
	   "64 MiB at 4 GiB, backed by the same file after the low part");
	si = vmm_guest_ptr(vm, X86_START_INFO_ADDR, sizeof(*si));
	mm = vmm_guest_ptr(vm, si->memmap_paddr, si->memmap_entries * sizeof(*mm));
	ok(si->memmap_entries == 4 && mm[2].addr + mm[2].size == 3ULL << 30 && mm[3].addr == 4ULL << 30 &&
		   mm[3].size == 64 << 20 && mm[3].type == XEN_HVM_MEMMAP_TYPE_RAM,
	   "the memory map: RAM up to 3 GiB and 64 MiB from 4 GiB");
	((volatile uint32_t *)vmm_guest_ptr(vm, GUEST_COUNTER, 8))[1] = 1;
	ok(vmm_start(vm, &err) == 0 && ended_within(vm, 5000), "it boots and resets");
	vmm_free(vm);
}

static void test_errors(const char *dir, const char *kernel)
{
	g_autofree char *junk = g_build_filename(dir, "junk", NULL);
	g_autofree char *nonote = g_build_filename(dir, "nonote", NULL);
	g_autofree char *missing = g_build_filename(dir, "missing", NULL);
	g_autofree char *trunc = g_build_filename(dir, "trunc", NULL);
	g_autoptr(GBytes) elf = make_elf(false);
	g_autoptr(GBytes) full = make_elf(true);
	struct rt_error *err = NULL;
	struct vmm *vm = NULL;
	bool r;

	r = vmm_new(0, 64, false, -1, -1, &vm, &err) < 0 && vm == NULL;
	ok(r, "0 vCPUs: %s", err ? err->msg : "");
	rt_error_free(&err);
	r = vmm_new(1, 2u << 20, false, -1, -1, &vm, &err) < 0 && vm == NULL;
	ok(r, "2 TiB: %s", err ? err->msg : "");
	rt_error_free(&err);
	g_file_set_contents(junk, "not an ELF", -1, NULL);
	g_file_set_contents(nonote, g_bytes_get_data(elf, NULL), (gssize)g_bytes_get_size(elf), NULL);
	if (vmm_new(1, RAM_MIB, true, -1, -1, &vm, &err) < 0) {
		ok(0, "vmm_new: %s", err->msg);
		rt_error_free(&err);
		return;
	}
	r = vmm_load_kernel(vm, junk, NULL, &err) < 0 && strstr(err->msg, "not an x86_64 ELF");
	ok(r, "%s", err ? err->msg : "");
	rt_error_free(&err);
	r = vmm_load_kernel(vm, nonote, NULL, &err) < 0 && strstr(err->msg, "no PVH entry");
	ok(r, "%s", err ? err->msg : "");
	rt_error_free(&err);
	/* A segment past the end of the file: named as such. */
	g_file_set_contents(trunc, g_bytes_get_data(full, NULL), (gssize)g_bytes_get_size(full) - 10, NULL);
	r = vmm_load_kernel(vm, trunc, NULL, &err) < 0 && strstr(err->msg, "truncated");
	ok(r, "%s", err ? err->msg : "");
	rt_error_free(&err);
	r = vmm_load_kernel(vm, kernel, missing, &err) < 0 && err;
	ok(r, "a missing initrd: %s", err ? err->msg : "");
	rt_error_free(&err);
	vmm_free(vm);
}

/* A vCPU saved while the guest spins, loaded into a fresh VM given the same RAM: the registers
 * compare equal and the guest goes on counting from where it was, then resets when told to.
 * The platform (PIC, IOAPIC, PIT) comes along. */
static void test_vcpu_state(const char *kernel)
{
	/* The platform record's interrupt controllers: its header, then three sized chips. */
	const size_t chips_len = 6 + 3 * (4 + sizeof(struct kvm_irqchip));
	struct kvm_state_buf rec = { 0 }, plat = { 0 }, plat2 = { 0 };
	struct rt_error *err = NULL;
	struct vmm *vm = new_vm(-1, kernel, NULL), *vm2 = NULL;
	struct kvm_regs r1, r2;
	struct kvm_sregs s1, s2;
	volatile uint32_t *counter;
	const char *reason = "";
	uint8_t *bad = NULL;
	int status = -1;
	uint32_t at;
	bool r;

	if (!vm)
		return;
	counter = vmm_guest_ptr(vm, GUEST_COUNTER, 8);
	ok(vmm_start(vm, &err) == 0 && counter_passes(counter, 0), "vCPU state: a spinning guest");
	ok(vmm_vcpu_save(vm, 0, &rec) == -EBUSY && rec.len == 0, "vCPU state: not saved while the vCPU runs");
	ok(vmm_pause(vm, &err) == 0, "vCPU state: paused");
	at = counter[0];
	r = vmm_vcpu_save(vm, 0, &rec) == 0 && rec.len > 0;
	ok(r, "vCPU state: vCPU 0 saved at iteration %u (%zu bytes)", at, rec.len);
	r = vmm_platform_save(vm, &plat) == 0 && plat.len > chips_len;
	ok(r, "vCPU state: the platform saved (%zu bytes)", plat.len);
	r = ioctl(vmm_vcpu_fd(vm, 0), KVM_GET_REGS, &r1) == 0 && ioctl(vmm_vcpu_fd(vm, 0), KVM_GET_SREGS, &s1) == 0;
	vm2 = new_vm(-1, kernel, NULL);
	if (!r || !vm2) {
		ok(0, "vCPU state: a second VM");
		goto out;
	}
	memcpy(vmm_guest_ptr(vm2, 0, RAM_MIB << 20), vmm_guest_ptr(vm, 0, RAM_MIB << 20), RAM_MIB << 20);
	vm = vmm_free(vm);

	r = true;
	for (size_t n = 0; n < rec.len && r; n++)
		r = vmm_vcpu_load(vm2, 0, rec.data, n) == -EBADMSG;
	ok(r, "vCPU state: every truncated record refused");
	bad = g_memdup2(rec.data, rec.len);
	bad[0] ^= 0xff;
	ok(vmm_vcpu_load(vm2, 0, bad, rec.len) == -EBADMSG, "vCPU state: another record's magic refused");
	/* The last entry is an MSR's index and value: one the record must not reach. */
	memcpy(bad, rec.data, rec.len);
	memcpy(bad + rec.len - 12, &(uint32_t){ 0x1b }, 4); /* IA32_APIC_BASE */
	r = vmm_vcpu_load(vm2, 0, bad, rec.len) == -EBADMSG;
	ok(r, "vCPU state: an MSR that is not saved refused");
	ok(vmm_vcpu_load(vm2, 0, rec.data, rec.len) == 0, "vCPU state: loaded into a fresh VM's vCPU 0");
	r = true;
	for (size_t n = 0; n < plat.len && r; n++)
		r = vmm_platform_load(vm2, plat.data, n) == -EBADMSG;
	ok(r, "vCPU state: every truncated platform record refused");
	r = vmm_platform_load(vm2, plat.data, plat.len) == 0 && vmm_platform_save(vm2, &plat2) == 0 &&
		plat2.len == plat.len && !memcmp(plat.data, plat2.data, chips_len);
	ok(r, "vCPU state: the platform loaded, its interrupt controllers compare equal");
	r = ioctl(vmm_vcpu_fd(vm2, 0), KVM_GET_REGS, &r2) == 0 && ioctl(vmm_vcpu_fd(vm2, 0), KVM_GET_SREGS, &s2) == 0 &&
		!memcmp(&r1, &r2, sizeof(r1)) && !memcmp(&s1, &s2, sizeof(s1));
	ok(r, "vCPU state: its registers and segments compare equal (rip 0x%llx, 0x%llx)", (unsigned long long)r1.rip,
	   (unsigned long long)r2.rip);
	counter = vmm_guest_ptr(vm2, GUEST_COUNTER, 8);
	ok(vmm_start(vm2, &err) == 0 && counter_passes(counter, at), "vCPU state: the guest goes on counting from %u",
	   at);
	ok(vmm_vcpu_load(vm2, 0, rec.data, rec.len) == -EBUSY, "vCPU state: a started VM refuses a load");
	counter[1] = 1;
	r = ended_within(vm2, 5000) && vmm_ended(vm2, &status, &reason) && status == 0 && strstr(reason, "i8042");
	ok(r, "vCPU state: and resets when told to: %s", reason);
out:
	rt_error_free(&err);
	g_free(bad);
	kvm_state_buf_release(&rec);
	kvm_state_buf_release(&plat);
	kvm_state_buf_release(&plat2);
	vmm_free(vm2);
	vmm_free(vm);
}

/* A whole VM saved for a template (vmm_save) while its guest counts, and two clones made from
 * it: each maps the saved memory copy-on-write and goes on counting from where the template
 * stopped, and neither writes the template's file. A clone of another shape, and a truncated
 * or altered state, are refused. */
static void test_vm_template(const char *dir, const char *kernel)
{
	g_autofree char *state_path = g_build_filename(dir, "state", NULL);
	g_autofree char *memory_path = g_build_filename(dir, "memory", NULL);
	int state_fd = open(state_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int memory_fd = open(memory_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct vmm *vm = new_vm(-1, kernel, NULL), *clone = NULL;
	g_autofree char *state = NULL;
	struct rt_error *err = NULL;
	volatile uint32_t *counter;
	uint32_t at = 0, in_file = 0;
	const char *reason = "";
	int ro = -1, status = -1;
	gsize state_len = 0;
	struct stat st;
	bool r;

	if (!vm || state_fd < 0 || memory_fd < 0) {
		ok(0, "template: set up");
		goto out;
	}
	counter = vmm_guest_ptr(vm, GUEST_COUNTER, 8);
	ok(vmm_start(vm, &err) == 0 && counter_passes(counter, 0), "template: a spinning guest");
	r = vmm_save(vm, state_fd, memory_fd) == 0;
	at = counter[0];
	ok(r && vmm_ended(vm, &status, &reason), "template: saved at iteration %u, and the VM has ended", at);
	r = fstat(memory_fd, &st) == 0 && st.st_size == RAM_MIB << 20 && st.st_blocks * 512 < (RAM_MIB << 20) / 4 &&
		pread(memory_fd, &in_file, 4, GUEST_COUNTER) == 4 && in_file == at;
	ok(r, "template: the memory file holds the RAM, sparse (%lld of %d KiB written), the counter at %u",
	   (long long)st.st_blocks / 2, RAM_MIB << 10, in_file);
	vm = vmm_free(vm);
	if (!g_file_get_contents(state_path, &state, &state_len, NULL) || state_len == 0) {
		ok(0, "template: read the state back");
		goto out;
	}
	ro = open(memory_path, O_RDONLY | O_CLOEXEC);

	for (int n = 0; n < 2; n++) {
		clone = new_vm_over(ro, -1, kernel, NULL);
		if (!clone)
			goto out;
		counter = vmm_guest_ptr(clone, GUEST_COUNTER, 8);
		r = vmm_restore(clone, state, state_len) == 0 && counter[0] == at && vmm_start(clone, &err) == 0 &&
			counter_passes(counter, at);
		ok(r, "template: clone %d maps the memory and goes on counting from %u (%u)", n + 1, at, counter[0]);
		counter[1] = 1;
		r = ended_within(clone, 5000) && vmm_ended(clone, &status, &reason) && status == 0;
		ok(r, "template: clone %d resets when told to: %s", n + 1, reason);
		clone = vmm_free(clone);
		r = pread(ro, &in_file, 4, GUEST_COUNTER) == 4 && in_file == at;
		ok(r, "template: clone %d's writes stayed its own (the file's counter is still %u)", n + 1, in_file);
	}

	clone = new_vm_over(ro, -1, kernel, NULL);
	r = clone != NULL;
	for (gsize n = 0; r && n < state_len; n += MAX(state_len / 64, 1))
		r = vmm_restore(clone, state, n) < 0;
	ok(r, "template: every truncated state refused");
	state[0] ^= 0xff;
	ok(clone && vmm_restore(clone, state, state_len) == -EBADMSG, "template: another record's magic refused");
	state[0] ^= 0xff;
	clone = vmm_free(clone);
	if (vmm_new(1, RAM_MIB, false, ro, -1, &clone, &err) == 0)
		ok(vmm_restore(clone, state, state_len) == -EBADMSG, "template: a VM with another vCPU count refused");
	else
		ok(0, "template: a 1-vCPU clone: %s", err->msg);
out:
	rt_error_free(&err);
	vmm_free(clone);
	vmm_free(vm);
	for (int *fd[] = { &state_fd, &memory_fd, &ro }, i = 0; i < 3; i++)
		if (*fd[i] >= 0)
			close(*fd[i]);
	unlink(state_path);
	unlink(memory_path);
}

/* The kB of the mapping holding ADDR that huge pages map, from /proc/self/smaps. */
static long huge_kb(const void *addr)
{
	g_autofree char *smaps = NULL;
	g_auto(GStrv) lines = NULL;
	bool in = false;

	if (!g_file_get_contents("/proc/self/smaps", &smaps, NULL, NULL))
		return -1;
	lines = g_strsplit(smaps, "\n", -1);
	for (char **l = lines; *l; l++) {
		unsigned long lo, hi;
		long kb;

		if (sscanf(*l, "%lx-%lx ", &lo, &hi) == 2)
			in = lo <= (uintptr_t)addr && (uintptr_t)addr < hi;
		else if (in && sscanf(*l, "ShmemPmdMapped: %ld kB", &kb) == 1)
			return kb;
	}
	return -1;
}

/* With huge_pages, guest RAM comes from a tmpfs of the VMM's own with huge=always: a write maps
 * 2 MiB at once. Without, a memfd, which the host's default shmem_enabled ("never") leaves in
 * 4 KiB pages. */
static void test_huge_pages(void)
{
	g_autofree char *thp = NULL;
	struct rt_error *err = NULL;

	if (!g_file_get_contents("/sys/kernel/mm/transparent_hugepage/shmem_enabled", &thp, NULL, NULL) ||
	    strstr(thp, "[deny]")) {
		printf("ok %d - guest RAM in huge pages # SKIP no shmem transparent huge pages on this host\n",
		       ++tap_n);
		return;
	}
	for (int huge = 1; huge >= 0; huge--) {
		struct vmm *vm = NULL;
		uint8_t *p;

		if (vmm_new(1, RAM_MIB, huge, -1, -1, &vm, &err) < 0) {
			ok(0, "vmm_new: %s", err->msg);
			rt_error_free(&err);
			return;
		}
		p = vmm_guest_ptr(vm, 4 << 20, 1);
		*(volatile uint8_t *)p = 1;
		if (huge)
			ok(huge_kb(p) >= 2048, "huge_pages: one write maps a 2 MiB huge page (ShmemPmdMapped %ld kB)",
			   huge_kb(p));
		else if (strstr(thp, "[never]"))
			ok(huge_kb(p) == 0, "no huge_pages: 4 KiB pages (ShmemPmdMapped %ld kB)", huge_kb(p));
		else
			printf("ok %d - no huge_pages: 4 KiB pages # SKIP shmem_enabled lets a memfd have huge pages here\n",
			       ++tap_n);
		vmm_free(vm);
	}
}

static unsigned count_fds(void)
{
	g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
	unsigned n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

/* One line of /proc/PID/status, e.g. "CapEff", without its name. */
static char *status_field(pid_t pid, const char *key)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", pid);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return g_strdup("");
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++)
		if (g_str_has_prefix(*l, key) && (*l)[strlen(key)] == ':')
			return g_strstrip(g_strdup(*l + strlen(key) + 1));
	return g_strdup("");
}

/* What the jailed VMM process's root holds, names joined by spaces. */
static char *root_listing(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/root", pid);
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	g_autoptr(GString) s = g_string_new(NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d)))
		g_string_append_printf(s, "%s%s", s->len ? " " : "", name);
	return g_strdup(s->str);
}

/* Whether process @pid's namespace of @type is ours. */
static bool same_ns(pid_t pid, const char *type)
{
	g_autofree char *theirs_path = g_strdup_printf("/proc/%d/ns/%s", pid, type);
	g_autofree char *ours_path = g_strdup_printf("/proc/self/ns/%s", type);
	g_autofree char *theirs = g_file_read_link(theirs_path, NULL), *ours = g_file_read_link(ours_path, NULL);

	return theirs && ours && !strcmp(theirs, ours);
}

/* config.json named the pid and ipc namespaces by path (hv_vm_config.vmm_shared_namespaces):
 * the VMM stays in the caller's, keeps a mount namespace of its own for its jail, whose /proc
 * (of the shared pid namespace) is still mounted, and its guest runs. */
/* Launch the kvm backend with @cfg, its agent channel a new socketpair @sp; the VMM process's
 * pid (the only child), or 0 after reporting why not (a SKIP when not root). */
static pid_t launch_vmm(const struct kvm_settings *ks, struct hv_vm_config *cfg, int sp[2], const char *what,
			struct hv_vm **ret_vm)
{
	g_autofree char *path = g_strdup_printf("/proc/self/task/%d/children", getpid());
	g_autofree char *children = NULL;
	struct rt_error *err = NULL;
	bool r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		ok(0, "%s: socketpair: %s", what, strerror(errno));
		return 0;
	}
	cfg->agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_FD, .fd = sp[1] };
	if (hv_kvm_ops.launch(ks, cfg, ret_vm, &err) < 0) {
		r = geteuid() != 0;
		ok(r, "%s: launch: %s%s", what, err->msg, r ? " # SKIP not root" : "");
		rt_error_free(&err);
		close(sp[0]), close(sp[1]);
		return 0;
	}
	return g_file_get_contents(path, &children, NULL, NULL) ? (pid_t)atoi(children) : 0;
}

/* Whether the guest's UART line ("hi") reached @log within 5 s. */
static bool guest_printed(const char *log)
{
	for (long long end = rv_now_ms() + 5000; rv_now_ms() < end; usleep(10000)) {
		g_autofree char *text = NULL;

		if (g_file_get_contents(log, &text, NULL, NULL) && strstr(text, "hi\n"))
			return true;
	}
	return false;
}

static void test_backend_shared_ns(const char *dir, const char *kernel)
{
	g_autofree char *log = g_build_filename(dir, "shared.log", NULL);
	struct kvm_settings ks = { .huge_pages = false };
	struct hv_vm_config cfg = {
		.arch = RV_ARCH_X86_64,
		.accel = HV_ACCEL_KVM,
		.vcpus = 1,
		.memory_mib = RAM_MIB,
		.kernel = kernel,
		.cmdline = "console=ttyS0",
		.console_log = log,
		.vmm_shared_namespaces = CLONE_NEWPID | CLONE_NEWIPC,
	};
	g_autofree char *root = NULL, *nspid = NULL;
	struct rt_error *err = NULL;
	struct hv_vm *vm = NULL;
	int sp[2], status = -1;
	pid_t pid = launch_vmm(&ks, &cfg, sp, "backend, shared namespaces", &vm);
	bool r;

	if (!pid && !vm)
		return;
	root = root_listing(pid);
	nspid = status_field(pid, "NSpid");
	ok(pid > 0 && same_ns(pid, "pid") && same_ns(pid, "ipc") && !same_ns(pid, "mnt") && !strchr(nspid, '\t'),
	   "backend, pid and ipc shared: the VMM is in the caller's pid and ipc namespaces, a mount namespace of "
	   "its own (NSpid %s)",
	   nspid);
	ok(!strcmp(root, "proc"), "backend, pid and ipc shared: its jail still has its /proc: `%s`", root);
	ok(guest_printed(log), "backend, pid and ipc shared: the guest runs");
	r = hv_kvm_ops.stop(vm, 2000, &err) == 0 && hv_kvm_ops.wait(vm, 0, &status, &err) == 1;
	ok(r, "backend, pid and ipc shared: stop ends it");
	rt_error_free(&err);
	hv_kvm_ops.destroy(vm);
	close(sp[0]), close(sp[1]);
	unlink(log);
}

/* The kvm backend as the monitor drives it: the VMM in a jailed process of its own, running
 * this guest (which prints "hi" on the UART, then spins), paused, resumed, stopped; a setup
 * that fails says why and leaves no process and no fd. */
static void test_backend_process(const char *dir, const char *kernel)
{
	g_autofree char *log = g_build_filename(dir, "backend.log", NULL);
	g_autofree char *junk = g_build_filename(dir, "junk", NULL);
	struct kvm_settings ks = { .huge_pages = false };
	struct hv_share share = { .tag = "rootfs", .host_path = dir };
	struct hv_vm_config cfg = {
		.arch = RV_ARCH_X86_64,
		.accel = HV_ACCEL_KVM,
		.vcpus = 1,
		.memory_mib = RAM_MIB,
		.kernel = kernel,
		.cmdline = "console=ttyS0",
		.shares = &share,
		.n_shares = 1,
		.console_log = log,
	};
	const struct hv_backend_ops *o = &hv_kvm_ops;
	struct rt_error *err = NULL;
	struct hv_vm_stats st = { 0 };
	struct hv_vm *vm = NULL;
	unsigned fds = count_fds();
	int sp[2], status = -1;
	pid_t pid = launch_vmm(&ks, &cfg, sp, "backend", &vm);
	bool r;

	if (!pid && !vm)
		return;
	{
		g_autofree char *comm = NULL, *uid = status_field(pid, "Uid"), *eff = status_field(pid, "CapEff");
		g_autofree char *bnd = status_field(pid, "CapBnd"), *nnp = status_field(pid, "NoNewPrivs");
		g_autofree char *sec = status_field(pid, "Seccomp"), *nspid = status_field(pid, "NSpid");
		g_autofree char *root = root_listing(pid), *comm_path = g_strdup_printf("/proc/%d/comm", pid);

		g_file_get_contents(comm_path, &comm, NULL, NULL);
		ok(pid > 0 && comm && !strcmp(g_strstrip(comm), "runvm-vmm"),
		   "backend: the VMM is a child process, runvm-vmm (%d)", pid);
		ok(!strcmp(uid, "65534\t65534\t65534\t65534") && !strcmp(eff, "000000008800001f") &&
			   !strcmp(bnd, "000000008800001f"),
		   "backend: it runs as 65534 with the 9p server's capabilities only (Uid %s, CapEff %s, CapBnd %s)",
		   uid, eff, bnd);
		ok(!strcmp(nnp, "1") && !strcmp(sec, "2") && g_str_has_suffix(nspid, "\t1"),
		   "backend: no_new_privs %s, seccomp %s, PID 1 of its own pid namespace (NSpid %s)", nnp, sec, nspid);
		ok(!strcmp(root, "proc"), "backend: its root holds only its /proc: `%s`", root);
		ok(!same_ns(pid, "pid") && !same_ns(pid, "ipc") && !same_ns(pid, "mnt") && same_ns(pid, "net"),
		   "backend: mount, pid and ipc namespaces of its own, the caller's network namespace");
	}
	/* The guest ran in there: its UART line reached the console log, opened before the jail. */
	ok(guest_printed(log), "backend: the guest printed on its UART from inside the jail");
	ok(o->pause(vm, &err) == 0 && o->resume(vm, &err) == 0, "backend: pause and resume over the VMM's socket%s%s",
	   err ? ": " : "", err ? err->msg : "");
	rt_error_free(&err);
	r = o->stats(vm, &st, &err) == 0 && st.host_rss_bytes > 0;
	ok(r, "backend: stats of the VMM process (%llu kB RSS)", st.host_rss_bytes >> 10);
	rt_error_free(&err);
	ok(o->wait(vm, 0, &status, &err) == 0, "backend: the VM runs until stopped");
	r = o->stop(vm, 2000, &err) == 0 && o->wait(vm, 0, &status, &err) == 1 && status == 0;
	ok(r, "backend: stop ends it, status %d", status);
	rt_error_free(&err);
	o->destroy(vm);
	close(sp[0]), close(sp[1]);
	r = waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD && count_fds() == fds;
	ok(r, "backend: nothing left, no child, no fd (%u, was %u)", count_fds(), fds);

	/* A setup that fails in the VMM process: its reason comes up, nothing stays. */
	g_file_set_contents(junk, "not an ELF", -1, NULL);
	cfg.kernel = junk;
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
	cfg.agent.fd = sp[1];
	vm = NULL;
	r = o->launch(&ks, &cfg, &vm, &err) < 0 && strstr(err->msg, "not an x86_64 ELF");
	ok(r, "backend: a kernel that cannot load: %s", err ? err->msg : "launched");
	rt_error_free(&err);
	if (vm)
		o->destroy(vm);
	close(sp[0]), close(sp[1]);
	r = waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD && count_fds() == fds;
	ok(r, "backend: ... and leaves no child and no fd (%u, was %u)", count_fds(), fds);
	unlink(log);
}

int main(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-kvm-run-XXXXXX", NULL);
	g_autofree char *kernel = g_build_filename(dir, "vmlinux", NULL);
	g_autofree char *initrd = g_build_filename(dir, "initrd", NULL);
	g_autoptr(GBytes) elf = make_elf(true);
	g_autoptr(GBytes) initrd_data = NULL;
	uint8_t *data = g_malloc(5000);
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("1..0 # SKIP cannot open /dev/kvm: %s\n", strerror(errno));
		return 0;
	}
	close(fd);
	/* Not a multiple of the page size: the loader rounds the address down. */
	for (int i = 0; i < 5000; i++)
		data[i] = (uint8_t)(i * 7);
	initrd_data = g_bytes_new_take(data, 5000);
	g_file_set_contents(kernel, g_bytes_get_data(elf, NULL), (gssize)g_bytes_get_size(elf), NULL);
	g_file_set_contents(initrd, g_bytes_get_data(initrd_data, NULL), 5000, NULL);

	test_boot_and_run(dir, kernel, initrd, initrd_data);
	test_triple_fault(kernel);
	test_high_ram(kernel);
	test_stop_running(kernel);
	test_errors(dir, kernel);
	test_vcpu_state(kernel);
	test_vm_template(dir, kernel);
	test_huge_pages();
	test_backend_process(dir, kernel);
	test_backend_shared_ns(dir, kernel);

	for (const char *const *f =
		     (const char *const[]){ "vmlinux", "initrd", "console.log", "junk", "nonote", "trunc", NULL };
	     *f; f++) {
		g_autofree char *path = g_build_filename(dir, *f, NULL);

		unlink(path);
	}
	rmdir(dir);
	return tap_done();
}
