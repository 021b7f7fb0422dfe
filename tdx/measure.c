/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SEV, SEV-ES and SEV-SNP launch digests and the Kata initdata digest (measure.h says why).
 *
 * Layouts come from QEMU (target/i386/sev.c, hw/i386/pc_sysfw_ovmf.c, hw/i386/x86-common.c), the
 * SNP firmware ABI (PAGE_INFO), the kernel's struct sev_es_save_area and edk2's
 * OvmfPkg/ResetVector (footer table, "ASEV" metadata); virtee/sev-snp-measure is the check.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib.h>

#include "tdx/measure.h"

#define FOUR_GIB 0x100000000ull
/* The RMP records a VMSA page at GPA -1, page-aligned and cut to 52 bits; SNP measures that. */
#define SNP_VMSA_GPA 0xfffffffff000ull
#define SNP_PAGE_INFO_LEN 0x70
#define MAX_VCPUS 8192

/* GUIDs in the byte order they have in memory (EFI_GUID: the first three fields little-endian). */
#define GUID(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7)                                                               \
	{                                                                                                           \
		(a) & 0xff, ((a) >> 8) & 0xff, ((a) >> 16) & 0xff, ((a) >> 24) & 0xff, (b)&0xff, ((b) >> 8) & 0xff, \
			(c)&0xff, ((c) >> 8) & 0xff, d0, d1, d2, d3, d4, d5, d6, d7                                 \
	}

static const uint8_t guid_table_footer[16] = GUID(0x96b582de, 0x1fb2, 0x45f7, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08,
						  0x2d);
static const uint8_t guid_sev_hash_table_rv[16] = GUID(0x7255371f, 0x3a3b, 0x4b04, 0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8,
						       0xd4, 0x54);
static const uint8_t guid_sev_es_reset_block[16] = GUID(0x00f771de, 0x1a7e, 0x4fcb, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f,
							0xb4, 0x4e);
static const uint8_t guid_sev_metadata[16] = GUID(0xdc886566, 0x984a, 0x4798, 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67,
						  0xcc);
static const uint8_t guid_hash_table[16] = GUID(0x9438d606, 0x4f22, 0x4cc9, 0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd,
						0x21);
static const uint8_t guid_hash_cmdline[16] = GUID(0x97d02dd8, 0xbd20, 0x4c94, 0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab,
						  0x2a);
static const uint8_t guid_hash_initrd[16] = GUID(0x44baf731, 0x3a2f, 0x4bd7, 0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78,
						 0x1d);
static const uint8_t guid_hash_kernel[16] = GUID(0x4de79437, 0xabd2, 0x427f, 0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04,
						 0x5b);

/* Each footer entry ends with {u16 size, guid}; size counts the data before it too. */
#define FOOTER_ENTRY_HDR 18
/* The table's own footer entry sits 32 bytes before the end of the image (the reset vector). */
#define FOOTER_TAIL 32
#define METADATA_HDR 16
#define METADATA_DESC 12
/* Header {guid, u16 len} plus three entries {guid, u16 len, sha256}. */
#define HASH_ENTRY_LEN (16 + 2 + CC_SHA256_LEN)
#define HASH_TABLE_RAW_LEN (16 + 2 + 3 * HASH_ENTRY_LEN)

struct fw_entry {
	uint8_t guid[16];
	size_t off, len; /* of its data, in the image */
};

struct cc_firmware {
	uint8_t *data;
	size_t size;
	uint64_t gpa; /* QEMU maps the image to end at 4 GiB */
	struct fw_entry *entries;
	size_t n_entries;
	struct cc_sev_section_desc *sections;
	size_t n_sections;
};

static int fail(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		*ret_error = g_strdup_vprintf(fmt, ap);
		va_end(ap);
	}
	return r;
}

static uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static void digest_once(GChecksumType type, const void *data, size_t len, uint8_t *ret)
{
	g_autoptr(GChecksum) c = g_checksum_new(type);
	gsize n = g_checksum_type_get_length(type);

	g_checksum_update(c, data, len);
	g_checksum_get_digest(c, ret, &n);
}

struct cc_firmware *cc_firmware_free(struct cc_firmware *fw)
{
	if (fw) {
		g_free(fw->data);
		g_free(fw->entries);
		g_free(fw->sections);
		g_free(fw);
	}
	return NULL;
}

/* The GUIDed table edk2 puts before the reset vector, walked from its end towards its start. An
 * image without the footer GUID has no table (a plain OVMF; fine for SEV without a kernel). */
