/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A scratch directory for the fuzz targets that need files (a bundle, a state directory, a
 * disk and a 9p export) that never outlives the fuzzer, even when it crashes: where the process
 * may (root), it gets a mount namespace of its own with a private tmpfs on /dev/shm, gone with
 * the process; elsewhere the directory is in the host's /dev/shm and removed at exit.
 */
#ifndef RUNVM_TEST_FUZZ_SCRATCH_H
#define RUNVM_TEST_FUZZ_SCRATCH_H

/* /dev/shm/runvm-fuzz-@name.PID, created on the first call (aborts when it cannot be). */
const char *fuzz_scratch_dir(const char *name);
/* @path and everything beneath it, symlinks not followed. */
void fuzz_remove_tree(const char *path);

#endif
