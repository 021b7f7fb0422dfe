/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent protocol: round trips, and the host side fed truncated, oversized, malformed and
 * random frames. It must reject or wait, never crash, over-read or accept garbage. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/agent-proto.h"
#include "base/error.h"
#include "runtime/monitor.h"
#include "tests/unit/tap.h"

static int devnull;

static void hello(struct rv_buf *b, uint32_t version)
{
	size_t st;

	rv_frame_begin(b, RV_MSG_HELLO, 0, &st);
	rv_put_u32(b, RV_ATTR_VERSION, version);
	rv_frame_end(b, st);
}

/* Feed @b to a fresh stream in pieces of @step bytes; returns the last result. */
static int feed(const struct rv_buf *b, size_t step, struct rt_error **err)
{
	struct rt_monitor *s = rt_monitor_new_detached(devnull, devnull);
	int r = 0;

	for (size_t off = 0; off < b->len && r == 0; off += step)
		r = rt_monitor_feed(s, b->data + off, b->len - off < step ? b->len - off : step, err);
	rt_monitor_free(s);
	return r;
}

static void test_round_trip(void)
{
	struct rv_buf b = { 0 };
	struct rv_frame f;
	struct rv_attr a;
	size_t st, used, pos = 0;
	uint32_t v;
	const char *str;
	size_t len;

	rv_frame_begin(&b, RV_MSG_RUN, 7, &st);
	rv_put_str(&b, RV_ATTR_ARG, "echo");
	rv_put_str(&b, RV_ATTR_ARG, "");
	rv_put_u32(&b, RV_ATTR_UID, 1000);
	ok(rv_frame_end(&b, st) == 0, "frame built");
	ok(rv_frame_parse(b.data, b.len, &f, &used) == 1 && used == b.len, "frame parses whole");
	ok(f.type == RV_MSG_RUN && f.proc == 7, "type and proc survive");
	ok(rv_attr_next(&f, &pos, &a) == 1 && a.type == RV_ATTR_ARG && rv_attr_str(&a, &str, &len) == 0 && len == 4 &&
		   memcmp(str, "echo", 4) == 0,
	   "first string attribute");
	ok(rv_attr_next(&f, &pos, &a) == 1 && a.len == 0, "empty string attribute");
	ok(rv_attr_next(&f, &pos, &a) == 1 && rv_attr_u32(&a, &v) == 0 && v == 1000, "u32 attribute");
	ok(rv_attr_next(&f, &pos, &a) == 0, "end of attributes");
	for (size_t n = 0; n < b.len; n++)
		if (rv_frame_parse(b.data, n, &f, &used) != 0) {
			ok(0, "truncated frame of %zu bytes is incomplete, not an error", n);
			break;
		}
	ok(1, "every truncation of a valid frame asks for more bytes");
	rv_buf_free(&b);
}

static void test_bad_headers(void)
{
	uint8_t h[RV_PROTO_HDR_LEN] = { 'R', 'V', RV_PROTO_VERSION, RV_MSG_STDOUT, 0, 0, 0, 0 };
	struct rv_frame f;
	size_t used;

	h[8] = 0x01;
	h[9] = 0x00;
	h[10] = 0x10;
	h[11] = 0x00; /* 1 MiB + 1 */
	ok(rv_frame_parse(h, sizeof(h), &f, &used) == -EBADMSG, "payload over the limit is rejected at once");
	h[10] = 0x00;
	ok(rv_frame_parse(h, sizeof(h), &f, &used) == 0, "in-limit payload waits for its bytes");
	h[3] = 0;
	ok(rv_frame_parse(h, 4, &f, &used) == -EBADMSG, "type 0 rejected");
	h[3] = _RV_MSG_MAX;
	ok(rv_frame_parse(h, 4, &f, &used) == -EBADMSG, "unknown type rejected");
	h[3] = RV_MSG_STDOUT;
	h[2] = RV_PROTO_VERSION + 1;
	ok(rv_frame_parse(h, 3, &f, &used) == -EBADMSG, "other version rejected");
	ok(rv_frame_parse((const uint8_t *)"X", 1, &f, &used) == -EBADMSG, "bad magic rejected after one byte");
}

static void test_bad_attrs(void)
{
	/* A HELLO whose attribute claims more bytes than the payload has. */
	uint8_t fr[RV_PROTO_HDR_LEN + 8] = {
		'R',  'V', RV_PROTO_VERSION, RV_MSG_HELLO, 0, 0, 0, 0, 8, 0, 0, 0, RV_ATTR_VERSION, 0, 0, 0, 0xff, 0xff,
		0xff, 0xff
	};
	struct rv_buf b = { 0 };
	struct rt_error *err = NULL;
	struct rv_frame f;
	struct rv_attr a;
	size_t used, pos = 0;
	int r;

	ok(rv_frame_parse(fr, sizeof(fr), &f, &used) == 1, "frame with a lying attribute parses");
	ok(rv_attr_next(&f, &pos, &a) == -EBADMSG, "overlong attribute rejected");
	rv_buf_append(&b, fr, sizeof(fr));
	r = feed(&b, 1, &err);
	ok(r < 0 && err, "host rejects it: %s", err ? err->msg : "(no error)");
	rt_error_free(&err);
	rv_buf_free(&b);

	/* A short attribute header at the end. */
	fr[8] = 3;
	ok(rv_frame_parse(fr, RV_PROTO_HDR_LEN + 3, &f, &used) == 1 &&
		   (pos = 0, rv_attr_next(&f, &pos, &a) == -EBADMSG),
	   "truncated attribute header rejected");
}