static int parse_footer_table(struct cc_firmware *fw, char **ret_error)
{
	size_t footer = fw->size - FOOTER_TAIL - FOOTER_ENTRY_HDR, end, left, cap;
	uint16_t table_len = get16(fw->data + footer);

	if (memcmp(fw->data + footer + 2, guid_table_footer, 16) != 0)
		return 0;
	if (table_len < FOOTER_ENTRY_HDR)
		return fail(ret_error, -EINVAL, "firmware footer table length %u is too small", table_len);
	left = table_len - FOOTER_ENTRY_HDR;
	if (left > footer)
		return fail(ret_error, -EINVAL, "firmware footer table length %u points out of the image", table_len);
	cap = left / FOOTER_ENTRY_HDR;
	fw->entries = g_new0(struct fw_entry, cap ? cap : 1);
	end = footer;
	while (left >= FOOTER_ENTRY_HDR) {
		const uint8_t *h = fw->data + end - FOOTER_ENTRY_HDR;
		uint16_t len = get16(h);
		struct fw_entry *e;

		if (len < FOOTER_ENTRY_HDR || len > left)
			return fail(ret_error, -EINVAL, "firmware footer table entry length %u is out of bounds", len);
		for (size_t i = 0; i < fw->n_entries; i++)
			if (memcmp(fw->entries[i].guid, h + 2, 16) == 0)
				return fail(ret_error, -EINVAL, "firmware footer table has a duplicate entry");
		e = &fw->entries[fw->n_entries++];
		memcpy(e->guid, h + 2, 16);
		e->off = end - len;
		e->len = len - FOOTER_ENTRY_HDR;
		end -= len;
		left -= len;
	}
	return 0;
}

int cc_firmware_table_entry(const struct cc_firmware *fw, const uint8_t guid[16], const uint8_t **ret_data,
			    size_t *ret_len)
{
	for (size_t i = 0; i < fw->n_entries; i++)
		if (memcmp(fw->entries[i].guid, guid, 16) == 0) {
			*ret_data = fw->data + fw->entries[i].off;
			*ret_len = fw->entries[i].len;
			return 0;
		}
	return -ENOENT;
}

/* The "ASEV" metadata (OvmfSevMetadata.asm): the footer entry gives its offset from the end. */
static int parse_sev_metadata(struct cc_firmware *fw, char **ret_error)
{
	const uint8_t *entry, *h;
	uint32_t from_end, len, version, n;
	size_t elen, start;

	if (cc_firmware_table_entry(fw, guid_sev_metadata, &entry, &elen) < 0)
		return 0;
	if (elen < 4)
		return fail(ret_error, -EINVAL, "firmware SEV metadata entry is truncated");
	from_end = get32(entry);
	if (from_end < METADATA_HDR || from_end > fw->size)
		return fail(ret_error, -EINVAL, "firmware SEV metadata offset 0x%x points out of the image", from_end);
	start = fw->size - from_end;
	h = fw->data + start;
	if (memcmp(h, "ASEV", 4) != 0)
		return fail(ret_error, -EINVAL, "firmware SEV metadata has a wrong signature");
	len = get32(h + 4);
	version = get32(h + 8);
	n = get32(h + 12);
	if (version != 1)
		return fail(ret_error, -EINVAL, "firmware SEV metadata version %u is not 1", version);
	if (len < METADATA_HDR || len > from_end)
		return fail(ret_error, -EINVAL, "firmware SEV metadata length %u points out of the image", len);
	if ((uint64_t)n * METADATA_DESC > len - METADATA_HDR)
		return fail(ret_error, -EINVAL, "firmware SEV metadata's %u sections do not fit its length %u", n, len);
	fw->sections = g_new0(struct cc_sev_section_desc, n ? n : 1);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *d = h + METADATA_HDR + (size_t)i * METADATA_DESC;

		fw->sections[i] = (struct cc_sev_section_desc){ get32(d), get32(d + 4), get32(d + 8) };
	}
	fw->n_sections = n;
	return 0;
}

int cc_firmware_parse(const void *data, size_t size, struct cc_firmware **ret, char **ret_error)
{
	struct cc_firmware *fw;
	int r;

	/* The GPA and SNP's page walk need whole pages; QEMU itself wants 64 KiB multiples. */
	if (size == 0 || size % CC_PAGE_SIZE != 0)
		return fail(ret_error, -EINVAL, "firmware size %zu is not a multiple of 4096", size);
	if (size > CC_FIRMWARE_MAX)
		return fail(ret_error, -EINVAL, "firmware size %zu is over %u", size, CC_FIRMWARE_MAX);
	fw = g_new0(struct cc_firmware, 1);
	fw->data = g_memdup2(data, size);
	fw->size = size;
	fw->gpa = FOUR_GIB - size;
	r = parse_footer_table(fw, ret_error);
	if (r >= 0)
		r = parse_sev_metadata(fw, ret_error);
	if (r < 0) {
		cc_firmware_free(fw);
		return r;
	}
	*ret = fw;
	return 0;
}

/* Reads at most @max bytes of @path; a larger file is -EFBIG. */
static int read_file_capped(const char *path, size_t max, const char *what, uint8_t **ret, size_t *ret_len,
			    char **ret_error)
{
	g_autofree uint8_t *buf = NULL;
	struct stat st;
	FILE *f;
	size_t n;
	int r;

	f = fopen(path, "rbe");
	if (!f)
		return fail(ret_error, -errno, "cannot open %s `%s`: %s", what, path, g_strerror(errno));
	if (fstat(fileno(f), &st) < 0) {
		r = -errno;
		fclose(f);
		return fail(ret_error, r, "cannot stat %s `%s`", what, path);
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		fclose(f);
		return fail(ret_error, -EFBIG, "%s `%s` is over %zu bytes", what, path, max);
	}
	buf = g_malloc(st.st_size ? st.st_size : 1);
	n = fread(buf, 1, st.st_size, f);
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r < 0 || n != (size_t)st.st_size)
		return fail(ret_error, r < 0 ? r : -EIO, "cannot read %s `%s`", what, path);
	*ret = g_steal_pointer(&buf);
	*ret_len = n;
	return 0;
}

