/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SEV/SEV-ES/SNP launch digests and initdata (tdx/measure.c) against virtee/sev-snp-measure:
 * tests/unit/measure/gen.py writes the synthetic inputs, vectors.sh runs the reference on them
 * and writes expected.txt. With RUNVM_SSM_FIXTURES=<sev-snp-measure>/tests/fixtures, the
 * reference's own published vectors (tests/test_guest.py, real OVMF suffixes) are checked too.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <glib.h>

#include "tdx/measure.h"
#include "tests/unit/tap.h"

/* expected.txt is committed; the inputs it is of are gen.py's, made by the build. */
#define DIR "tests/unit/measure/"
#ifndef MEASURE_INPUTS
#define MEASURE_INPUTS "build/tests/measure/"
#endif
#define APPEND "console=ttyS0 root=/dev/vda rw"

static GHashTable *expected;

static void load_expected(void)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;

	expected = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (!g_file_get_contents(DIR "expected.txt", &text, NULL, NULL))
		return;
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		char *sp = strchr(*l, ' ');

		if (sp)
			g_hash_table_insert(expected, g_strndup(*l, sp - *l), g_strdup(sp + 1));
	}
}

static const char *want(const char *key)
{
	const char *v = g_hash_table_lookup(expected, key);

	return v ? v : "(missing from expected.txt)";
}

static char *hex(const uint8_t *p, size_t n)
{
	char *s = g_malloc(2 * n + 1);

	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", p[i]);
	return s;
}

static bool same(const char *key, const uint8_t *p, size_t n)
{
	g_autofree char *h = hex(p, n);
	bool eq = strcmp(h, want(key)) == 0;

	if (!eq)
		printf("# %s: got %s, want %s\n", key, h, want(key));
	return eq;
}

static void measure_case(const char *key, enum cc_measure_mode mode, const char *fw, bool kernel, bool initrd,
			 unsigned vcpus, const char *type, uint64_t features)
{
	struct cc_measure_input in = {
		.mode = mode,
		.firmware = fw,
		.kernel = kernel ? MEASURE_INPUTS "bzImage" : NULL,
		.initrd = initrd ? MEASURE_INPUTS "initrd" : NULL,
		.cmdline = kernel && initrd ? APPEND : NULL,
		.vcpus = vcpus,
		.vcpu_type = type,
		.guest_features = features,
	};
	uint8_t d[CC_MEASURE_MAX_LEN];
	g_autofree char *err = NULL;
	size_t len = 0;
	int r = cc_measure(&in, d, &len, &err);

	ok(r == 0 && len == (mode == CC_MEASURE_SNP ? 48u : 32u) && same(key, d, len),
	   "%s: digest matches the reference%s%s", key, err ? ": " : "", err ? err : "");
}

static void test_digests(void)
{
	measure_case("sev", CC_MEASURE_SEV, MEASURE_INPUTS "fw.bin", true, true, 0, NULL, 0);
	measure_case("sev-nokernel", CC_MEASURE_SEV, MEASURE_INPUTS "fw.bin", false, false, 0, NULL, 0);
	measure_case("sev-kernel-only", CC_MEASURE_SEV, MEASURE_INPUTS "fw.bin", true, false, 0, NULL, 0);
	measure_case("seves-1", CC_MEASURE_SEV_ES, MEASURE_INPUTS "fw.bin", true, true, 1, "EPYC-v4", 0);
	measure_case("seves-4", CC_MEASURE_SEV_ES, MEASURE_INPUTS "fw.bin", true, true, 4, "EPYC-Rome", 0);
	measure_case("snp-1", CC_MEASURE_SNP, MEASURE_INPUTS "fw.bin", true, true, 1, "EPYC-v4", 0x1);
	measure_case("snp-4-milan-21", CC_MEASURE_SNP, MEASURE_INPUTS "fw.bin", true, true, 4, "EPYC-Milan", 0x21);
	measure_case("snp-2-genoa-nokernel", CC_MEASURE_SNP, MEASURE_INPUTS "fw.bin", false, false, 2, "EPYC-Genoa",
		     0x1);
	measure_case("snp-plain-nokernel", CC_MEASURE_SNP, MEASURE_INPUTS "fw-plain.bin", false, false, 1, "EPYC-v4",
		     0x1);
}

