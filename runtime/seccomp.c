/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <seccomp.h>

#include "base/bpf.h"
#include "base/error.h"
#include "runtime/seccomp.h"

/* The kernel's BPF_MAXINSNS: a longer program cannot be loaded anyway. */
#define BPF_MAX_BYTES (4096 * 8)

/* Typed members: json-glib's getters print a GLib critical and return 0 or NULL for a member
 * of another type, which would then pass for a valid value (a mistyped errnoRet as 0: the
 * syscall "succeeds"). A member of the wrong type is an error; absent or null: the default. */
static JsonNode *member(JsonObject *o, const char *name)
{
	JsonNode *n = json_object_get_member(o, name);

	return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

static bool holds(JsonNode *n, GType type)
{
	return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type;
}

static int get_string(JsonObject *o, const char *name, const char **ret, struct rt_error **err)
{
	JsonNode *n = member(o, name);

	if (n && !holds(n, G_TYPE_STRING))
		return rt_make_error(err, 0, "seccomp: `%s` must be a string", name);
	*ret = n ? json_node_get_string(n) : "";
	return 0;
}

static int get_int(JsonObject *o, const char *name, gint64 def, gint64 *ret, struct rt_error **err)
{
	JsonNode *n = member(o, name);

	if (n && !holds(n, G_TYPE_INT64))
		return rt_make_error(err, 0, "seccomp: `%s` must be an integer", name);
	*ret = n ? json_node_get_int(n) : def;
	return 0;
}

static int get_array(JsonObject *o, const char *name, JsonArray **ret, struct rt_error **err)
{
	JsonNode *n = member(o, name);

	if (n && !JSON_NODE_HOLDS_ARRAY(n))
		return rt_make_error(err, 0, "seccomp: `%s` must be an array", name);
	*ret = n ? json_node_get_array(n) : NULL;
	return 0;
}

/* Element @i of @a when it is a string (string_at) or an object (object_at), else NULL. */
static const char *string_at(JsonArray *a, guint i)
{
	JsonNode *n = json_array_get_element(a, i);

	return holds(n, G_TYPE_STRING) ? json_node_get_string(n) : NULL;
}

static JsonObject *object_at(JsonArray *a, guint i)
{
	JsonNode *n = json_array_get_element(a, i);

	return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* @o's action member @key, with its errnoRet. */
static int parse_action(JsonObject *o, const char *key, uint32_t *ret, struct rt_error **err)
{
	const char *name;
	gint64 errno_ret;

	if (get_string(o, key, &name, err) < 0 || get_int(o, "errnoRet", EPERM, &errno_ret, err) < 0)
		return -1;
	if (!strcmp(name, "SCMP_ACT_ALLOW"))
		*ret = SCMP_ACT_ALLOW;
	else if (!strcmp(name, "SCMP_ACT_ERRNO"))
		*ret = SCMP_ACT_ERRNO((uint32_t)errno_ret);
	else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD"))
		*ret = SCMP_ACT_KILL;
	else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS"))
		*ret = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(name, "SCMP_ACT_TRAP"))
		*ret = SCMP_ACT_TRAP;
	else if (!strcmp(name, "SCMP_ACT_TRACE"))
		*ret = SCMP_ACT_TRACE((uint32_t)errno_ret);
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
	JsonArray *names, *args;
	struct scmp_arg_cmp cmps[6];
	unsigned ncmp = 0;
	uint32_t action;

	if (get_array(rule, "names", &names, err) < 0 || get_array(rule, "args", &args, err) < 0)
		return -1;
	if (!names)
		return rt_make_error(err, 0, "seccomp: a rule without names");
	if (parse_action(rule, "action", &action, err) < 0)
		return -1;
	if (action == default_action)
		return 0; /* libseccomp refuses rules that change nothing */
	for (guint i = 0; args && i < json_array_get_length(args); i++) {
		JsonObject *a = object_at(args, i);
		enum scmp_compare op = SCMP_CMP_EQ;
		const char *op_name;
		gint64 index, value, value2;

		if (!a || ncmp == G_N_ELEMENTS(cmps))
			return rt_make_error(err, 0, "seccomp: bad argument list");
		if (get_string(a, "op", &op_name, err) < 0 || parse_op(op_name, &op, err) < 0 ||
		    get_int(a, "index", 0, &index, err) < 0 || get_int(a, "value", 0, &value, err) < 0 ||
		    get_int(a, "valueTwo", 0, &value2, err) < 0)
			return -1;
		cmps[ncmp++] = (struct scmp_arg_cmp){
			.arg = (unsigned)index,
			.op = op,
			.datum_a = (scmp_datum_t)value,
			.datum_b = (scmp_datum_t)value2,
		};
	}
	for (guint i = 0; i < json_array_get_length(names); i++) {
		const char *name = string_at(names, i);
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
	JsonNode *root;
	JsonObject *o;
	JsonArray *syscalls, *arches;
	uint32_t def;
	gint64 def_errno;
	int r = -1;

	/* An empty document parses, with no root. */
	if (!json_parser_load_from_data(parser, json, -1, NULL) || !(root = json_parser_get_root(parser)) ||
	    !JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "seccomp: not a JSON object");
	o = json_node_get_object(root);
	if (parse_action(o, "defaultAction", &def, err) < 0 ||
	    get_int(o, "defaultErrnoRet", EPERM, &def_errno, err) < 0 ||
	    get_array(o, "architectures", &arches, err) < 0 || get_array(o, "syscalls", &syscalls, err) < 0)
		return -1;
	/* errnoRet of the default action is "defaultErrnoRet". */
	if (def == SCMP_ACT_ERRNO(EPERM))
		def = SCMP_ACT_ERRNO((uint32_t)def_errno);
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
	if (arch == RV_ARCH_X86_64 && arches) {
		for (guint i = 0; i < json_array_get_length(arches); i++) {
			const char *a = string_at(arches, i);

			if (a && !strcmp(a, "SCMP_ARCH_X86"))
				seccomp_arch_add(ctx, SCMP_ARCH_X86);
			else if (a && !strcmp(a, "SCMP_ARCH_X32"))
				seccomp_arch_add(ctx, SCMP_ARCH_X32);
		}
	}
	for (guint i = 0; syscalls && i < json_array_get_length(syscalls); i++) {
		JsonObject *rule = object_at(syscalls, i);

		if (!rule) {
			rt_make_error(err, 0, "seccomp: syscalls[%u] is not an object", i);
			goto out;
		}
		if (add_rule(ctx, rule, def, err) < 0)
			goto out;
	}
	r = rv_bpf_export(ctx, BPF_MAX_BYTES, ret_bpf, ret_len, err);
out:
	seccomp_release(ctx);
	return r;
}
