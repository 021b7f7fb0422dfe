/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Encoder and bounded decoder of the runvm agent protocol (see agent-proto.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/grow.h"
#include "protocol/agent-proto.h"

#define RV_ATTR_HDR_LEN 8
#define RV_ALIGN4(x) (((x) + 3u) & ~(size_t)3u)

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}
static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

int rv_frame_parse(const uint8_t *buf, size_t len, struct rv_frame *ret_frame, size_t *ret_consumed)
{
	uint32_t plen;

	/* Reject bad bytes as early as they can be seen, so garbage does not wait for 12 bytes. */
	if (len >= 1 && buf[0] != 'R')
		return -EBADMSG;
	if (len >= 2 && buf[1] != 'V')
		return -EBADMSG;
	if (len >= 3 && buf[2] != RV_PROTO_VERSION)
		return -EBADMSG;
	if (len >= 4 && (buf[3] == 0 || buf[3] >= _RV_MSG_MAX))
		return -EBADMSG;
	if (len < RV_PROTO_HDR_LEN)
		return 0;
	plen = get_le32(buf + 8);
	if (plen > RV_PROTO_MAX_PAYLOAD)
		return -EBADMSG;
	if (len - RV_PROTO_HDR_LEN < plen)
		return 0;

	ret_frame->type = buf[3];
	ret_frame->proc = get_le32(buf + 4);
	ret_frame->len = plen;
	ret_frame->payload = buf + RV_PROTO_HDR_LEN;
	*ret_consumed = RV_PROTO_HDR_LEN + plen;
	return 1;
}

int rv_attr_next(const struct rv_frame *f, size_t *pos, struct rv_attr *ret_attr)
{
	size_t p = *pos, left;
	uint32_t alen;

	if (p >= f->len)
		return 0;
	left = f->len - p;
	if (left < RV_ATTR_HDR_LEN)
		return -EBADMSG;
	alen = get_le32(f->payload + p + 4);
	if (alen > left - RV_ATTR_HDR_LEN)
		return -EBADMSG;
	ret_attr->type = get_le16(f->payload + p);
	ret_attr->len = alen;
	ret_attr->data = f->payload + p + RV_ATTR_HDR_LEN;
	/* The last attribute may omit its padding; never step past the end. */
	p += RV_ATTR_HDR_LEN + RV_ALIGN4((size_t)alen);
	*pos = p < f->len ? p : f->len;
	return 1;
}

int rv_attr_u32(const struct rv_attr *a, uint32_t *ret)
{
	if (a->len != 4)
		return -EBADMSG;
	*ret = get_le32(a->data);
	return 0;
}

int rv_attr_str(const struct rv_attr *a, const char **ret_str, size_t *ret_len)
{
	if (memchr(a->data, '\0', a->len))
		return -EBADMSG;
	*ret_str = (const char *)a->data;
	*ret_len = a->len;
	return 0;
}

char *rv_attr_strdup(const struct rv_attr *a)
{
	const char *s;
	size_t n;

	if (rv_attr_str(a, &s, &n) < 0)
		return NULL;
	return strndup(s, n);
}

int rv_buf_append(struct rv_buf *b, const void *data, size_t len)
{
	if (rv_grow(&b->data, &b->cap, b->len + len) < 0)
		return -ENOMEM;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static int put_hdr(struct rv_buf *b, enum rv_msg_type type, uint32_t proc, uint32_t len)
{
	uint8_t h[RV_PROTO_HDR_LEN] = { 'R', 'V', RV_PROTO_VERSION, (uint8_t)type };

	put_le32(h + 4, proc);
	put_le32(h + 8, len);
	return rv_buf_append(b, h, sizeof(h));
}

int rv_frame_begin(struct rv_buf *b, enum rv_msg_type type, uint32_t proc, size_t *ret_start)
{
	size_t start = b->len;
	int r = put_hdr(b, type, proc, 0);

	if (r < 0)
		return r;
	*ret_start = start;
	return 0;
}

int rv_frame_end(struct rv_buf *b, size_t start)
{
	size_t plen = b->len - start - RV_PROTO_HDR_LEN;

	if (plen > RV_PROTO_MAX_PAYLOAD) {
		b->len = start;
		return -EMSGSIZE;
	}
	put_le32(b->data + start + 8, (uint32_t)plen);
	return 0;
}

static int put_attr(struct rv_buf *b, enum rv_attr_type type, const void *data, uint32_t len)
{
	static const uint8_t pad[3];
	uint8_t h[RV_ATTR_HDR_LEN] = { 0 };
	int r;

	put_le16(h, (uint16_t)type);
	put_le32(h + 4, len);
	r = rv_buf_append(b, h, sizeof(h));
	if (r == 0)
		r = rv_buf_append(b, data, len);
	if (r == 0)
		r = rv_buf_append(b, pad, RV_ALIGN4((size_t)len) - len);
	return r;
}

int rv_put_u32(struct rv_buf *b, enum rv_attr_type type, uint32_t v)
{
	uint8_t d[4];

	put_le32(d, v);
	return put_attr(b, type, d, sizeof(d));
}

int rv_put_str(struct rv_buf *b, enum rv_attr_type type, const char *s)
{
	size_t n = strlen(s);

	if (n > RV_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	return put_attr(b, type, s, (uint32_t)n);
}

int rv_put_bytes(struct rv_buf *b, enum rv_attr_type type, const void *data, size_t len)
{
	if (len > RV_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	return put_attr(b, type, data, (uint32_t)len);
}

int rv_frame_raw(struct rv_buf *b, enum rv_msg_type type, uint32_t proc, const void *data, size_t len)
{
	int r;

	if (len > RV_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	r = put_hdr(b, type, proc, (uint32_t)len);
	if (r == 0)
		r = rv_buf_append(b, data, len);
	return r;
}

void rv_buf_consume(struct rv_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len) {
		b->off = b->len = 0;
	} else if (b->off > 65536 && b->off * 2 > b->len) {
		/* Compact now and then so a long-lived queue does not creep. */
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
}

int rv_buf_flush(struct rv_buf *b, int fd)
{
	while (rv_buf_pending(b)) {
		ssize_t n = write(fd, b->data + b->off, rv_buf_pending(b));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		rv_buf_consume(b, (size_t)n);
	}
	return 0;
}

void rv_buf_free(struct rv_buf *b)
{
	free(b->data);
	*b = (struct rv_buf){ 0 };
}

const char *rv_msg_type_name(unsigned type)
{
	static const char *const names[_RV_MSG_MAX] = {
		[RV_MSG_HELLO] = "HELLO",   [RV_MSG_RUN] = "RUN",       [RV_MSG_STDIN] = "STDIN",
		[RV_MSG_STDOUT] = "STDOUT", [RV_MSG_STDERR] = "STDERR", [RV_MSG_SIGNAL] = "SIGNAL",
		[RV_MSG_EXIT] = "EXIT",     [RV_MSG_EXEC] = "EXEC",     [RV_MSG_STARTED] = "STARTED",
		[RV_MSG_RESIZE] = "RESIZE", [RV_MSG_DNS] = "DNS",       [RV_MSG_UPDATE] = "UPDATE",
	};

	return type < _RV_MSG_MAX && names[type] ? names[type] : "unknown";
}
