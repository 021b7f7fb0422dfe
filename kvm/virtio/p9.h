/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 9P2000.L file server for the VMM's virtio-9p device: the guest mounts the container's
 * rootfs with it (trans=virtio,version=9p2000.L), as it does QEMU's with
 * security_model=passthrough: the guest's root creates files with the owners and modes it asks
 * for. Transport-neutral: one request in, one reply out.
 *
 * Confinement: every path is resolved from the export's directory fd with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (and names from the guest must be single components:
 * no '/', not "." or ".."), so nothing the guest sends reaches outside the export. Every size,
 * count and string in a request is bounded by the request's length and by msize.
 */
#ifndef RUNVM_KVM_P9_H
#define RUNVM_KVM_P9_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p9_server;

/* Export @dir (read-only when @readonly). NULL with errno set on failure. */
struct p9_server *p9_server_new(const char *dir, bool readonly);
void p9_server_free(struct p9_server *s);
/* Whether the server holds nothing a new one lacks: no fid, msize not negotiated. Saved state
 * covers only such a server (kvm/virtio/9p.c): the fids stand for open host files. */
bool p9_server_fresh(struct p9_server *s);

/* Handle one T-message of @req_len bytes and write the R-message (Rlerror for any failure,
 * including a malformed request) into @resp of @resp_cap bytes. Returns the reply's length;
 * 0 when no reply fits (the transport fails the request). Never reads past @req_len. */
size_t p9_handle(struct p9_server *s, const uint8_t *req, size_t req_len, uint8_t *resp, size_t resp_cap);

#endif