int cc_firmware_load(const char *path, struct cc_firmware **ret, char **ret_error)
{
	g_autofree uint8_t *data = NULL;
	g_autofree char *msg = NULL;
	size_t len = 0;
	int r;

	r = read_file_capped(path, CC_FIRMWARE_MAX, "firmware", &data, &len, ret_error);
	if (r < 0)
		return r;
	r = cc_firmware_parse(data, len, ret, ret_error ? &msg : NULL);
	if (r < 0 && ret_error)
		*ret_error = g_strdup_printf("%s: %s", path, msg);
	return r;
}

void cc_firmware_sections(const struct cc_firmware *fw, const struct cc_sev_section_desc **ret, size_t *ret_n)
{
	*ret = fw->sections;
	*ret_n = fw->n_sections;
}

int cc_firmware_hash_table_gpa(const struct cc_firmware *fw, uint32_t *ret_gpa, char **ret_error)
{
	const uint8_t *e;
	size_t len;

	if (cc_firmware_table_entry(fw, guid_sev_hash_table_rv, &e, &len) < 0)
		return fail(ret_error, -EINVAL, "firmware has no SEV hash table (not an AmdSev OVMF build)");
	/* SevHashTableDescriptor {u32 base, u32 size}; QEMU refuses a zero base or a short area. */
	if (len < 8)
		return fail(ret_error, -EINVAL, "firmware SEV hash table entry is truncated");
	if (get32(e) == 0 || get32(e + 4) < CC_SEV_HASH_TABLE_LEN)
		return fail(ret_error, -EINVAL, "firmware SEV hash table area is invalid (base 0x%x, size 0x%x)",
			    get32(e), get32(e + 4));
	*ret_gpa = get32(e);
	return 0;
}

int cc_firmware_ap_reset_eip(const struct cc_firmware *fw, uint32_t *ret_eip, char **ret_error)
{
	const uint8_t *e;
	size_t len;

	if (cc_firmware_table_entry(fw, guid_sev_es_reset_block, &e, &len) < 0)
		return fail(ret_error, -EINVAL, "firmware has no SEV-ES reset block");
	if (len < 4)
		return fail(ret_error, -EINVAL, "firmware SEV-ES reset block is truncated");
	if (get32(e) == 0)
		return fail(ret_error, -EINVAL, "firmware SEV-ES reset address is 0");
	*ret_eip = get32(e);
	return 0;
}

void cc_snp_page_info_update(uint8_t ld[CC_SHA384_LEN], enum cc_snp_page_type type, uint64_t gpa,
			     const uint8_t contents[CC_SHA384_LEN])
{
	uint8_t pi[SNP_PAGE_INFO_LEN] = { 0 };

	memcpy(pi, ld, CC_SHA384_LEN);
	memcpy(pi + 48, contents, CC_SHA384_LEN);
	put16(pi + 96, SNP_PAGE_INFO_LEN);
	pi[98] = type;
	/* 99: is_imi, 100..102: VMPL3..1 permissions, 103: reserved: all 0 at launch */
	put64(pi + 104, gpa);
	digest_once(G_CHECKSUM_SHA384, pi, sizeof(pi), ld);
}

static void snp_normal_pages(uint8_t ld[CC_SHA384_LEN], uint64_t gpa, const uint8_t *data, size_t len)
{
	uint8_t h[CC_SHA384_LEN];

	for (size_t off = 0; off < len; off += CC_PAGE_SIZE) {
		digest_once(G_CHECKSUM_SHA384, data + off, CC_PAGE_SIZE, h);
		cc_snp_page_info_update(ld, CC_SNP_PAGE_NORMAL, gpa + off, h);
	}
}

/* Zero, secrets and CPUID pages are measured with zero contents: the PSP fills them. */
static void snp_empty_pages(uint8_t ld[CC_SHA384_LEN], enum cc_snp_page_type type, uint64_t gpa, uint64_t len)
{
	static const uint8_t zero[CC_SHA384_LEN];

	for (uint64_t off = 0; off < len; off += CC_PAGE_SIZE)
		cc_snp_page_info_update(ld, type, gpa + off, zero);
}

static void vmsa_seg(uint8_t *p, uint16_t selector, uint16_t attrib, uint32_t limit, uint64_t base)
{
	put16(p, selector);
	put16(p + 2, attrib);
	put32(p + 4, limit);
	put64(p + 8, base);
}

/* Offsets are struct sev_es_save_area's (arch/x86/include/asm/svm.h, AMD APM vol. 2 table B-4);
 * values are QEMU/KVM's at reset (x86_cpu_reset, sev_es_sync_vmsa), as sev-snp-measure writes
 * them for its QEMU vmm type. */
