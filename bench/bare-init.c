/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PID 1 for the bare-boot baseline: reaching init is the whole job, so end the VM at once. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	return 1;
}