static void test_hash_table(void)
{
	uint8_t t[CC_SEV_HASH_TABLE_LEN], k[CC_SHA256_LEN];
	g_autofree char *err = NULL, *data = NULL;
	g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
	static const uint8_t table_guid[16] = { 0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c,
						0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21 };
	static const uint8_t zero[8];
	gsize len, n = CC_SHA256_LEN;
	uint8_t fsha[CC_SHA256_LEN];
	int r;

	r = cc_sev_hash_table(MEASURE_INPUTS "bzImage", MEASURE_INPUTS "initrd", APPEND, t, &err);
	ok(r == 0 && same("hash-table", t, sizeof(t)), "hash table equals the reference's bytes");
	r = cc_sev_hash_table(MEASURE_INPUTS "bzImage", NULL, NULL, t, &err);
	ok(r == 0 && same("hash-table-noinitrd", t, sizeof(t)),
	   "hash table without initrd or cmdline: sha256(\"\") and sha256(\"\\0\")");
	/* Layout: header {guid, u16 168} at 0, entries of 50 bytes at 18, 68, 118, padding 168..176 */
	ok(memcmp(t, table_guid, 16) == 0 && t[16] == 168 && t[17] == 0, "header: table GUID (EFI order), length 168");
	ok(t[18] == 0xd8 && t[19] == 0x2d && t[34] == 50 && t[68] == 0x31 && t[69] == 0xf7 && t[84] == 50 &&
		   t[118] == 0x37 && t[119] == 0x94 && t[134] == 50,
	   "cmdline, initrd, kernel entries at 18, 68, 118, each 50 bytes long");
	ok(memcmp(t + 168, zero, 8) == 0, "padded with 8 zero bytes to 176");

	g_file_get_contents(MEASURE_INPUTS "bzImage", &data, &len, NULL);
	g_checksum_update(c, (const guchar *)data, len);
	g_checksum_get_digest(c, fsha, &n);
	ok(cc_kernel_hash(MEASURE_INPUTS "bzImage", k, NULL) == 0 && memcmp(k, fsha, 32) == 0 &&
		   memcmp(t + 136, k, 32) == 0,
	   "kernel hash: SHA-256(setup || kernel) unpatched, i.e. the file's, at offset 136");
	g_clear_pointer(&err, g_free);
	r = cc_kernel_hash(MEASURE_INPUTS "initrd", k, &err);
	ok(r == -EINVAL && err && strstr(err, "bzImage"), "a kernel without HdrS is refused: %s", err);
	g_clear_pointer(&err, g_free);
	r = cc_kernel_hash(MEASURE_INPUTS "does-not-exist", k, &err);
	ok(r == -ENOENT && err, "a missing kernel is -ENOENT: %s", err);

	/* setup_sects 3 says 2048 bytes of setup; a 1024-byte file cannot hold them */
	{
		g_autofree char *tmp = g_build_filename(g_get_tmp_dir(), "runvm-measure-short-bzImage", NULL);

		g_file_set_contents(tmp, data, 1024, NULL);
		g_clear_pointer(&err, g_free);
		r = cc_kernel_hash(tmp, k, &err);
		ok(r == -EINVAL && err && strstr(err, "setup"), "a setup part past the end is refused: %s", err);
		remove(tmp);
	}
}

