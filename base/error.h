/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The error object of runtime/ and the backends (crun model): a fallible function takes
 * `struct rt_error **err` last, sets it only on failure and returns < 0. main() reports it once.
 */
#ifndef RUNVM_ERROR_H
#define RUNVM_ERROR_H

struct rt_error {
	int status; /* errno behind the failure, or 0 */
	char *msg;  /* one phrase, no trailing newline */
};

/* Set *err to a new error; when @status is an errno, ": strerror" is appended. Returns
 * -status, or -1 when @status is 0. An existing *err is kept (the first cause wins). */
int rt_make_error(struct rt_error **err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix the message of an existing error with context: "context: cause". Returns < 0. */
int rt_error_wrap(struct rt_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_error_free(struct rt_error **err);

#endif
