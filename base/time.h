/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Monotonic time in milliseconds: deadlines and timeouts, never wall-clock time. Header-only,
 * so the static guest agent and the fuzzers use it without linking anything. */
#ifndef RUNVM_BASE_TIME_H
#define RUNVM_BASE_TIME_H

#include <stdint.h>
#include <time.h>

static inline int64_t rv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