static void test_page_info_and_vmsa(void)
{
	uint8_t ld[CC_SHA384_LEN] = { 0 }, page[CC_PAGE_SIZE], h[CC_SHA384_LEN], sha[CC_SHA256_LEN];
	g_autoptr(GChecksum) c = NULL;
	gsize n = CC_SHA384_LEN;
	uint32_t sig = 0, ap = 0;
	struct cc_firmware *fw = NULL;
	const char *types[] = { "EPYC", "EPYC-v4", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin" };
	g_autofree char *err = NULL;

	memset(page, 0x5a, sizeof(page));
	c = g_checksum_new(G_CHECKSUM_SHA384);
	g_checksum_update(c, page, sizeof(page));
	g_checksum_get_digest(c, h, &n);
	cc_snp_page_info_update(ld, CC_SNP_PAGE_NORMAL, 0xfffff000, h);
	ok(same("page-info-normal", ld, sizeof(ld)), "one PAGE_INFO update (normal page) matches the reference");
	memset(page, 0, sizeof(page));
	g_checksum_free(c);
	c = g_checksum_new(G_CHECKSUM_SHA384);
	g_checksum_update(c, page, sizeof(page));
	n = CC_SHA384_LEN;
	g_checksum_get_digest(c, h, &n);
	cc_snp_page_info_update(ld, CC_SNP_PAGE_VMSA, 0xfffffffff000ull, h);
	ok(same("page-info-then-vmsa", ld, sizeof(ld)), "then a VMSA page at GPA 0xfffffffff000");
	memset(ld, 0, sizeof(ld));
	memset(h, 0, sizeof(h));
	cc_snp_page_info_update(ld, CC_SNP_PAGE_ZERO, 0x800000, h);
	ok(same("page-info-zero", ld, sizeof(ld)), "one zero page: zero contents");

	for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
		g_autofree char *key = g_strdup_printf("sig-%s", types[i]);
		g_autofree char *got = NULL;

		cc_vcpu_sig(types[i], &sig, NULL);
		got = g_strdup_printf("0x%x", sig);
		ok(strcmp(got, want(key)) == 0, "%s signature %s", types[i], got);
	}
	ok(cc_vcpu_sig("EPYC-Foo", &sig, &err) == -EINVAL && err, "unknown vCPU type: %s", err);

	ok(cc_firmware_load(MEASURE_INPUTS "fw.bin", &fw, NULL) == 0 && cc_firmware_ap_reset_eip(fw, &ap, NULL) == 0 &&
		   ap == 0x80b004,
	   "AP reset address from the SEV-ES reset block: 0x%x", ap);
	cc_vcpu_sig("EPYC-Milan", &sig, NULL);
	cc_vmsa_build(page, CC_BSP_EIP, 0x21, sig);
	g_checksum_free(c);
	c = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(c, page, sizeof(page));
	n = CC_SHA256_LEN;
	g_checksum_get_digest(c, sha, &n);
	ok(same("vmsa-bsp-milan-21", sha, 32), "BSP VMSA page equals the reference's --dump-vmsa vmsa0.bin");
	ok(page[0x10] == 0 && page[0x11] == 0xf0 && page[0x12] == 0x9b && page[0x1a] == 0xff && page[0x1b] == 0xff &&
		   page[0x178] == 0xf0 && page[0x179] == 0xff && page[0x310] == 0x11 && page[0x311] == 0x0f &&
		   page[0x312] == 0xa0 && page[0x3b0] == 0x21,
	   "BSP: CS f000 base ffff0000, RIP fff0, RDX the signature, SEV_FEATURES at 0x3b0");
	cc_vmsa_build(page, ap, 0x21, sig);
	g_checksum_reset(c);
	g_checksum_update(c, page, sizeof(page));
	n = CC_SHA256_LEN;
	g_checksum_get_digest(c, sha, &n);
	ok(same("vmsa-ap-milan-21", sha, 32) && page[0x1a] == 0x80 && page[0x178] == 0x04 && page[0x179] == 0xb0,
	   "AP VMSA page equals vmsa1.bin (CS base 0x800000, RIP 0xb004)");
	cc_firmware_free(fw);
}

static uint8_t *fw_bytes(size_t *len)
{
	char *data = NULL;
	gsize n = 0;

	g_file_get_contents(MEASURE_INPUTS "fw.bin", &data, &n, NULL);
	*len = n;
	return (uint8_t *)data;
}

