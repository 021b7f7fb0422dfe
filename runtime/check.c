/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm check [--format text|json]`: what this host can do, and what `run` would pick. Exits
 * 1 when no backend can run a container of the host's architecture here.
 *
 * The facts are gathered once into plain data and then written out either as the aligned
 * lines people read or as one JSON object for tools; the two cannot drift apart because neither
 * looks anything up itself. A backend's own facts come through struct hv_check_sink.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/registry.h"
#include "runtime/cli.h"
#include "runtime/lib/config.h"
#include "base/error.h"
#include "runtime/vmconfig.h"

/* One fact of a backend's check_report. */
struct backend_fact {
	const char *backend;
	char *name;
	bool ok;
	char *detail;
};

/* What `run` would do for one guest architecture. */
struct guest_row {
	enum rv_arch arch;
	const struct hv_backend_ops *ops; /* NULL: none can run it, see @why_not */
	struct hv_probe_result pr;
	char *why_not;
	const char *kernel, *initrd;
};

struct collect_sink {
	struct hv_check_sink sink;
	const char *backend;
	GArray *facts; /* struct backend_fact */
};

static void collect_fact(struct hv_check_sink *sink, const char *name, bool ok, const char *detail)
{
	struct collect_sink *cs = (struct collect_sink *)sink;
	struct backend_fact f = { cs->backend, g_strdup(name), ok, g_strdup(detail ? detail : "") };

	g_array_append_val(cs->facts, f);
}

static void fact_clear(gpointer p)
{
	struct backend_fact *f = p;

	g_free(f->name);
	g_free(f->detail);
}

static void row_clear(gpointer p)
{
	g_free(((struct guest_row *)p)->why_not);
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static void print_file(const char *what, const char *path)
{
	printf("%-18s %s (%s)\n", what, path, access(path, R_OK) == 0 ? "present" : "MISSING");
}

static void print_text(const struct rt_config *config, const struct hv_host_caps *caps, const GArray *facts,
		       const GArray *rows)
{
	printf("%-18s %s\n", "host architecture", rv_arch_name(caps->arch));
	printf("%-18s %s\n", "configuration", config->path ? config->path : "built-in defaults");
	printf("%-18s %s\n", "cpu virtualisation", caps->cpu_virt ? caps->cpu_virt_flag : "none (no vmx/svm flag)");
	printf("%-18s %s\n", "kvm module", caps->kvm_module ? caps->kvm_module : "none");
	printf("%-18s %s\n", "pvm", yes_no(caps->kvm_pvm));
	printf("%-18s %s: %s\n", "kvm usable", yes_no(caps->kvm_usable), caps->kvm_reason);
	for (guint i = 0; i < facts->len; i++) {
		const struct backend_fact *f = &g_array_index(facts, struct backend_fact, i);

		printf("%-18s %s%s\n", f->name, f->ok ? "yes, " : "no: ", f->detail);
	}
	printf("%-18s %s\n", "tun", yes_no(caps->tun));
	printf("%-18s %s\n", "vhost-vsock", yes_no(caps->vhost_vsock));
	printf("%-18s %s\n", "vhost-net", yes_no(caps->vhost_net));
	for (int m = HV_CONFIDENTIAL_NONE + 1; m < _HV_CONFIDENTIAL_MAX; m++) {
		char why[256];
		bool offered = cc_host_offers(&caps->cc, m, why, sizeof(why));

		printf("%-18s %s%s\n", cc_mode_name(m), offered ? "yes" : "no: ", offered ? "" : why);
	}
	for (guint i = 0; i < rows->len; i++) {
		const struct guest_row *row = &g_array_index(rows, struct guest_row, i);
		g_autofree char *name = g_strdup_printf("%s guest", rv_arch_name(row->arch));

		if (!row->ops) {
			printf("%-18s none: %s\n", name, row->why_not);
			continue;
		}
		printf("%-18s backend %s, accelerator %s: %s\n", name, row->ops->name, hv_accel_name(row->pr.accel),
		       row->pr.reason);
		print_file("  kernel", row->kernel);
		print_file("  initrd", row->initrd);
		if (row->arch == caps->arch)
			printf("%-18s backend %s, accelerator %s, %s guest\n", "run would use", row->ops->name,
			       hv_accel_name(row->pr.accel), rv_arch_name(row->arch));
	}
}

static void add_str(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	if (value)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

static void add_bool(JsonBuilder *b, const char *name, bool value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_boolean_value(b, value);
}

static void add_file(JsonBuilder *b, const char *name, const char *path)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_object(b);
	add_str(b, "path", path);
	add_bool(b, "present", access(path, R_OK) == 0);
	json_builder_end_object(b);
}

/*
 * The same facts as print_text, one object (docs/man/runvm.8 documents its members): "host"
 * (what hv_host_probe found), "configuration" (the file read, null for the built-in defaults),
 * "backends" (each backend's own facts by name), "guests" (one entry per guest architecture)
 * and "run" (what `run` would use for the host's own architecture, null when nothing can).
 */
static void print_json(const struct rt_config *config, const struct hv_host_caps *caps, const GArray *facts,
		       const GArray *rows)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *out = NULL;
	const struct guest_row *run = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "host");
	json_builder_begin_object(b);
	add_str(b, "architecture", rv_arch_name(caps->arch));
	add_str(b, "cpu_virtualisation", caps->cpu_virt ? caps->cpu_virt_flag : NULL);
	add_str(b, "kvm_module", caps->kvm_module);
	add_bool(b, "pvm", caps->kvm_pvm);
	add_bool(b, "kvm_usable", caps->kvm_usable);
	add_str(b, "kvm_reason", caps->kvm_reason);
	add_bool(b, "tun", caps->tun);
	add_bool(b, "vhost_vsock", caps->vhost_vsock);
	add_bool(b, "vhost_net", caps->vhost_net);
	/* Per mode a bool, and where it is false, "MODE_reason": what is missing. */
	for (int m = HV_CONFIDENTIAL_NONE + 1; m < _HV_CONFIDENTIAL_MAX; m++) {
		g_autofree char *key = g_strdelimit(g_strdup(cc_mode_name(m)), "-", '_');
		g_autofree char *reason_key = g_strconcat(key, "_reason", NULL);
		char why[256];
		bool offered = cc_host_offers(&caps->cc, m, why, sizeof(why));

		add_bool(b, key, offered);
		add_str(b, reason_key, offered ? NULL : why);
	}
	json_builder_end_object(b);
	add_str(b, "configuration", config->path);

	json_builder_set_member_name(b, "backends");
	json_builder_begin_object(b);
	for (size_t i = 0; hv_backends[i]; i++) {
		json_builder_set_member_name(b, hv_backends[i]->name);
		json_builder_begin_object(b);
		for (guint j = 0; j < facts->len; j++) {
			const struct backend_fact *f = &g_array_index(facts, struct backend_fact, j);

			if (strcmp(f->backend, hv_backends[i]->name) != 0)
				continue;
			json_builder_set_member_name(b, f->name);
			json_builder_begin_object(b);
			add_bool(b, "ok", f->ok);
			add_str(b, "detail", f->detail);
			json_builder_end_object(b);
		}
		json_builder_end_object(b);
	}
	json_builder_end_object(b);

	json_builder_set_member_name(b, "guests");
	json_builder_begin_array(b);
	for (guint i = 0; i < rows->len; i++) {
		const struct guest_row *row = &g_array_index(rows, struct guest_row, i);

		json_builder_begin_object(b);
		add_str(b, "architecture", rv_arch_name(row->arch));
		add_bool(b, "usable", row->ops);
		add_str(b, "backend", row->ops ? row->ops->name : NULL);
		add_str(b, "accelerator", row->ops ? hv_accel_name(row->pr.accel) : NULL);
		add_str(b, "reason", row->ops ? row->pr.reason : row->why_not);
		add_file(b, "kernel", row->kernel);
		add_file(b, "initrd", row->initrd);
		json_builder_end_object(b);
		if (row->ops && row->arch == caps->arch)
			run = row;
	}
	json_builder_end_array(b);

	json_builder_set_member_name(b, "run");
	if (run) {
		json_builder_begin_object(b);
		add_str(b, "backend", run->ops->name);
		add_str(b, "accelerator", hv_accel_name(run->pr.accel));
		add_str(b, "architecture", rv_arch_name(run->arch));
		json_builder_end_object(b);
	} else {
		json_builder_add_null_value(b);
	}
	json_builder_end_object(b);

	root = json_builder_get_root(b);
	json_generator_set_pretty(gen, TRUE);
	json_generator_set_root(gen, root);
	out = json_generator_to_data(gen, NULL);
	printf("%s\n", out);
}

int rt_cmd_check(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { 0 } };
	g_autoptr(GArray) facts = g_array_new(FALSE, TRUE, sizeof(struct backend_fact));
	g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, sizeof(struct guest_row));
	struct rt_config *config = NULL;
	struct hv_host_caps caps;
	const char *format = "text";
	int c, r = 1;

	g_array_set_clear_func(facts, fact_clear);
	g_array_set_clear_func(rows, row_clear);
	while ((c = rt_getopt(argc, argv, "f:", opts, "check", err)) != -1) {
		if (c == -2)
			return -1;
		format = optarg;
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
		return rt_make_error(err, 0, "check: invalid format `%s` (text or json)", format);
	if (optind != argc)
		return rt_make_error(err, 0, "check: takes no arguments");
	if (rt_config_load(&config, err) < 0)
		return -1;
	hv_host_probe("", &caps);

	for (size_t i = 0; hv_backends[i]; i++) {
		struct collect_sink cs = { { collect_fact }, hv_backends[i]->name, facts };

		if (hv_backends[i]->check_report)
			hv_backends[i]->check_report(config->backend_settings[i], &cs.sink);
	}
	/* Each guest architecture: what would run it, and its kernel and initramfs. */
	for (enum rv_arch a = 0; a < _RV_ARCH_MAX; a++) {
		struct guest_row row = { .arch = a };

		rt_guest_files(config, &caps, a, &row.kernel, &row.initrd);
		if (rt_backend_choose(config, &caps, a, g->backend, &row.ops, &row.pr, err) < 0) {
			row.ops = NULL;
			row.why_not = g_strdup((*err)->msg);
			rt_error_free(err);
		} else if (a == caps.arch) {
			r = 0;
		}
		g_array_append_val(rows, row);
	}

	if (strcmp(format, "json") == 0)
		print_json(config, &caps, facts, rows);
	else
		print_text(config, &caps, facts, rows);
	rt_config_free(config);
	return r;
}