void cc_vmsa_build(uint8_t ret[CC_PAGE_SIZE], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig)
{
	memset(ret, 0, CC_PAGE_SIZE);
	vmsa_seg(ret + 0x00, 0, 0x93, 0xffff, 0);                     /* es */
	vmsa_seg(ret + 0x10, 0xf000, 0x9b, 0xffff, eip & 0xffff0000); /* cs: the reset vector's segment */
	vmsa_seg(ret + 0x20, 0, 0x93, 0xffff, 0);                     /* ss */
	vmsa_seg(ret + 0x30, 0, 0x93, 0xffff, 0);                     /* ds */
	vmsa_seg(ret + 0x40, 0, 0x93, 0xffff, 0);                     /* fs */
	vmsa_seg(ret + 0x50, 0, 0x93, 0xffff, 0);                     /* gs */
	vmsa_seg(ret + 0x60, 0, 0, 0xffff, 0);                        /* gdtr */
	vmsa_seg(ret + 0x70, 0, 0x82, 0xffff, 0);                     /* ldtr */
	vmsa_seg(ret + 0x80, 0, 0, 0xffff, 0);                        /* idtr */
	vmsa_seg(ret + 0x90, 0, 0x8b, 0xffff, 0);                     /* tr */
	put64(ret + 0xd0, 0x1000);                                    /* efer: KVM sets SVME */
	put64(ret + 0x148, 0x40);                                     /* cr4: KVM sets MCE */
	put64(ret + 0x158, 0x10);                                     /* cr0: ET */
	put64(ret + 0x160, 0x400);                                    /* dr7 */
	put64(ret + 0x168, 0xffff0ff0);                               /* dr6 */
	put64(ret + 0x170, 0x2);                                      /* rflags */
	put64(ret + 0x178, eip & 0xffff);                             /* rip */
	put64(ret + 0x268, 0x0007040600070406ull);                    /* g_pat: the PAT reset value */
	put64(ret + 0x310, vcpu_sig);                                 /* rdx: CPUID signature at reset */
	put64(ret + 0x3b0, sev_features);
	put64(ret + 0x3e8, 0x1);    /* xcr0 */
	put32(ret + 0x408, 0x1f80); /* mxcsr */
	put16(ret + 0x410, 0x37f);  /* x87 fcw */
}

uint32_t cc_cpu_sig(unsigned family, unsigned model, unsigned stepping)
{
	unsigned fam_lo = family > 0xf ? 0xf : family, fam_hi = family > 0xf ? (family - 0xf) & 0xff : 0;

	return fam_hi << 20 | ((model >> 4) & 0xf) << 16 | fam_lo << 8 | (model & 0xf) << 4 | (stepping & 0xf);
}

/* QEMU's builtin_x86_defs (target/i386/cpu.c): each model's family, model and stepping. */
static const struct {
	const char *name;
	unsigned family, model, stepping;
} vcpu_types[] = {
	{ "EPYC", 23, 1, 2 },          { "EPYC-v1", 23, 1, 2 },       { "EPYC-v2", 23, 1, 2 },
	{ "EPYC-IBPB", 23, 1, 2 },     { "EPYC-v3", 23, 1, 2 },       { "EPYC-v4", 23, 1, 2 },
	{ "EPYC-Rome", 23, 49, 0 },    { "EPYC-Rome-v1", 23, 49, 0 }, { "EPYC-Rome-v2", 23, 49, 0 },
	{ "EPYC-Rome-v3", 23, 49, 0 }, { "EPYC-Milan", 25, 1, 1 },    { "EPYC-Milan-v1", 25, 1, 1 },
	{ "EPYC-Milan-v2", 25, 1, 1 }, { "EPYC-Genoa", 25, 17, 0 },   { "EPYC-Genoa-v1", 25, 17, 0 },
	{ "EPYC-Turin", 26, 0, 0 },
};

int cc_vcpu_sig(const char *vcpu_type, uint32_t *ret_sig, char **ret_error)
{
	for (size_t i = 0; vcpu_type && i < G_N_ELEMENTS(vcpu_types); i++)
		if (strcmp(vcpu_types[i].name, vcpu_type) == 0) {
			*ret_sig = cc_cpu_sig(vcpu_types[i].family, vcpu_types[i].model, vcpu_types[i].stepping);
			return 0;
		}
	return fail(ret_error, -EINVAL, "unknown vCPU type `%s`", vcpu_type ? vcpu_type : "");
}

