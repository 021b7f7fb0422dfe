/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Launch measurements of AMD SEV, SEV-ES and SEV-SNP guests that QEMU starts with direct kernel
 * boot and kernel-hashes=on, and the Kata-compatible initdata digest: pure computation over
 * files, no hardware. A relying party compares these digests with the guest's attestation
 * report, so they must match what the AMD Secure Processor computes bit for bit; the reference
 * is virtee/sev-snp-measure (its QEMU "vmm type"), and the vectors in tests/unit/measure/ come
 * from it.
 *
 * The firmware image is untrusted input: every offset and length read from it is bounded, and a
 * truncated or malformed image gives -EINVAL and a message, never a read past its end.
 *
 * This layer follows the systemd model: 0 or -errno, and on failure a one-phrase message in
 * *ret_error (g_free it) where ret_error is not NULL. ret_* outputs are not written on failure.
 */
#ifndef RUNVM_TDX_MEASURE_H
#define RUNVM_TDX_MEASURE_H

#include <stddef.h>
#include <stdint.h>

enum cc_measure_mode {
	CC_MEASURE_SEV,    /* SHA-256(firmware || hash table) */
	CC_MEASURE_SEV_ES, /* SHA-256(firmware || hash table || one VMSA per vCPU) */
	CC_MEASURE_SNP,    /* SHA-384 chain of PAGE_INFO over firmware, metadata pages, VMSAs */
	_CC_MEASURE_MODE_MAX,
};

#define CC_SHA256_LEN 32
#define CC_SHA384_LEN 48
#define CC_MEASURE_MAX_LEN CC_SHA384_LEN
#define CC_PAGE_SIZE 4096
/* QEMU's PaddedSevHashTable: 168 bytes of table padded to a 16-byte multiple. */
#define CC_SEV_HASH_TABLE_LEN 176
/* Images larger than this are refused before they are read (an OVMF is 2 or 4 MiB). */
#define CC_FIRMWARE_MAX (64u << 20)

/* SNP guest features (VMSA SEV_FEATURES): SNPActive, and DebugSwap that KVM 6.6+ turns on where
 * the host supports it; which of 0x1 and 0x21 a host gives depends on its kernel. */
#define CC_SNP_FEATURE_SNP_ACTIVE 0x1ull
#define CC_SNP_FEATURE_DEBUG_SWAP 0x20ull

struct cc_measure_input {
	enum cc_measure_mode mode;
	const char *firmware;    /* the OVMF image QEMU gets with -bios (AmdSev build for kernel hashes) */
	const char *kernel;      /* bzImage, or NULL: no direct boot, so no hash table */
	const char *initrd;      /* NULL: the hash of an empty initrd */
	const char *cmdline;     /* NULL: the hash of "" (QEMU hashes the trailing NUL either way) */
	unsigned vcpus;          /* SEV-ES and SNP: one VMSA each; ignored for SEV */
	const char *vcpu_type;   /* QEMU -cpu model (e.g. "EPYC-v4"): its signature is in RDX */
	uint64_t guest_features; /* SNP only: SEV_FEATURES, e.g. CC_SNP_FEATURE_SNP_ACTIVE */
};

/* The whole measurement: reads the files, writes the digest (32 bytes for SEV and SEV-ES, 48 for
 * SNP) to ret_digest (CC_MEASURE_MAX_LEN bytes) and its length to *ret_len. -ENOENT etc. for a
 * file that cannot be read, -EINVAL for malformed input or a firmware that cannot take what is
 * asked (a kernel but no hash table; vCPUs but no SEV-ES reset block). */
int cc_measure(const struct cc_measure_input *in, uint8_t *ret_digest, size_t *ret_len, char **ret_error);

/* A parsed firmware image: its bytes, its GUIDed footer table and its SEV metadata sections. */
struct cc_firmware;

int cc_firmware_load(const char *path, struct cc_firmware **ret, char **ret_error);
/* The same from memory (copied), so tests can feed malformed images. */
int cc_firmware_parse(const void *data, size_t size, struct cc_firmware **ret, char **ret_error);
struct cc_firmware *cc_firmware_free(struct cc_firmware *fw);

/* Footer table lookups. The data of the entry with @guid (16 bytes, EFI byte order) and its
 * length; -ENOENT where the table has no such entry. */
int cc_firmware_table_entry(const struct cc_firmware *fw, const uint8_t guid[16], const uint8_t **ret_data,
			    size_t *ret_len);
/* Where the firmware wants the hash table (SEV_HASH_TABLE_RV_GUID: base, size), checked as QEMU
 * does: present, base not 0, size at least CC_SEV_HASH_TABLE_LEN. */
int cc_firmware_hash_table_gpa(const struct cc_firmware *fw, uint32_t *ret_gpa, char **ret_error);
/* The APs' reset address (SEV_ES_RESET_BLOCK_GUID), not 0. */
int cc_firmware_ap_reset_eip(const struct cc_firmware *fw, uint32_t *ret_eip, char **ret_error);

/* OVMF's SEV metadata ("ASEV") section types. */
enum cc_sev_section {
	CC_SEV_SECTION_SNP_SEC_MEM = 1,
	CC_SEV_SECTION_SNP_SECRETS = 2,
	CC_SEV_SECTION_CPUID = 3,
	CC_SEV_SECTION_SVSM_CAA = 4,
	CC_SEV_SECTION_SNP_KERNEL_HASHES = 0x10,
};

struct cc_sev_section_desc {
	uint32_t gpa, size, type;
};

/* The metadata sections in image order (the order SNP measures them); *ret_n is 0 for an image
 * without SEV metadata. The array belongs to @fw. */
