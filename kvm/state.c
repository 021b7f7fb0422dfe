/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The saved-state format's buffer and reader (kvm/state.h). No GLib: the virtio devices'
 * tests and fuzzers link it alone. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "kvm/state.h"

void kvm_state_put(struct kvm_state_buf *b, const void *p, size_t len)
{
	/* An empty nested record (a device with no state of its own yet) comes with no data:
	 * memcpy from NULL is undefined even for 0 bytes. */
	if (b->error || len == 0)
		return;
	if (len > KVM_STATE_MAX - b->len) {
		b->error = -E2BIG;
		return;
	}
	if (rv_grow(&b->data, &b->cap, b->len + len) < 0) {
		b->error = -ENOMEM;
		return;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

void kvm_state_put_u8(struct kvm_state_buf *b, uint8_t v)
{
	kvm_state_put(b, &v, 1);
}

void kvm_state_put_u16(struct kvm_state_buf *b, uint16_t v)
{
	v = htole16(v);
	kvm_state_put(b, &v, 2);
}

void kvm_state_put_u32(struct kvm_state_buf *b, uint32_t v)
{
	v = htole32(v);
	kvm_state_put(b, &v, 4);
}

void kvm_state_put_u64(struct kvm_state_buf *b, uint64_t v)
{
	v = htole64(v);
	kvm_state_put(b, &v, 8);
}

void kvm_state_put_header(struct kvm_state_buf *b, uint32_t magic, uint16_t version)
{
	kvm_state_put_u32(b, magic);
	kvm_state_put_u16(b, version);
}

void kvm_state_put_blob(struct kvm_state_buf *b, const struct kvm_state_buf *inner)
{
	if (inner->error && !b->error)
		b->error = inner->error;
	kvm_state_put_u32(b, (uint32_t)inner->len);
	kvm_state_put(b, inner->data, inner->len);
}

int kvm_state_buf_error(const struct kvm_state_buf *b)
{
	return b->error;
}

void kvm_state_buf_release(struct kvm_state_buf *b)
{
	free(b->data);
	*b = (struct kvm_state_buf){ 0 };
}

void kvm_state_reader_init(struct kvm_state_reader *r, const void *buf, size_t len)
{
	*r = (struct kvm_state_reader){ .p = buf, .len = buf ? len : 0 };
}

bool kvm_state_get(struct kvm_state_reader *r, void *p, size_t len)
{
	if (r->bad || len > r->len - r->off) {
		r->bad = true;
		memset(p, 0, len);
		return false;
	}
	memcpy(p, r->p + r->off, len);
	r->off += len;
	return true;
}

uint8_t kvm_state_get_u8(struct kvm_state_reader *r)
{
	uint8_t v;

	kvm_state_get(r, &v, 1);
	return v;
}

uint16_t kvm_state_get_u16(struct kvm_state_reader *r)
{
	uint16_t v;

	kvm_state_get(r, &v, 2);
	return le16toh(v);
}

uint32_t kvm_state_get_u32(struct kvm_state_reader *r)
{
	uint32_t v;

	kvm_state_get(r, &v, 4);
	return le32toh(v);
}

uint64_t kvm_state_get_u64(struct kvm_state_reader *r)
{
	uint64_t v;

	kvm_state_get(r, &v, 8);
	return le64toh(v);
}

int kvm_state_get_header(struct kvm_state_reader *r, uint32_t magic, uint16_t version)
{
	uint32_t m = kvm_state_get_u32(r);
	uint16_t v = kvm_state_get_u16(r);

	if (r->bad || m != magic)
		return -EBADMSG;
	return v == version ? 0 : -EPROTONOSUPPORT;
}

bool kvm_state_get_blob(struct kvm_state_reader *r, const void **ret_p, size_t *ret_len)
{
	uint32_t len = kvm_state_get_u32(r);

	if (r->bad || len > r->len - r->off) {
		r->bad = true;
		return false;
	}
	*ret_p = r->p + r->off;
	*ret_len = len;
	r->off += len;
	return true;
}

int kvm_state_get_end(const struct kvm_state_reader *r)
{
	return r->bad || r->off != r->len ? -EBADMSG : 0;
}