static int snp_section(const struct cc_firmware *fw, const struct cc_sev_section_desc *s, uint8_t ld[CC_SHA384_LEN],
		       const uint8_t *hash_table, char **ret_error)
{
	uint8_t page[CC_PAGE_SIZE] = { 0 };
	uint32_t table_gpa, off;
	int r;

	switch (s->type) {
	case CC_SEV_SECTION_SNP_SEC_MEM:
	case CC_SEV_SECTION_SVSM_CAA:
		if (s->size % CC_PAGE_SIZE != 0)
			return fail(ret_error, -EINVAL, "firmware SEV section at 0x%x has size 0x%x, not whole pages",
				    s->gpa, s->size);
		snp_empty_pages(ld, CC_SNP_PAGE_ZERO, s->gpa, s->size);
		return 0;
	case CC_SEV_SECTION_SNP_SECRETS: snp_empty_pages(ld, CC_SNP_PAGE_SECRETS, s->gpa, CC_PAGE_SIZE); return 0;
	case CC_SEV_SECTION_CPUID: snp_empty_pages(ld, CC_SNP_PAGE_CPUID, s->gpa, CC_PAGE_SIZE); return 0;
	case CC_SEV_SECTION_SNP_KERNEL_HASHES:
		if (!hash_table) {
			/* No kernel: QEMU leaves the page zero, and it is measured as such. */
			if (s->size % CC_PAGE_SIZE != 0)
				return fail(ret_error, -EINVAL, "firmware kernel hashes section has size 0x%x",
					    s->size);
			snp_empty_pages(ld, CC_SNP_PAGE_ZERO, s->gpa, s->size);
			return 0;
		}
		if (s->size != CC_PAGE_SIZE)
			return fail(ret_error, -EINVAL, "firmware kernel hashes section has size 0x%x, not one page",
				    s->size);
		r = cc_firmware_hash_table_gpa(fw, &table_gpa, ret_error);
		if (r < 0)
			return r;
		off = table_gpa & (CC_PAGE_SIZE - 1);
		if (off + CC_SEV_HASH_TABLE_LEN > CC_PAGE_SIZE)
			return fail(ret_error, -EINVAL, "firmware SEV hash table at 0x%x crosses a page", table_gpa);
		memcpy(page + off, hash_table, CC_SEV_HASH_TABLE_LEN);
		snp_normal_pages(ld, s->gpa, page, CC_PAGE_SIZE);
		return 0;
	default: return fail(ret_error, -EINVAL, "firmware SEV section type 0x%x is unknown", s->type);
	}
}

int cc_launch_digest(const struct cc_firmware *fw, enum cc_measure_mode mode, const uint8_t *hash_table, unsigned vcpus,
		     uint32_t vcpu_sig, uint64_t guest_features, uint8_t *ret_digest, size_t *ret_len, char **ret_error)
{
	uint8_t bsp[CC_PAGE_SIZE], ap[CC_PAGE_SIZE], ld[CC_SHA384_LEN] = { 0 }, h[CC_SHA384_LEN];
	g_autoptr(GChecksum) c = NULL;
	bool has_hashes = false;
	uint32_t ap_eip = 0, gpa = 0;
	gsize n;
	int r;

	if ((int)mode < 0 || mode >= _CC_MEASURE_MODE_MAX)
		return fail(ret_error, -EINVAL, "unknown measurement mode %d", mode);
	if (hash_table) {
		r = cc_firmware_hash_table_gpa(fw, &gpa, ret_error);
		if (r < 0)
			return r;
	}
	if (mode != CC_MEASURE_SEV) {
		if (vcpus == 0 || vcpus > MAX_VCPUS)
			return fail(ret_error, -EINVAL, "vCPU count %u is out of range (1..%u)", vcpus, MAX_VCPUS);
		r = cc_firmware_ap_reset_eip(fw, &ap_eip, ret_error);
		if (r < 0)
			return r;
	}

	if (mode != CC_MEASURE_SNP) {
		/* LAUNCH_UPDATE_DATA of the image, then of the hash table, then LAUNCH_UPDATE_VMSA;
		 * the PSP's digest is SHA-256 over what was encrypted, in order. SEV-ES VMSAs carry
		 * no SEV_FEATURES here (the reference uses 0). */
		c = g_checksum_new(G_CHECKSUM_SHA256);
		g_checksum_update(c, fw->data, fw->size);
		if (hash_table)
			g_checksum_update(c, hash_table, CC_SEV_HASH_TABLE_LEN);
		if (mode == CC_MEASURE_SEV_ES) {
			cc_vmsa_build(bsp, CC_BSP_EIP, 0, vcpu_sig);
			cc_vmsa_build(ap, ap_eip, 0, vcpu_sig);
			for (unsigned i = 0; i < vcpus; i++)
				g_checksum_update(c, i == 0 ? bsp : ap, CC_PAGE_SIZE);
		}
		n = CC_SHA256_LEN;
		g_checksum_get_digest(c, ret_digest, &n);
		*ret_len = CC_SHA256_LEN;
		return 0;
	}

	snp_normal_pages(ld, fw->gpa, fw->data, fw->size);
	for (size_t i = 0; i < fw->n_sections; i++) {
		if (fw->sections[i].type == CC_SEV_SECTION_SNP_KERNEL_HASHES)
			has_hashes = true;
		r = snp_section(fw, &fw->sections[i], ld, hash_table, ret_error);
		if (r < 0)
			return r;
	}
	if (hash_table && !has_hashes)
		return fail(ret_error, -EINVAL, "firmware SEV metadata has no kernel hashes section");
	cc_vmsa_build(bsp, CC_BSP_EIP, guest_features, vcpu_sig);
	cc_vmsa_build(ap, ap_eip, guest_features, vcpu_sig);
	for (unsigned i = 0; i < vcpus; i++) {
		digest_once(G_CHECKSUM_SHA384, i == 0 ? bsp : ap, CC_PAGE_SIZE, h);
		cc_snp_page_info_update(ld, CC_SNP_PAGE_VMSA, SNP_VMSA_GPA, h);
	}
	memcpy(ret_digest, ld, CC_SHA384_LEN);
	*ret_len = CC_SHA384_LEN;
	return 0;
}