void cc_firmware_sections(const struct cc_firmware *fw, const struct cc_sev_section_desc **ret, size_t *ret_n);

/* The launch digest of a parsed firmware plus, where @hash_table is not NULL, the hash table
 * (CC_SEV_HASH_TABLE_LEN bytes, from cc_sev_hash_table). @vcpus, @vcpu_sig and @guest_features
 * as in struct cc_measure_input. */
int cc_launch_digest(const struct cc_firmware *fw, enum cc_measure_mode mode, const uint8_t *hash_table, unsigned vcpus,
		     uint32_t vcpu_sig, uint64_t guest_features, uint8_t *ret_digest, size_t *ret_len,
		     char **ret_error);

/* The table QEMU writes with kernel-hashes=on (target/i386/sev.c PaddedSevHashTable), from the
 * three SHA-256 digests: header {guid, u16 168}, then cmdline, initrd, kernel entries {guid,
 * u16 50, sha256}, 8 zero bytes. GUIDs in EFI mixed-endian byte order. */
void cc_sev_hash_table_build(const uint8_t cmdline_sha[CC_SHA256_LEN], const uint8_t initrd_sha[CC_SHA256_LEN],
			     const uint8_t kernel_sha[CC_SHA256_LEN], uint8_t ret[CC_SEV_HASH_TABLE_LEN]);
/* The same from the files; @initrd and @cmdline may be NULL. */
int cc_sev_hash_table(const char *kernel, const char *initrd, const char *cmdline, uint8_t ret[CC_SEV_HASH_TABLE_LEN],
		      char **ret_error);
/* The kernel entry's hash: SHA-256 over the bzImage's setup part then its kernel part as QEMU
 * hands them to the firmware (hw/i386/x86-common.c x86_load_linux). With a confidential guest
 * QEMU leaves the setup header unpatched, so this is the file's SHA-256; the file must still be
 * a bzImage ("HdrS"), as QEMU only writes the hashes on that path, and its setup part must fit. */
int cc_kernel_hash(const char *kernel, uint8_t ret[CC_SHA256_LEN], char **ret_error);

/* SNP: one PAGE_INFO update of the launch digest @ld (SNP firmware ABI, PAGE_INFO: digest,
 * contents, u16 length 0x70, page type, is_imi 0, VMPL permissions 0, GPA). */
enum cc_snp_page_type {
	CC_SNP_PAGE_NORMAL = 1,
	CC_SNP_PAGE_VMSA = 2,
	CC_SNP_PAGE_ZERO = 3,
	CC_SNP_PAGE_UNMEASURED = 4,
	CC_SNP_PAGE_SECRETS = 5,
	CC_SNP_PAGE_CPUID = 6,
};
void cc_snp_page_info_update(uint8_t ld[CC_SHA384_LEN], enum cc_snp_page_type type, uint64_t gpa,
			     const uint8_t contents[CC_SHA384_LEN]);

/* The initial VMSA (SEV-ES save area) QEMU/KVM give a vCPU starting at @eip: CS base and RIP
 * split as the reset vector wants, RDX the CPUID signature, the reset values KVM sets. */
void cc_vmsa_build(uint8_t ret[CC_PAGE_SIZE], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig);
/* The BSP's reset vector. */
#define CC_BSP_EIP 0xfffffff0u

/* The CPUID Fn0000_0001 EAX signature of a QEMU CPU model (EPYC, EPYC-v1..v4, EPYC-IBPB,
 * EPYC-Rome[-v1..v3], EPYC-Milan[-v1,-v2], EPYC-Genoa[-v1], EPYC-Turin); -EINVAL otherwise. */
int cc_vcpu_sig(const char *vcpu_type, uint32_t *ret_sig, char **ret_error);
/* The signature from family, model and stepping (AMD CPUID spec #25481). */
uint32_t cc_cpu_sig(unsigned family, unsigned model, unsigned stepping);

/* Kata-compatible initdata (annotation io.katacontainers.config.hypervisor.cc_init_data). */
enum cc_initdata_alg {
	CC_INITDATA_SHA256,
	CC_INITDATA_SHA384,
	CC_INITDATA_SHA512,
	_CC_INITDATA_ALG_MAX,
};

/* Decompressed TOML larger than this is refused (a gzip bomb stops here). */
#define CC_INITDATA_MAX (256u << 10)
/* Longer annotations are refused before decoding. */
#define CC_INITDATA_ANNOTATION_MAX (1u << 20)

struct cc_initdata {
	enum cc_initdata_alg algorithm;
	char *version; /* the TOML's top-level version, e.g. "0.1.0" */
	char *toml;    /* the decompressed TOML, NUL-terminated; toml_len excludes the NUL */
	size_t toml_len;
	uint8_t digest[64]; /* the algorithm's hash of the TOML bytes */
	size_t digest_len;
	/* The digest zero-padded or truncated to the field (Kata adjustProperLength), and its
	 * base64 as QEMU takes it: sev-snp-guest host-data, tdx-guest mrconfigid. */
	uint8_t snp_host_data[32];
	uint8_t tdx_mrconfigid[48];
	char *snp_host_data_b64;
	char *tdx_mrconfigid_b64;
};

/* @annotation is base64(gzip(TOML)); the TOML's top level must name algorithm (sha256, sha384 or
 * sha512) and version. -ENODATA for an empty annotation, -EINVAL for bad base64, gzip, TOML or
 * algorithm, -E2BIG past the size caps. */
int cc_initdata_parse(const char *annotation, struct cc_initdata *ret, char **ret_error);
void cc_initdata_done(struct cc_initdata *d);

#endif
