/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: request sequences from a hostile guest into the 9P server (kvm/p9.c), on a
 * scratch export rebuilt for every input (so a crash reproduces from its input alone). `make
 * fuzz` runs it.
 *
 * Input: byte 0 holds flags (bit 0: read-only export, bit 1: keep the size fields of raw
 * requests as given instead of fixing them to their length, bits 2-7: the reply buffer size,
 * 0 = a full one); then requests, each either built well-formed from a type and fields the
 * input picks (fids from a small set, names from a dictionary) or raw bytes. A prelude first negotiates, attaches fid 0 and
 * opens a few fids, so that the fuzzer starts with useful state.
 *
 * Besides the sanitizers, an oracle: a directory next to the export, which symlinks inside
 * it point to, must be unchanged after every input.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/virtio/p9.h"
#include "tests/fuzz/fuzz-scratch.h"

static char base[64], exp_dir[128], outside[128];
static struct stat outside_st, sentinel_st;
static uint8_t req[8192], resp[600 * 1024];

static void build_export(void)
{
	char p[256];
	int fd;

	fuzz_remove_tree(exp_dir);
	mkdir(exp_dir, 0755);
	snprintf(p, sizeof(p), "%s/d", exp_dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/f", exp_dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, "0123456789", 10) != 10)
			abort();
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/up", exp_dir);
	symlink("../outside", p);
	snprintf(p, sizeof(p), "%s/abs", exp_dir);
	symlink(outside, p);
	snprintf(p, sizeof(p), "%s/fifo", exp_dir);
	mkfifo(p, 0644);
}

static void cleanup(void)
{
	fuzz_remove_tree(base);
}

static void setup(void)
{
	char p[256];
	int fd;

	snprintf(base, sizeof(base), "/tmp/fuzz_p9.XXXXXX");
	if (!mkdtemp(base))
		abort();
	atexit(cleanup);
	snprintf(exp_dir, sizeof(exp_dir), "%s/export", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	mkdir(outside, 0755);
	snprintf(p, sizeof(p), "%s/sentinel", outside);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "keep", 4) != 4)
		abort();
	close(fd);
	if (stat(outside, &outside_st) < 0 || stat(p, &sentinel_st) < 0)
		abort();
}

static void check_outside(void)
{
	char p[256];
	struct stat a, b;

	snprintf(p, sizeof(p), "%s/sentinel", outside);
	if (stat(outside, &a) < 0 || stat(p, &b) < 0 || a.st_mtim.tv_sec != outside_st.st_mtim.tv_sec ||
	    a.st_mtim.tv_nsec != outside_st.st_mtim.tv_nsec || a.st_mode != outside_st.st_mode ||
	    a.st_uid != outside_st.st_uid || b.st_size != sentinel_st.st_size || b.st_mode != sentinel_st.st_mode ||
	    b.st_uid != sentinel_st.st_uid || b.st_mtim.tv_nsec != sentinel_st.st_mtim.tv_nsec ||
	    b.st_nlink != sentinel_st.st_nlink) {
		fprintf(stderr, "fuzz_p9: the directory outside the export changed\n");
		abort();
	}
}

/* One request; the reply must be framed and within the buffer. */
static void send_req(struct p9_server *s, const uint8_t *m, size_t len, size_t cap)
{
	size_t n = p9_handle(s, m, len, resp, cap);
	uint32_t size;

	if (cap < 11) {
		if (n)
			abort();
		return;
	}
	memcpy(&size, resp, 4);
	if (n < 7 || n > cap || size != n)
		abort();
}

/* A request built from a format: 'b' u8, 'w' u16, 'd' u32, 'q' u64, 's' string. */
static void sendf(struct p9_server *s, uint8_t type, const char *fmt, ...)
{
	size_t n = 7;
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		uint64_t v = 0;
		const char *str;
		int bytes = 0;

		switch (*fmt) {
		case 'b':
			v = va_arg(ap, unsigned);
			bytes = 1;
			break;
		case 'w':
			v = va_arg(ap, unsigned);
			bytes = 2;
			break;
		case 'd':
			v = va_arg(ap, uint32_t);
			bytes = 4;
			break;
		case 'q':
			v = va_arg(ap, uint64_t);
			bytes = 8;
			break;
		case 's':
			str = va_arg(ap, const char *);
			req[n++] = (uint8_t)strlen(str);
			req[n++] = 0;
			memcpy(req + n, str, strlen(str));
			n += strlen(str);
			break;
		}
		for (int i = 0; i < bytes; i++)
			req[n++] = (uint8_t)(v >> (8 * i));
	}
	va_end(ap);
	memcpy(req, &(uint32_t){ (uint32_t)n }, 4);
	req[4] = type;
	req[5] = 1;
	req[6] = 0;
	send_req(s, req, n, sizeof(resp));
}

/* --- structured requests: well-formed messages whose fields the input picks --------------- */

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t c_u8(struct cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static uint64_t c_raw(struct cursor *c, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)c_u8(c) << (8 * i);
	return v;
}

static const char *const names[] = { "d", "f", "up", "abs", "fifo", "new", "x", "..", ".", "a/b", "", "dev" };
static const char *const xnames[] = { "",          "user.a",
				      "user.b",    "security.capability",
				      "trusted.t", "system.posix_acl_access" };
static const uint32_t oflags[] = { 0, 1, 2, 2 | 01000, 1 | 02000, 2 | 0200, 0200000, 3, 04000000 | 2, 010000 | 1 };

/* Request body formats: b w d q raw numbers, F a fid, N a name, X an xattr name, O open
 * flags, S a raw string, T walk names, W write data. */