static int try_fw(const uint8_t *data, size_t len, enum cc_measure_mode mode, bool kernel, char **err)
{
	struct cc_firmware *fw = NULL;
	uint8_t table[CC_SEV_HASH_TABLE_LEN] = { 0 }, d[CC_MEASURE_MAX_LEN];
	size_t dl;
	int r;

	g_clear_pointer(err, g_free);
	r = cc_firmware_parse(data, len, &fw, err);
	if (r < 0)
		return r;
	r = cc_launch_digest(fw, mode, kernel ? table : NULL, 2, 0x800f12, 1, d, &dl, err);
	cc_firmware_free(fw);
	return r;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void test_malformed_firmware(void)
{
	g_autofree uint8_t *orig = NULL, *b = NULL;
	g_autofree char *err = NULL;
	size_t len, footer, reset_hdr, meta_data, hash_data;
	struct cc_firmware *fw = NULL;
	const struct cc_sev_section_desc *s;
	size_t ns;
	int r;

	orig = fw_bytes(&len);
	b = g_memdup2(orig, len);
	/* gen.py's layout: footer entry at len-50; entries before it, last written first */
	footer = len - 32 - 18;
	reset_hdr = footer - 18;
	hash_data = reset_hdr - 4 - 18 - 8;
	meta_data = hash_data - 18 - 4;

	ok(try_fw(b, len, CC_MEASURE_SNP, true, &err) == 0, "the synthetic firmware itself is fine");
	ok(cc_firmware_parse(b, len, &fw, NULL) == 0, "parses");
	cc_firmware_sections(fw, &s, &ns);
	ok(ns == 6 && s[0].gpa == 0x800000 && s[0].size == 0x2000 && s[3].type == CC_SEV_SECTION_SNP_KERNEL_HASHES,
	   "six metadata sections, in image order");
	fw = cc_firmware_free(fw);

	r = try_fw(b, len - 1, CC_MEASURE_SEV, false, &err);
	ok(r == -EINVAL && err, "a truncated image (not whole pages) is refused: %s", err);
	r = try_fw(b, 0, CC_MEASURE_SEV, false, &err);
	ok(r == -EINVAL && err, "an empty image is refused: %s", err);
	r = try_fw(b + 4096, len - 4096, CC_MEASURE_SNP, false, &err);
	ok(r == 0, "an image cut at the front still has its tail: fine (%s)", err ? err : "");

	put16(b + footer, 0xffff);
	r = try_fw(b, len, CC_MEASURE_SEV, false, &err);
	ok(r == -EINVAL && err && strstr(err, "out of"), "footer table length pointing out of the image: %s", err);
	put16(b + footer, 10);
	r = try_fw(b, len, CC_MEASURE_SEV, false, &err);
	ok(r == -EINVAL && err, "footer table length below its own header: %s", err);
	memcpy(b, orig, len);

	put16(b + reset_hdr, 0x2000);
	r = try_fw(b, len, CC_MEASURE_SEV, false, &err);
	ok(r == -EINVAL && err && strstr(err, "entry length"), "entry longer than the table: %s", err);
	put16(b + reset_hdr, 3);
	r = try_fw(b, len, CC_MEASURE_SEV, false, &err);
	ok(r == -EINVAL && err && strstr(err, "entry length"), "entry shorter than its header: %s", err);
	memcpy(b, orig, len);

	put32(b + meta_data, 0x100000);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "metadata offset"), "metadata offset past the start: %s", err);
	put32(b + meta_data, 8);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err, "metadata header that would cross the end: %s", err);
	memcpy(b, orig, len);

	b[0x3100] = 'X';
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "signature"), "bad ASEV signature: %s", err);
	memcpy(b, orig, len);
	put32(b + 0x3108, 2);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "version"), "metadata version 2: %s", err);
	memcpy(b, orig, len);
	put32(b + 0x310c, 0x10000000);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "do not fit"), "more sections than the metadata holds: %s", err);
	memcpy(b, orig, len);
	put32(b + 0x3104, 0x10000);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "length"), "metadata length past the end: %s", err);
	memcpy(b, orig, len);

	put32(b + 0x3110 + 8, 7);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "unknown"), "unknown section type: %s", err);
	memcpy(b, orig, len);
	put32(b + 0x3110 + 4, 0x1001);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "whole pages"), "zero section of a partial page: %s", err);
	memcpy(b, orig, len);

	put32(b + hash_data, 0x804fa0);
	r = try_fw(b, len, CC_MEASURE_SNP, true, &err);
	ok(r == -EINVAL && err && strstr(err, "crosses"), "hash table crossing its page: %s", err);
	put32(b + hash_data, 0);
	r = try_fw(b, len, CC_MEASURE_SEV, true, &err);
	ok(r == -EINVAL && err && strstr(err, "invalid"), "hash table base 0 (QEMU refuses it): %s", err);
	memcpy(b, orig, len);
	put32(b + hash_data + 4, 100);
	r = try_fw(b, len, CC_MEASURE_SEV_ES, true, &err);
	ok(r == -EINVAL && err && strstr(err, "invalid"), "hash table area under 176 bytes: %s", err);
	memcpy(b, orig, len);

	put32(b + reset_hdr - 4, 0);
	r = try_fw(b, len, CC_MEASURE_SEV_ES, false, &err);
	ok(r == -EINVAL && err && strstr(err, "reset"), "SEV-ES reset address 0: %s", err);
	memcpy(b, orig, len);

	b[footer + 2] ^= 1; /* no footer GUID: no table at all */
	r = try_fw(b, len, CC_MEASURE_SEV, false, &err);
	ok(r == 0, "no footer table: SEV without a kernel is fine");
	r = try_fw(b, len, CC_MEASURE_SEV, true, &err);
	ok(r == -EINVAL && err && strstr(err, "no SEV hash table"), "but a kernel needs the table: %s", err);
	r = try_fw(b, len, CC_MEASURE_SNP, false, &err);
	ok(r == -EINVAL && err && strstr(err, "reset block"), "and SNP needs the reset block: %s", err);
	memcpy(b, orig, len);

	{
		struct cc_measure_input in = { .mode = CC_MEASURE_SNP,
					       .firmware = MEASURE_INPUTS "fw-plain.bin",
					       .kernel = MEASURE_INPUTS "bzImage",
					       .vcpus = 1,
					       .vcpu_type = "EPYC-v4",
					       .guest_features = 1 };
		uint8_t d[CC_MEASURE_MAX_LEN];
		size_t dl;

		g_clear_pointer(&err, g_free);
		r = cc_measure(&in, d, &dl, &err);
		ok(r == -EINVAL && err, "non-AmdSev firmware with a kernel (SNP): %s", err);
		in.mode = CC_MEASURE_SEV;
		g_clear_pointer(&err, g_free);
		r = cc_measure(&in, d, &dl, &err);
		ok(r == -EINVAL && err, "non-AmdSev firmware with a kernel (SEV): %s", err);
		in.firmware = MEASURE_INPUTS "nope.fd";
		g_clear_pointer(&err, g_free);
		r = cc_measure(&in, d, &dl, &err);
		ok(r == -ENOENT && err, "missing firmware: %s", err);
		in.firmware = MEASURE_INPUTS "fw.bin";
		in.mode = CC_MEASURE_SNP;
		in.vcpus = 0;
		g_clear_pointer(&err, g_free);
		r = cc_measure(&in, d, &dl, &err);
		ok(r == -EINVAL && err, "SNP with 0 vCPUs: %s", err);
	}

	/* Random corruption of the table, the metadata and lengths: never a crash or an overread
	 * (run under ASan/valgrind to see the latter); each result is 0 or -EINVAL. */
	{
		GRand *rnd = g_rand_new_with_seed(1);
		bool all = true;

		for (int i = 0; i < 3000; i++) {
			size_t at = i % 2 ? footer - 120 + (size_t)g_rand_int_range(rnd, 0, 169)
					  : 0x3100 + (size_t)g_rand_int_range(rnd, 0, 0x60);

			memcpy(b, orig, len);
			b[at] = g_rand_int_range(rnd, 0, 256);
			if (i % 3 == 0)
				b[at + 1] = g_rand_int_range(rnd, 0, 256);
			r = try_fw(b, len, i % 5 == 0 ? CC_MEASURE_SEV_ES : CC_MEASURE_SNP, i % 2, &err);
			all = all && (r == 0 || r == -EINVAL);
		}
		g_rand_free(rnd);
		ok(all, "3000 random corruptions: each 0 or -EINVAL");
	}
}