void cc_sev_hash_table_build(const uint8_t cmdline_sha[CC_SHA256_LEN], const uint8_t initrd_sha[CC_SHA256_LEN],
			     const uint8_t kernel_sha[CC_SHA256_LEN], uint8_t ret[CC_SEV_HASH_TABLE_LEN])
{
	const uint8_t *guids[3] = { guid_hash_cmdline, guid_hash_initrd, guid_hash_kernel };
	const uint8_t *shas[3] = { cmdline_sha, initrd_sha, kernel_sha };

	memset(ret, 0, CC_SEV_HASH_TABLE_LEN);
	memcpy(ret, guid_hash_table, 16);
	put16(ret + 16, HASH_TABLE_RAW_LEN);
	for (int i = 0; i < 3; i++) {
		uint8_t *e = ret + 18 + i * HASH_ENTRY_LEN;

		memcpy(e, guids[i], 16);
		put16(e + 16, HASH_ENTRY_LEN);
		memcpy(e + 18, shas[i], CC_SHA256_LEN);
	}
}

/* Streams @path through SHA-256; with @header, its first bytes also land there (*ret_hdr_len). */
static int hash_file(const char *path, const char *what, uint8_t ret[CC_SHA256_LEN], uint8_t *header, size_t header_max,
		     size_t *ret_hdr_len, uint64_t *ret_size, char **ret_error)
{
	g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
	uint8_t buf[65536];
	uint64_t total = 0;
	size_t n, hdr = 0;
	gsize dl = CC_SHA256_LEN;
	FILE *f;
	int r;

	f = fopen(path, "rbe");
	if (!f)
		return fail(ret_error, -errno, "cannot open %s `%s`: %s", what, path, g_strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (header && hdr < header_max) {
			size_t k = MIN(n, header_max - hdr);

			memcpy(header + hdr, buf, k);
			hdr += k;
		}
		g_checksum_update(c, buf, n);
		total += n;
	}
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r < 0)
		return fail(ret_error, r, "cannot read %s `%s`", what, path);
	g_checksum_get_digest(c, ret, &dl);
	if (ret_hdr_len)
		*ret_hdr_len = hdr;
	if (ret_size)
		*ret_size = total;
	return 0;
}

#define BZ_HEADER_MAX 8192

/* QEMU's x86_load_linux: with confidential-guest-support it keeps its setup-header patches
 * (loader type, heap end, cmdline and initrd addresses) in a copy and passes the setup part
 * unpatched, so SHA-256(setup || kernel) is the file's. What it does check is kept here. */
static int kernel_hash(const char *kernel, uint8_t ret[CC_SHA256_LEN], uint16_t *ret_protocol, char **ret_error)
{
	uint8_t hdr[BZ_HEADER_MAX] = { 0 }, sha[CC_SHA256_LEN];
	uint64_t size = 0, setup;
	size_t hdr_len = 0;
	int r;

	r = hash_file(kernel, "kernel", sha, hdr, sizeof(hdr), &hdr_len, &size, ret_error);
	if (r < 0)
		return r;
	/* An ELF (PVH) or multiboot kernel takes other QEMU paths, which write no hashes. */
	if (hdr_len < 0x208 || get32(hdr + 0x202) != 0x53726448)
		return fail(ret_error, -EINVAL, "kernel `%s` is not a bzImage (no HdrS setup header)", kernel);
	setup = hdr[0x1f1] ? hdr[0x1f1] : 4;
	setup = (setup + 1) * 512;
	if (setup > size)
		return fail(ret_error, -EINVAL, "kernel `%s` has an invalid setup header (setup part past its end)",
			    kernel);
	memcpy(ret, sha, CC_SHA256_LEN);
	if (ret_protocol)
		*ret_protocol = get16(hdr + 0x206);
	return 0;
}

int cc_kernel_hash(const char *kernel, uint8_t ret[CC_SHA256_LEN], char **ret_error)
{
	return kernel_hash(kernel, ret, NULL, ret_error);
}

int cc_sev_hash_table(const char *kernel, const char *initrd, const char *cmdline, uint8_t ret[CC_SEV_HASH_TABLE_LEN],
		      char **ret_error)
{
	uint8_t k[CC_SHA256_LEN], i[CC_SHA256_LEN], c[CC_SHA256_LEN];
	uint16_t protocol;
	int r;

	if (!kernel)
		return fail(ret_error, -EINVAL, "no kernel to hash");
	r = kernel_hash(kernel, k, &protocol, ret_error);
	if (r < 0)
		return r;
	if (initrd) {
		if (protocol < 0x200)
			return fail(ret_error, -EINVAL, "kernel `%s` is too old to load an initrd", kernel);
		r = hash_file(initrd, "initrd", i, NULL, 0, NULL, NULL, ret_error);
		if (r < 0)
			return r;
	} else {
		digest_once(G_CHECKSUM_SHA256, "", 0, i);
	}
	/* QEMU hashes the command line with its NUL (fw_cfg's CMDLINE_SIZE is strlen + 1). */
	cmdline = cmdline ? cmdline : "";
	digest_once(G_CHECKSUM_SHA256, cmdline, strlen(cmdline) + 1, c);
	cc_sev_hash_table_build(c, i, k, ret);
	return 0;
}