static const struct {
	uint8_t type;
	const char *fmt;
} ops[] = {
	{ 8, "F" },     { 12, "FO" },      { 14, "FNOdd" },      { 16, "FNSd" }, { 18, "FNdddd" }, { 20, "FFN" },
	{ 22, "F" },    { 24, "Fq" },      { 26, "Fddddqqqqq" }, { 30, "FFX" },  { 32, "FXqd" },   { 40, "Fqd" },
	{ 50, "Fd" },   { 52, "Fbdqqds" }, { 54, "Fbqqds" },     { 70, "FFN" },  { 72, "FNdd" },   { 74, "FNFN" },
	{ 76, "FNd" },  { 100, "dS" },     { 104, "FdSSd" },     { 108, "w" },   { 110, "FFT" },   { 116, "Fqd" },
	{ 118, "FqW" }, { 120, "F" },      { 122, "F" },
};

static size_t put_str(size_t n, const char *str, size_t len)
{
	if (n + 2 + len > sizeof(req))
		return n;
	req[n++] = (uint8_t)len;
	req[n++] = (uint8_t)(len >> 8);
	memcpy(req + n, str, len);
	return n + len;
}

static size_t build(struct cursor *c)
{
	unsigned op = c_u8(c) % (sizeof(ops) / sizeof(ops[0]));
	size_t n = 7;

	for (const char *f = ops[op].fmt; *f; f++) {
		uint64_t v = 0;
		int bytes = 0;

		switch (*f) {
		case 'b':
			bytes = 1;
			v = c_raw(c, 1);
			break;
		case 'w':
			bytes = 2;
			v = c_raw(c, 2);
			break;
		case 'd':
			bytes = 4;
			v = c_raw(c, 4);
			break;
		case 'q':
			bytes = 8;
			v = c_raw(c, 8);
			break;
		case 'F':
			bytes = 4;
			v = c_u8(c) % 8;
			v = v == 7 ? 0xffffffffu : v;
			break;
		case 'O':
			bytes = 4;
			v = oflags[c_u8(c) % (sizeof(oflags) / sizeof(oflags[0]))];
			break;
		case 'N': {
			const char *nm = names[c_u8(c) % (sizeof(names) / sizeof(names[0]))];

			n = put_str(n, nm, strlen(nm));
			break;
		}
		case 'X': {
			const char *nm = xnames[c_u8(c) % (sizeof(xnames) / sizeof(xnames[0]))];

			n = put_str(n, nm, strlen(nm));
			break;
		}
		case 'S': {
			size_t len = c_u8(c);

			if (len > c->n)
				len = c->n;
			n = put_str(n, (const char *)c->p, len);
			c->p += len;
			c->n -= len;
			break;
		}
		case 'T': {
			unsigned k = c_u8(c) % 5;

			req[n++] = (uint8_t)k;
			req[n++] = 0;
			for (unsigned i = 0; i < k; i++) {
				const char *nm = names[c_u8(c) % (sizeof(names) / sizeof(names[0]))];

				n = put_str(n, nm, strlen(nm));
			}
			break;
		}
		case 'W': {
			size_t len = c_u8(c);

			if (len > c->n)
				len = c->n;
			memcpy(req + n, &(uint32_t){ (uint32_t)len }, 4);
			memcpy(req + n + 4, c->p, len);
			n += 4 + len;
			c->p += len;
			c->n -= len;
			break;
		}
		}
		for (int i = 0; i < bytes; i++)
			req[n++] = (uint8_t)(v >> (8 * i));
	}
	memcpy(req, &(uint32_t){ (uint32_t)n }, 4);
	req[4] = ops[op].type;
	req[5] = 2;
	req[6] = 0;
	return n;
}

/* Chunks: an op byte below 0xc0 builds a well-formed request; from 0xc0 the next byte is a
 * length and that many raw bytes follow. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct p9_server *s;
	struct cursor c;
	size_t cap;

	if (!base[0])
		setup();
	if (size < 1)
		return 0;
	build_export();
	s = p9_server_new(exp_dir, data[0] & 1);
	if (!s)
		abort();
	cap = data[0] >> 2 ? (size_t)(data[0] >> 2) * 3 : sizeof(resp);

	sendf(s, 100, "ds", 65536u, "9P2000.L");         /* Tversion */
	sendf(s, 104, "ddssd", 0u, ~0u, "root", "", 0u); /* Tattach 0 */
	sendf(s, 110, "ddws", 0u, 1u, 1u, "d");          /* Twalk 0 -> 1 d */
	sendf(s, 12, "dd", 1u, 0u);                      /* Tlopen 1 */
	sendf(s, 110, "ddws", 0u, 2u, 1u, "f");          /* Twalk 0 -> 2 f */
	sendf(s, 12, "dd", 2u, 2u);                      /* Tlopen 2 O_RDWR */
	sendf(s, 110, "ddws", 0u, 3u, 1u, "up");         /* Twalk 0 -> 3 up */
	sendf(s, 110, "ddw", 0u, 4u, 0u);                /* Twalk 0 -> 4 (clone) */

	c = (struct cursor){ data + 1, size - 1 };
	while (c.n) {
		size_t len;

		if (c.p[0] < 0xc0) {
			len = build(&c);
		} else {
			c_u8(&c);
			len = c_u8(&c);
			if (len > c.n)
				len = c.n;
			memcpy(req, c.p, len);
			c.p += len;
			c.n -= len;
			if (!(data[0] & 2) && len >= 4)
				memcpy(req, &(uint32_t){ (uint32_t)len }, 4);
		}
		send_req(s, req, len, cap);
	}
	p9_server_free(s);
	check_outside();
	return 0;
}
