/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmtest: proves that /dev/kvm inside the nested host VM runs a guest. A 16-bit real-mode
 * guest adds two registers, writes the ASCII digit and a newline to port 0x3f8 and halts. Prints
 * "kvmtest: 4" and exits 0 on the expected I/O exits and HLT; anything else exits 1 with the
 * reason. Built static on the host by tests/nested/run.sh and copied into the host VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_ADDR 0x1000

static int fail(const char *what)
{
	printf("kvmtest: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	/* mov dx,0x3f8; add al,bl; add al,'0'; out dx,al; mov al,'\n'; out dx,al; hlt */
	static const uint8_t code[] = { 0xba, 0xf8, 0x03, 0x00, 0xd8, 0x04, '0', 0xee, 0xb0, '\n', 0xee, 0xf4 };
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct kvm_run *run;
	char out[8] = { 0 };
	size_t n_out = 0;
	uint8_t *mem;
	int kvm, vm, vcpu, run_size;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return fail("KVM_GET_API_VERSION");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	memcpy(mem, code, sizeof(code));
	region.guest_phys_addr = GUEST_ADDR;
	region.memory_size = 0x1000;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	regs.rip = GUEST_ADDR;
	regs.rax = 2;
	regs.rbx = 2;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
	for (int exits = 0; exits < 16; exits++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != 0x3f8 || run->io.size != 1 ||
			    n_out + 1 >= sizeof(out)) {
				printf("kvmtest: unexpected I/O exit (port 0x%x)\n", run->io.port);
				return 1;
			}
			out[n_out++] = *((char *)run + run->io.data_offset);
			break;
		case KVM_EXIT_HLT:
			if (strcmp(out, "4\n") != 0) {
				printf("kvmtest: HLT, but the guest wrote \"%s\"\n", out);
				return 1;
			}
			printf("kvmtest: %s", out);
			return 0;
		default: printf("kvmtest: unexpected exit reason %u\n", run->exit_reason); return 1;
		}
	}
	printf("kvmtest: no HLT after 16 exits\n");
	return 1;
}
