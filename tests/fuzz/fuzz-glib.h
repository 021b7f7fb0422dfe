/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Linked into the fuzz targets of code that parses with json-glib: a GLib critical or warning
 * (a typed getter called on a member of another type, a NULL passed on) aborts, so the fuzzer
 * counts it as a crash. Such an input must be refused with one error line instead; unchecked,
 * the critical goes to stderr and the getter's fallback (0, NULL) goes on as if valid.
 */
#ifndef RUNVM_TEST_FUZZ_GLIB_H
#define RUNVM_TEST_FUZZ_GLIB_H

struct rt_error;

/* The error object's contract (base/error.h), held or abort(): @r >= 0 with no error set, or
 * @r < 0 with a message. Frees *@err. */
void fuzz_check_error(int r, struct rt_error **err);

/* libFuzzer calls it once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