static char *gz_b64(const char *text, size_t len)
{
	g_autoptr(GZlibCompressor) z = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, 6);
	g_autofree uint8_t *out = g_malloc(len + 1024);
	gsize rd = 0, wr = 0;

	g_converter_convert(G_CONVERTER(z), text, len, out, len + 1024, G_CONVERTER_INPUT_AT_END, &rd, &wr, NULL);
	return g_base64_encode(out, wr);
}

static void test_initdata(void)
{
	const char *algs[] = { "sha256", "sha384", "sha512" };
	size_t lens[] = { 32, 48, 64 };
	g_autofree char *err = NULL;
	struct cc_initdata d = { 0 };
	int r;

	for (size_t i = 0; i < G_N_ELEMENTS(algs); i++) {
		g_autofree char *ann = NULL, *toml = NULL, *k1 = NULL, *k2 = NULL, *k3 = NULL;
		g_autofree char *ap = g_strdup_printf(MEASURE_INPUTS "initdata-%s.b64", algs[i]);
		g_autofree char *tp = g_strdup_printf(MEASURE_INPUTS "initdata-%s.toml", algs[i]);
		g_autofree uint8_t *snp = NULL, *tdx = NULL;
		gsize tl = 0, sl = 0, xl = 0;

		g_file_get_contents(ap, &ann, NULL, NULL);
		g_file_get_contents(tp, &toml, &tl, NULL);
		k1 = g_strdup_printf("initdata-%s", algs[i]);
		k2 = g_strdup_printf("initdata-%s-snp", algs[i]);
		k3 = g_strdup_printf("initdata-%s-tdx", algs[i]);
		g_clear_pointer(&err, g_free);
		r = cc_initdata_parse(ann, &d, &err);
		ok(r == 0 && (size_t)d.algorithm == i && d.digest_len == lens[i] && same(k1, d.digest, d.digest_len),
		   "%s initdata: digest of the decompressed TOML%s%s", algs[i], err ? ": " : "", err ? err : "");
		ok(r == 0 && same(k2, d.snp_host_data, 32) && same(k3, d.tdx_mrconfigid, 48),
		   "%s: SNP host-data (32 B) and TDX mrconfigid (48 B) padded or truncated", algs[i]);
		snp = r == 0 ? g_base64_decode(d.snp_host_data_b64, &sl) : NULL;
		tdx = r == 0 ? g_base64_decode(d.tdx_mrconfigid_b64, &xl) : NULL;
		ok(r == 0 && sl == 32 && xl == 48 && memcmp(snp, d.snp_host_data, 32) == 0 &&
			   memcmp(tdx, d.tdx_mrconfigid, 48) == 0 && strlen(d.snp_host_data_b64) == 44 &&
			   strlen(d.tdx_mrconfigid_b64) == 64,
		   "%s: base64 forms as QEMU takes them", algs[i]);
		ok(r == 0 && strcmp(d.version, "0.1.0") == 0 && d.toml_len == tl && memcmp(d.toml, toml, tl) == 0,
		   "%s: version and the TOML bytes", algs[i]);
		cc_initdata_done(&d);
	}

	g_clear_pointer(&err, g_free);
	ok(cc_initdata_parse("", &d, &err) == -ENODATA && err, "empty annotation: -ENODATA");
	g_clear_pointer(&err, g_free);
	ok(cc_initdata_parse("H4sI*AAA", &d, &err) == -EINVAL && err, "bad base64 character: %s", err);
	g_clear_pointer(&err, g_free);
	ok(cc_initdata_parse("H4sIAA", &d, &err) == -EINVAL && err, "base64 without padding: %s", err);
	g_clear_pointer(&err, g_free);
	ok(cc_initdata_parse("aGVs=bG8", &d, &err) == -EINVAL && err, "padding inside: %s", err);
	g_clear_pointer(&err, g_free);
	ok(cc_initdata_parse("aGVsbG8gd29ybGQ=", &d, &err) == -EINVAL && err && strstr(err, "gzip"),
	   "base64 of something not gzip: %s", err);
	{
		g_autofree char *bomb = NULL;

		g_file_get_contents(MEASURE_INPUTS "initdata-bomb.b64", &bomb, NULL, NULL);
		g_clear_pointer(&err, g_free);
		r = cc_initdata_parse(bomb, &d, &err);
		ok(r == -E2BIG && err, "gzip of 300 KiB over the 256 KiB cap: %s", err);
	}
	{
		const char *t = "algorithm = \"md5\"\nversion = \"0.1.0\"\n";
		g_autofree char *a = gz_b64(t, strlen(t));

		g_clear_pointer(&err, g_free);
		ok(cc_initdata_parse(a, &d, &err) == -EINVAL && err && strstr(err, "md5"), "unknown algorithm: %s",
		   err);
	}
	{
		const char *t = "# initdata\nversion = '0.1.0'\n[data]\nalgorithm = \"sha256\"\n";
		g_autofree char *a = gz_b64(t, strlen(t));

		g_clear_pointer(&err, g_free);
		ok(cc_initdata_parse(a, &d, &err) == -EINVAL && err && strstr(err, "algorithm"),
		   "algorithm only inside [data] is not top-level: %s", err);
	}
	{
		const char *t =
			"algorithm = \"sha384\"\nx = \"\"\"\nversion = \"9\"\n\"\"\"\nversion = \"0.1.0\" # ok\n";
		g_autofree char *a = gz_b64(t, strlen(t));

		g_clear_pointer(&err, g_free);
		r = cc_initdata_parse(a, &d, &err);
		ok(r == 0 && d.algorithm == CC_INITDATA_SHA384 && strcmp(d.version, "0.1.0") == 0,
		   "keys inside a multi-line string are skipped; comments after values allowed");
		cc_initdata_done(&d);
	}
	{
		const char *t = "algorithm = \"sha256\"\n";
		g_autofree char *a = gz_b64(t, strlen(t));

		g_clear_pointer(&err, g_free);
		ok(cc_initdata_parse(a, &d, &err) == -EINVAL && err && strstr(err, "version"), "no version: %s", err);
	}
	{
		const char *t = "algorithm = \"sha256\"\nalgorithm = \"sha512\"\nversion = \"0.1.0\"\n";
		g_autofree char *a = gz_b64(t, strlen(t));

		g_clear_pointer(&err, g_free);
		ok(cc_initdata_parse(a, &d, &err) == -EINVAL && err, "algorithm twice: %s", err);
	}
	{
		g_autofree char *ann = NULL;
		g_autofree uint8_t *raw = NULL;
		g_autofree char *cut = NULL;
		gsize rl = 0;

		g_file_get_contents(MEASURE_INPUTS "initdata-sha256.b64", &ann, NULL, NULL);
		raw = g_base64_decode(ann, &rl);
		cut = g_base64_encode(raw, rl - 10);
		g_clear_pointer(&err, g_free);
		r = cc_initdata_parse(cut, &d, &err);
		ok(r == -EINVAL && err, "truncated gzip: %s", err);
	}
}