int cc_measure(const struct cc_measure_input *in, uint8_t *ret_digest, size_t *ret_len, char **ret_error)
{
	uint8_t table[CC_SEV_HASH_TABLE_LEN], digest[CC_MEASURE_MAX_LEN];
	struct cc_firmware *fw = NULL;
	uint32_t sig = 0;
	size_t len = 0;
	int r;

	if (!in->firmware)
		return fail(ret_error, -EINVAL, "no firmware to measure");
	if (!in->kernel && (in->initrd || in->cmdline))
		return fail(ret_error, -EINVAL, "an initrd or command line needs a kernel");
	if (in->mode != CC_MEASURE_SEV) {
		r = cc_vcpu_sig(in->vcpu_type, &sig, ret_error);
		if (r < 0)
			return r;
	}
	if (in->kernel) {
		r = cc_sev_hash_table(in->kernel, in->initrd, in->cmdline, table, ret_error);
		if (r < 0)
			return r;
	}
	r = cc_firmware_load(in->firmware, &fw, ret_error);
	if (r < 0)
		return r;
	r = cc_launch_digest(fw, in->mode, in->kernel ? table : NULL, in->vcpus, sig, in->guest_features, digest, &len,
			     ret_error);
	cc_firmware_free(fw);
	if (r < 0)
		return r;
	memcpy(ret_digest, digest, len);
	*ret_len = len;
	return 0;
}

/* Initdata. */

/* Go's base64.StdEncoding, which Kata decodes with: the standard alphabet, padded, CR and LF
 * ignored. g_base64_decode skips what it does not know, so the text is checked first. */
static int base64_strict(const char *s, uint8_t **ret, size_t *ret_len, char **ret_error)
{
	g_autofree char *clean = g_malloc(strlen(s) + 1);
	size_t n = 0, pad = 0;
	gsize out;

	for (const char *p = s; *p; p++) {
		if (*p == '\r' || *p == '\n')
			continue;
		if (*p == '=') {
			pad++;
		} else if (pad || !(g_ascii_isalnum(*p) || *p == '+' || *p == '/')) {
			return fail(ret_error, -EINVAL, "initdata is not valid base64");
		}
		clean[n++] = *p;
	}
	clean[n] = 0;
	if (n == 0 || n % 4 != 0 || pad > 2)
		return fail(ret_error, -EINVAL, "initdata is not valid base64");
	*ret = g_base64_decode(clean, &out);
	*ret_len = out;
	return 0;
}

static int gunzip_capped(const uint8_t *in, size_t in_len, size_t cap, char **ret, size_t *ret_len, char **ret_error)
{
	g_autoptr(GZlibDecompressor) z = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
	g_autofree char *out = g_malloc(cap + 1);
	size_t in_off = 0, out_off = 0;

	for (;;) {
		g_autoptr(GError) err = NULL;
		gsize rd = 0, wr = 0;
		GConverterResult res;

		/* One spare byte: output that reaches it is over the cap. */
		res = g_converter_convert(G_CONVERTER(z), in + in_off, in_len - in_off, out + out_off,
					  cap + 1 - out_off, G_CONVERTER_INPUT_AT_END, &rd, &wr, &err);
		if (res == G_CONVERTER_ERROR) {
			if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
				return fail(ret_error, -E2BIG, "initdata decompresses to over %zu bytes", cap);
			return fail(ret_error, -EINVAL, "initdata is not valid gzip: %s", err->message);
		}
		in_off += rd;
		out_off += wr;
		if (out_off > cap)
			return fail(ret_error, -E2BIG, "initdata decompresses to over %zu bytes", cap);
		if (res == G_CONVERTER_FINISHED)
			break;
		if (rd == 0 && wr == 0)
			return fail(ret_error, -EINVAL, "initdata gzip stream is truncated");
	}
	if (in_off != in_len)
		return fail(ret_error, -EINVAL, "initdata has data after its gzip stream");
	out[out_off] = 0;
	*ret = g_steal_pointer(&out);
	*ret_len = out_off;
	return 0;
}

/* A TOML string value, "basic" or 'literal', with only a comment after it. Escapes are refused:
 * algorithm names and versions have none. Returns NULL if @p holds none of that. */
static char *toml_string(const char *p, const char *end)
{
	const char *q;
	char quote;

	if (p >= end || (*p != '"' && *p != '\''))
		return NULL;
	quote = *p++;
	for (q = p; q < end && *q != quote; q++)
		if (*q == '\\')
			return NULL;
	if (q >= end)
		return NULL;
	for (const char *r = q + 1; r < end && *r != '#'; r++)
		if (*r != ' ' && *r != '\t' && *r != '\r')
			return NULL;
	return g_strndup(p, q - p);
}

/* Reads algorithm and version from the TOML's top level (before its first [table]); a
 * line-based read, not a TOML parser: other keys are skipped, and so are multi-line strings, so
 * that their lines are not taken for keys. */
