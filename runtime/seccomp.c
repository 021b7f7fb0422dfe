/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <seccomp.h>

#include "base/error.h"
#include "runtime/seccomp.h"

/* The kernel's BPF_MAXINSNS: a longer program cannot be loaded anyway. */
#define BPF_MAX_BYTES (4096 * 8)

static int parse_action(const char *name, JsonObject *o, uint32_t *ret, struct rt_error **err)
{
	int errno_ret = (int)json_object_get_int_member_with_default(o, "errnoRet", EPERM);

	if (!strcmp(name, "SCMP_ACT_ALLOW"))
		*ret = SCMP_ACT_ALLOW;
	else if (!strcmp(name, "SCMP_ACT_ERRNO"))
		*ret = SCMP_ACT_ERRNO(errno_ret);
	else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD"))
		*ret = SCMP_ACT_KILL;
	else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS"))
		*ret = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(name, "SCMP_ACT_TRAP"))
		*ret = SCMP_ACT_TRAP;
	else if (!strcmp(name, "SCMP_ACT_TRACE"))
		*ret = SCMP_ACT_TRACE(errno_ret);
	else if (!strcmp(name, "SCMP_ACT_LOG"))
		*ret = SCMP_ACT_LOG;
	else
		return rt_make_error(err, 0, "seccomp: unsupported action `%s`", name);
	return 0;
}

static int parse_op(const char *name, enum scmp_compare *ret, struct rt_error **err)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE },
		{ "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE },
		{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE },
		{ "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(ops); i++)
		if (!strcmp(name, ops[i].name)) {
			*ret = ops[i].op;
			return 0;
		}
	return rt_make_error(err, 0, "seccomp: unknown operator `%s`", name);
}

static int add_rule(scmp_filter_ctx ctx, JsonObject *rule, uint32_t default_action, struct rt_error **err)
{
	JsonArray *names = json_object_get_array_member(rule, "names");
	JsonArray *args = json_object_has_member(rule, "args") &&
			JSON_NODE_HOLDS_ARRAY(json_object_get_member(rule, "args"))
		? json_object_get_array_member(rule, "args")
		: NULL;
	struct scmp_arg_cmp cmps[6];
	unsigned ncmp = 0;
	uint32_t action;

	if (!names ||
	    parse_action(json_object_get_string_member_with_default(rule, "action", ""), rule, &action, err) < 0)
		return names ? -1 : rt_make_error(err, 0, "seccomp: a rule without names");
	if (action == default_action)
		return 0; /* libseccomp refuses rules that change nothing */
	for (guint i = 0; args && i < json_array_get_length(args); i++) {
		JsonObject *a = json_array_get_object_element(args, i);
		enum scmp_compare op = SCMP_CMP_EQ;

		if (!a || ncmp == G_N_ELEMENTS(cmps))
			return rt_make_error(err, 0, "seccomp: bad argument list");
		if (parse_op(json_object_get_string_member_with_default(a, "op", ""), &op, err) < 0)
			return -1;
		cmps[ncmp++] = (struct scmp_arg_cmp){
			.arg = (unsigned)json_object_get_int_member_with_default(a, "index", 0),
			.op = op,
			.datum_a = (scmp_datum_t)json_object_get_int_member_with_default(a, "value", 0),
			.datum_b = (scmp_datum_t)json_object_get_int_member_with_default(a, "valueTwo", 0),
		};
	}
	for (guint i = 0; i < json_array_get_length(names); i++) {
		const char *name = json_array_get_string_element(names, i);
		int nr = name ? seccomp_syscall_resolve_name(name) : __NR_SCMP_ERROR;
		int r;

		/* Profiles list syscalls of every architecture and kernel: skip what this one lacks. */
		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add_array(ctx, action, nr, ncmp, cmps);
		if (r < 0 && r != -EEXIST)
			return rt_make_error(err, -r, "seccomp: rule for `%s`", name);
	}
	return 0;
}

int rt_seccomp_compile(const char *json, enum rv_arch arch, uint8_t **ret_bpf, size_t *ret_len, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	scmp_filter_ctx ctx = NULL;
	JsonObject *o;
	JsonArray *syscalls;
	uint32_t def;
	int fd = -1, r = -1;
	off_t size;

	if (!json_parser_load_from_data(parser, json, -1, NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
		return rt_make_error(err, 0, "seccomp: not a JSON object");
	o = json_node_get_object(json_parser_get_root(parser));
	if (parse_action(json_object_get_string_member_with_default(o, "defaultAction", ""), o, &def, err) < 0)
		return -1;
	/* errnoRet of the default action is "defaultErrnoRet". */
	if (json_object_has_member(o, "defaultErrnoRet") && def == SCMP_ACT_ERRNO(EPERM))
		def = SCMP_ACT_ERRNO((int)json_object_get_int_member(o, "defaultErrnoRet"));
	ctx = seccomp_init(def);
	if (!ctx)
		return rt_make_error(err, ENOMEM, "seccomp_init");
	/* The filter is for the guest's architecture, which need not be ours. Rules name syscalls
	 * by our numbers: libseccomp translates them by name, and drops those the guest lacks. */
	if (arch != rv_arch_host() &&
	    (seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE) < 0 ||
	     seccomp_arch_add(ctx, arch == RV_ARCH_AARCH64 ? SCMP_ARCH_AARCH64 : SCMP_ARCH_X86_64) < 0)) {
		rt_make_error(err, 0, "seccomp: cannot build a filter for %s", rv_arch_name(arch));
		goto out;
	}
	/* An x86_64 guest also runs x86 and x32 code where the profile lists them. */
	if (arch == RV_ARCH_X86_64 && json_object_has_member(o, "architectures") &&
	    JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "architectures"))) {
		JsonArray *arches = json_object_get_array_member(o, "architectures");

		for (guint i = 0; i < json_array_get_length(arches); i++) {
			const char *a = json_array_get_string_element(arches, i);

			if (a && !strcmp(a, "SCMP_ARCH_X86"))
				seccomp_arch_add(ctx, SCMP_ARCH_X86);
			else if (a && !strcmp(a, "SCMP_ARCH_X32"))
				seccomp_arch_add(ctx, SCMP_ARCH_X32);
		}
	}
	syscalls = json_object_has_member(o, "syscalls") && JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "syscalls"))
		? json_object_get_array_member(o, "syscalls")
		: NULL;
	for (guint i = 0; syscalls && i < json_array_get_length(syscalls); i++) {
		JsonObject *rule = json_array_get_object_element(syscalls, i);

		if (!rule) {
			rt_make_error(err, 0, "seccomp: syscalls[%u] is not an object", i);
			goto out;
		}
		if (add_rule(ctx, rule, def, err) < 0)
			goto out;
	}
	fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || (size = lseek(fd, 0, SEEK_END)) < 0) {
		rt_make_error(err, errno, "seccomp: export the filter");
		goto out;
	}
	if (size == 0 || size > BPF_MAX_BYTES || size % 8) {
		rt_make_error(err, 0, "seccomp: the compiled filter has %lld bytes", (long long)size);
		goto out;
	}
	*ret_bpf = g_malloc((size_t)size);
	if (pread(fd, *ret_bpf, (size_t)size, 0) != size) {
		g_clear_pointer(ret_bpf, g_free);
		rt_make_error(err, errno, "seccomp: read the filter");
		goto out;
	}
	*ret_len = (size_t)size;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return r;
}
