/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal TAP for the unit tests: ok() prints one line per check; tap_done() prints the plan
 * and returns the exit status (failures make it non-zero). */
#ifndef RUNVM_TAP_H
#define RUNVM_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3))) static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