static void test_stream(void)
{
	struct rt_error *err = NULL;
	struct rv_buf b = { 0 };
	size_t st;

	rv_frame_raw(&b, RV_MSG_STDOUT, 0, "x", 1);
	ok(feed(&b, 64, &err) < 0 && err && strstr(err->msg, "before HELLO"), "output before HELLO rejected");
	rt_error_free(&err);
	rv_buf_free(&b);

	hello(&b, RV_PROTO_VERSION + 5);
	ok(feed(&b, 64, &err) < 0 && err && strstr(err->msg, "protocol version"), "wrong agent version rejected");
	rt_error_free(&err);
	rv_buf_free(&b);

	hello(&b, RV_PROTO_VERSION);
	hello(&b, RV_PROTO_VERSION);
	ok(feed(&b, 64, &err) < 0 && err, "second HELLO rejected");
	rt_error_free(&err);
	rv_buf_free(&b);

	hello(&b, RV_PROTO_VERSION);
	rv_frame_raw(&b, RV_MSG_RUN, 0, "", 0);
	ok(feed(&b, 64, &err) < 0 && err && strstr(err->msg, "unexpected RUN"),
	   "host-bound message type from guest rejected");
	rt_error_free(&err);
	rv_buf_free(&b);

	hello(&b, RV_PROTO_VERSION);
	rv_frame_raw(&b, RV_MSG_STDOUT, 9, "x", 1);
	ok(feed(&b, 64, &err) < 0 && err, "frame for an unknown process rejected");
	rt_error_free(&err);
	rv_buf_free(&b);

	/* A hostile guest's UPDATE answer nobody asked for ends its container, bounded. */
	hello(&b, RV_PROTO_VERSION);
	rv_frame_begin(&b, RV_MSG_UPDATE, 0, &st);
	rv_put_str(&b, RV_ATTR_ERROR, "made up");
	rv_frame_end(&b, st);
	ok(feed(&b, 64, &err) < 0 && err && strstr(err->msg, "UPDATE answer without a request"),
	   "UPDATE answer without a request rejected");
	rt_error_free(&err);
	rv_buf_free(&b);

	hello(&b, RV_PROTO_VERSION);
	rv_frame_begin(&b, RV_MSG_EXIT, 0, &st);
	rv_put_u32(&b, RV_ATTR_STATUS, 256);
	rv_frame_end(&b, st);
	ok(feed(&b, 64, &err) < 0 && err, "EXIT status above 255 rejected");
	rt_error_free(&err);
	rv_buf_free(&b);

	hello(&b, RV_PROTO_VERSION);
	rv_frame_raw(&b, RV_MSG_STDOUT, 0, "out", 3);
	rv_frame_begin(&b, RV_MSG_EXIT, 0, &st);
	rv_put_u32(&b, RV_ATTR_STATUS, 3);
	rv_put_str(&b, RV_ATTR_ERROR, "a\nb");
	rv_frame_end(&b, st);
	ok(feed(&b, 1, &err) == 1 && !err, "valid stream fed byte by byte reaches EXIT");
	rv_buf_free(&b);
}

static void test_random(void)
{
	struct rv_buf good = { 0 };
	uint8_t junk[4096];
	unsigned seed = 12345;
	int rejected = 0, waiting = 0, silent = 0;

	hello(&good, RV_PROTO_VERSION);
	for (int round = 0; round < 4000; round++) {
		struct rv_buf b = { 0 };
		struct rt_error *err = NULL;
		size_t n = (size_t)(rand_r(&seed) % sizeof(junk));
		int r;

		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)rand_r(&seed);
		/* Half the rounds start with a valid HELLO so garbage reaches the frame handlers... */
		if (round % 2)
			rv_buf_append(&b, good.data, good.len);
		/* ...and some carry a valid header with a random type and an in-bounds length, so the
		 * random bytes are parsed as attributes. */
		if (round % 4 == 1 && n >= RV_PROTO_HDR_LEN) {
			uint32_t len = (uint32_t)(rand_r(&seed) % (n - RV_PROTO_HDR_LEN + 1));

			junk[0] = 'R';
			junk[1] = 'V';
			junk[2] = RV_PROTO_VERSION;
			junk[3] = (uint8_t)(1 + rand_r(&seed) % (_RV_MSG_MAX - 1));
			memset(junk + 4, 0, 4);
			memcpy(junk + 8, &len, 4); /* little-endian host */
		}
		rv_buf_append(&b, junk, n);
		r = feed(&b, 1 + (size_t)(rand_r(&seed) % 300), &err);
		if (r < 0 && err)
			rejected++;
		else if (r < 0)
			silent++;
		else
			waiting++;
		rt_error_free(&err);
		rv_buf_free(&b);
	}
	ok(silent == 0, "4000 random streams: every rejection carries an error (%d rejected, %d incomplete or done)",
	   rejected, waiting);
	ok(rejected > 0 && waiting > 0, "random streams exercise both outcomes");
	rv_buf_free(&good);
}

int main(void)
{
	devnull = open("/dev/null", O_WRONLY);
	test_round_trip();
	test_bad_headers();
	test_bad_attrs();
	test_stream();
	test_random();
	return tap_done();
}
