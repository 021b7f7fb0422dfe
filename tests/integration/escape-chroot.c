/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_hoststate.sh's way out of the container's chroot, as a compromised guest would take it:
 * run ARGV[1...] in the guest's own root. Static, so that it runs in any rootfs. */
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	(void)argc;
	mkdir("/.escape", 0700);
	if (chroot("/.escape") < 0)
		return 90;
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			return 91;
	if (chroot(".") < 0)
		return 92;
	execv(argv[1], argv + 1);
	return 93;
}
