/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Saved device and vCPU state (for VM templates): a small binary format, little-endian, with
 * no pointers and no host paths, built with kvm_state_put_*() into a bounded growable buffer and
 * read back with kvm_state_get_*().
 *
 * Every record starts with a header: a 32-bit magic naming what it holds and a 16-bit version.
 * A loader reads a saved buffer as hostile input: it may come from a file that anyone with
 * access to the template changed. The reader never reads past the end (a short read yields
 * zeros and marks the reader bad), a length inside the buffer is checked against what is left
 * before it is used, and kvm_state_get_end() refuses a record with bytes left over. The loader
 * of each record checks every value against what the device allows before it uses any.
 */
#ifndef RUNVM_KVM_STATE_H
#define RUNVM_KVM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* No record is larger (the biggest, an x86 vCPU, is a few KiB). */
#define KVM_STATE_MAX (1u << 20)

struct kvm_state_buf {
	uint8_t *data;
	size_t len, cap;
	int error; /* the first failure (-ENOMEM, -E2BIG past KVM_STATE_MAX), sticky */
};

/* A put on a failed buffer does nothing: check kvm_state_buf_error() once at the end. */
void kvm_state_put(struct kvm_state_buf *b, const void *p, size_t len);
void kvm_state_put_u8(struct kvm_state_buf *b, uint8_t v);
void kvm_state_put_u16(struct kvm_state_buf *b, uint16_t v);
void kvm_state_put_u32(struct kvm_state_buf *b, uint32_t v);
void kvm_state_put_u64(struct kvm_state_buf *b, uint64_t v);
void kvm_state_put_header(struct kvm_state_buf *b, uint32_t magic, uint16_t version);
/* A nested record (a device's own state inside the transport's): a 32-bit length, then it. */
void kvm_state_put_blob(struct kvm_state_buf *b, const struct kvm_state_buf *inner);
int kvm_state_buf_error(const struct kvm_state_buf *b);
/* Frees the data; the buffer is empty and usable again. */
void kvm_state_buf_release(struct kvm_state_buf *b);

struct kvm_state_reader {
	const uint8_t *p;
	size_t len, off;
	bool bad; /* a read went past the end */
};

void kvm_state_reader_init(struct kvm_state_reader *r, const void *buf, size_t len);
bool kvm_state_get(struct kvm_state_reader *r, void *p, size_t len);
uint8_t kvm_state_get_u8(struct kvm_state_reader *r);
uint16_t kvm_state_get_u16(struct kvm_state_reader *r);
uint32_t kvm_state_get_u32(struct kvm_state_reader *r);
uint64_t kvm_state_get_u64(struct kvm_state_reader *r);
/* 0 when the header is @magic at @version; -EBADMSG (another record, or truncated) or
 * -EPROTONOSUPPORT (another version). */
int kvm_state_get_header(struct kvm_state_reader *r, uint32_t magic, uint16_t version);
/* A nested record: its bytes stay in the reader's buffer. false when its length runs past the
 * end. */
bool kvm_state_get_blob(struct kvm_state_reader *r, const void **ret_p, size_t *ret_len);
/* 0 when every byte was read and no read went past the end, else -EBADMSG. */
int kvm_state_get_end(const struct kvm_state_reader *r);

#endif