/* The reference's published vectors (tests/test_guest.py) on its real OVMF suffixes. Its tests
 * pass /dev/null as kernel and initrd, which QEMU would refuse (and so does cc_kernel_hash), so
 * the table is built from the digests directly. */
static void test_reference_fixtures(void)
{
	const char *dir = getenv("RUNVM_SSM_FIXTURES");
	static const struct {
		enum cc_measure_mode mode;
		const char *fw, *append, *want;
		bool kernel;
		unsigned vcpus;
		uint64_t features;
	} v[] = {
		{ CC_MEASURE_SNP, "ovmf_AmdSev_suffix.bin", "console=ttyS0 loglevel=7",
		  "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977",
		  true, 1, 0x21 },
		{ CC_MEASURE_SNP, "ovmf_AmdSev_suffix.bin", "console=ttyS0 loglevel=7",
		  "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa",
		  true, 1, 0x1 },
		{ CC_MEASURE_SNP, "ovmf_AmdSev_suffix.bin", NULL,
		  "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b",
		  false, 1, 0x21 },
		{ CC_MEASURE_SNP, "ovmf_AmdSev_suffix.bin", "",
		  "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942",
		  true, 4, 0x21 },
		{ CC_MEASURE_SNP, "ovmf_OvmfX64_suffix.bin", NULL,
		  "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385",
		  false, 1, 0x21 },
		{ CC_MEASURE_SEV_ES, "ovmf_AmdSev_suffix.bin", "",
		  "13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c", true, 1, 0 },
		{ CC_MEASURE_SEV_ES, "ovmf_AmdSev_suffix.bin", "",
		  "0dccbcaba8e90b261bd0d2e1863a2f9da714768b7b2a19363cd6ae35aa90de91", true, 4, 0 },
		{ CC_MEASURE_SEV, "ovmf_AmdSev_suffix.bin", "console=ttyS0 loglevel=7",
		  "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff", true, 1, 0 },
		{ CC_MEASURE_SEV, "ovmf_AmdSev_suffix.bin", NULL,
		  "77f613d7bbcdf12a73782ea9e88b0172aeda50d1a54201cb903594ff52846898", true, 1, 0 },
	};

	if (!dir) {
		printf("ok %d - # SKIP RUNVM_SSM_FIXTURES unset (sev-snp-measure's tests/fixtures)\n", ++tap_n);
		return;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(v); i++) {
		g_autofree char *path = g_build_filename(dir, v[i].fw, NULL), *err = NULL, *got = NULL;
		uint8_t empty[32], cmd[32], table[CC_SEV_HASH_TABLE_LEN], d[CC_MEASURE_MAX_LEN];
		const char *a = v[i].append ? v[i].append : "";
		struct cc_firmware *fw = NULL;
		gsize n = 32;
		size_t dl = 0;
		GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
		int r;

		g_checksum_get_digest(c, empty, &n);
		g_checksum_free(c);
		c = g_checksum_new(G_CHECKSUM_SHA256);
		g_checksum_update(c, (const guchar *)a, strlen(a) + 1);
		n = 32;
		g_checksum_get_digest(c, cmd, &n);
		g_checksum_free(c);
		cc_sev_hash_table_build(cmd, empty, empty, table);
		r = cc_firmware_load(path, &fw, &err);
		if (r == 0)
			r = cc_launch_digest(fw, v[i].mode, v[i].kernel ? table : NULL, v[i].vcpus, 0x800f12,
					     v[i].features, d, &dl, &err);
		cc_firmware_free(fw);
		got = r == 0 ? hex(d, dl) : g_strdup(err);
		ok(r == 0 && strcmp(got, v[i].want) == 0,
		   "reference vector %zu (%s, %u vCPUs, features 0x%" G_GINT64_MODIFIER "x): %s", i, v[i].fw,
		   v[i].vcpus, v[i].features, got);
	}
	{
		g_autofree char *path = g_build_filename(dir, "ovmf_OvmfX64_suffix.bin", NULL), *err = NULL;
		struct cc_firmware *fw = NULL;
		uint8_t table[CC_SEV_HASH_TABLE_LEN] = { 0 }, d[CC_MEASURE_MAX_LEN];
		size_t dl;
		int r = cc_firmware_load(path, &fw, &err);

		if (r == 0)
			r = cc_launch_digest(fw, CC_MEASURE_SNP, table, 1, 0x800f12, 0x21, d, &dl, &err);
		cc_firmware_free(fw);
		ok(r == -EINVAL, "reference: OvmfX64 with a kernel is refused: %s", err);
	}
}

int main(void)
{
	load_expected();
	ok(g_hash_table_size(expected) > 0, "expected.txt read (run from the repository root)");
	test_digests();
	test_hash_table();
	test_page_info_and_vmsa();
	test_malformed_firmware();
	test_initdata();
	test_reference_fixtures();
	g_hash_table_destroy(expected);
	return tap_done();
}