static int toml_top_level(const char *toml, size_t len, char **ret_alg, char **ret_version, char **ret_error)
{
	g_autofree char *alg = NULL, *version = NULL;
	const char *p = toml, *end = toml + len, *in_multi = NULL;

	while (p < end) {
		const char *eol = memchr(p, '\n', end - p), *k, *v;
		char **slot = NULL;
		size_t klen;

		eol = eol ? eol : end;
		if (in_multi) {
			const char *hit = g_strstr_len(p, eol - p, in_multi);

			if (hit)
				in_multi = NULL;
			p = eol + 1;
			continue;
		}
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (p < eol && *p == '[')
			break;
		if (p >= eol || *p == '#' || *p == '\r') {
			p = eol + 1;
			continue;
		}
		k = p;
		if (*k == '"' || *k == '\'') {
			const char *q = memchr(k + 1, *k, eol - k - 1);

			if (!q) {
				p = eol + 1;
				continue;
			}
			k++;
			klen = q - k;
			v = q + 1;
		} else {
			for (v = k; v < eol && (g_ascii_isalnum(*v) || *v == '_' || *v == '-'); v++)
				;
			klen = v - k;
		}
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		if (v >= eol || *v != '=') {
			p = eol + 1;
			continue;
		}
		for (v++; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		if (eol - v >= 3 && (memcmp(v, "\"\"\"", 3) == 0 || memcmp(v, "'''", 3) == 0)) {
			const char *delim = *v == '"' ? "\"\"\"" : "'''";

			if (!g_strstr_len(v + 3, eol - v - 3, delim))
				in_multi = delim;
		}
		if (klen == 9 && memcmp(k, "algorithm", 9) == 0)
			slot = &alg;
		else if (klen == 7 && memcmp(k, "version", 7) == 0)
			slot = &version;
		if (slot) {
			if (*slot)
				return fail(ret_error, -EINVAL, "initdata TOML defines `%.*s` twice", (int)klen, k);
			*slot = toml_string(v, eol);
			if (!*slot)
				return fail(ret_error, -EINVAL, "initdata TOML `%.*s` is not a plain string", (int)klen,
					    k);
		}
		p = eol + 1;
	}
	if (!alg)
		return fail(ret_error, -EINVAL, "initdata TOML has no top-level algorithm");
	if (!version)
		return fail(ret_error, -EINVAL, "initdata TOML has no top-level version");
	*ret_alg = g_steal_pointer(&alg);
	*ret_version = g_steal_pointer(&version);
	return 0;
}

/* Kata's adjustProperLength: zero-pad or truncate the digest to the field. */
static void fit(uint8_t *dst, size_t dst_len, const uint8_t *src, size_t src_len)
{
	memset(dst, 0, dst_len);
	memcpy(dst, src, MIN(dst_len, src_len));
}

int cc_initdata_parse(const char *annotation, struct cc_initdata *ret, char **ret_error)
{
	static const struct {
		const char *name;
		GChecksumType type;
	} algs[_CC_INITDATA_ALG_MAX] = {
		[CC_INITDATA_SHA256] = { "sha256", G_CHECKSUM_SHA256 },
		[CC_INITDATA_SHA384] = { "sha384", G_CHECKSUM_SHA384 },
		[CC_INITDATA_SHA512] = { "sha512", G_CHECKSUM_SHA512 },
	};
	g_autofree uint8_t *gz = NULL;
	g_autofree char *toml = NULL, *alg = NULL, *version = NULL;
	struct cc_initdata d = { 0 };
	size_t gz_len = 0, toml_len = 0;
	int r, a;

	if (!annotation || !*annotation)
		return fail(ret_error, -ENODATA, "initdata is empty");
	if (strlen(annotation) > CC_INITDATA_ANNOTATION_MAX)
		return fail(ret_error, -E2BIG, "initdata annotation is over %u bytes", CC_INITDATA_ANNOTATION_MAX);
	r = base64_strict(annotation, &gz, &gz_len, ret_error);
	if (r < 0)
		return r;
	r = gunzip_capped(gz, gz_len, CC_INITDATA_MAX, &toml, &toml_len, ret_error);
	if (r < 0)
		return r;
	r = toml_top_level(toml, toml_len, &alg, &version, ret_error);
	if (r < 0)
		return r;
	for (a = 0; a < _CC_INITDATA_ALG_MAX; a++)
		if (strcmp(alg, algs[a].name) == 0)
			break;
	if (a == _CC_INITDATA_ALG_MAX)
		return fail(ret_error, -EINVAL, "initdata algorithm `%s` is not sha256, sha384 or sha512", alg);

	d.algorithm = a;
	d.digest_len = g_checksum_type_get_length(algs[a].type);
	digest_once(algs[a].type, toml, toml_len, d.digest);
	fit(d.snp_host_data, sizeof(d.snp_host_data), d.digest, d.digest_len);
	fit(d.tdx_mrconfigid, sizeof(d.tdx_mrconfigid), d.digest, d.digest_len);
	d.snp_host_data_b64 = g_base64_encode(d.snp_host_data, sizeof(d.snp_host_data));
	d.tdx_mrconfigid_b64 = g_base64_encode(d.tdx_mrconfigid, sizeof(d.tdx_mrconfigid));
	d.version = g_steal_pointer(&version);
	d.toml = g_steal_pointer(&toml);
	d.toml_len = toml_len;
	*ret = d;
	return 0;
}

void cc_initdata_done(struct cc_initdata *d)
{
	if (!d)
		return;
	g_free(d->version);
	g_free(d->toml);
	g_free(d->snp_host_data_b64);
	g_free(d->tdx_mrconfigid_b64);
	memset(d, 0, sizeof(*d));
}
