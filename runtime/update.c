/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm update --resources FILE|- ID` (and runc's per-resource flags): accepted and validated.
 * The host cgroup's limits follow; the guest's memory and vCPUs stay as booted unless the
 * backend can resize a running guest (HV_FEAT_RESIZE, which none has yet), and the output
 * says so.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hypervisor-backends/registry.h"
#include "runtime/cli.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/state.h"
#include "runtime/cgroup.h"
#include "runtime/vmconfig.h"

int rt_cmd_update(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "resources", required_argument, NULL, 'r' },
		{ "memory", required_argument, NULL, 256 },
		{ "memory-swap", required_argument, NULL, 256 },
		{ "memory-reservation", required_argument, NULL, 256 },
		{ "kernel-memory", required_argument, NULL, 256 },
		{ "cpu-shares", required_argument, NULL, 256 },
		{ "cpu-quota", required_argument, NULL, 256 },
		{ "cpu-period", required_argument, NULL, 256 },
		{ "cpuset-cpus", required_argument, NULL, 256 },
		{ "cpuset-mems", required_argument, NULL, 256 },
		{ "pids-limit", required_argument, NULL, 256 },
		{ "blkio-weight", required_argument, NULL, 256 },
		{ "l3-cache-schema", required_argument, NULL, 256 },
		{ "cpu-rt-period", required_argument, NULL, 256 },
		{ "cpu-rt-runtime", required_argument, NULL, 256 },
		{ 0 },
	};
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) gerr = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *data = NULL;
	const struct hv_backend_ops *ops;
	struct rt_state *st = NULL;
	const char *resources = NULL;
	const char *status;
	gsize len = 0;
	int c;

	while ((c = rt_getopt(argc, argv, "r:", opts, "update", err)) != -1) {
		if (c == -2)
			return -1;
		if (c == 'r')
			resources = optarg;
	}
	if (argc - optind != 1)
		return rt_make_error(err, 0, "update: expected exactly one container ID");
	if (resources) {
		if (strcmp(resources, "-") == 0) {
			g_autoptr(GIOChannel) in = g_io_channel_unix_new(STDIN_FILENO);

			if (g_io_channel_read_to_end(in, &data, &len, &gerr) != G_IO_STATUS_NORMAL)
				return rt_make_error(err, 0, "update: read resources from stdin: %s", gerr->message);
		} else if (!g_file_get_contents(resources, &data, &len, &gerr)) {
			return rt_make_error(err, 0, "update: %s", gerr->message);
		}
		if (!json_parser_load_from_data(parser, data, (gssize)len, &gerr) || !json_parser_get_root(parser) ||
		    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
			return rt_make_error(err, 0, "update: resources must be a JSON object%s%s", gerr ? ": " : "",
					     gerr ? gerr->message : "");
	}
	if (rt_state_open(g->root, argv[optind], &dir, &st, NULL, err) < 0)
		return -1;
	status = rt_state_status(st);
	if (strcmp(status, "stopped") == 0) {
		rt_state_free(st);
		return rt_make_error(err, 0, "container not running");
	}
	ops = hv_backend_find(st->backend);
	if (!ops) {
		rt_make_error(err, 0, "container `%s` runs on backend `%s`, which this runvm does not know", st->id,
			      st->backend);
		rt_state_free(st);
		return -1;
	}
	if (resources && *st->cgroups_path) {
		JsonObject *res = json_node_get_object(json_parser_get_root(parser));
		JsonObject *mem = json_object_has_member(res, "memory") ? json_object_get_object_member(res, "memory")
									: NULL;
		JsonObject *cpu = json_object_has_member(res, "cpu") ? json_object_get_object_member(res, "cpu") : NULL;
		gint64 limit = mem ? json_object_get_int_member_with_default(mem, "limit", 0) : 0;
		gint64 quota = cpu ? json_object_get_int_member_with_default(cpu, "quota", 0) : 0;
		gint64 period = cpu ? json_object_get_int_member_with_default(cpu, "period", 100000) : 0;
		/* The host limit keeps room for the hypervisor, as at create. */
		unsigned long long mib = limit > 0
			? rt_cgroup_memory_mib(ops, ((unsigned long long)limit >> 20) + RT_GUEST_MEM_OVERHEAD_MIB)
			: 0;

		if (rt_cgroup_set_limits(st->cgroups_path, mib, quota, (unsigned long long)MAX(period, 0), err) < 0) {
			rt_state_free(st);
			return -1;
		}
	}
	rt_state_free(st);
	/* Said on stdout too: the caller asked for a change the guest will not see. */
	if (!(ops->features & HV_FEAT_RESIZE))
		printf("runvm: host cgroup limits updated; the %s backend cannot resize a running guest: its memory and "
		       "vCPUs stay as booted\n",
		       ops->name);
	return 0;
}

int rt_cmd_features(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	(void)g;
	if (argc > 1)
		return rt_make_error(err, 0, "features: takes no arguments");
	(void)argv;
	/* runtime-spec features.md: what this runtime honours, not what it merely parses. */
	printf("{\n"
	       "  \"ociVersionMin\": \"1.0.0\",\n"
	       "  \"ociVersionMax\": \"1.1.0\",\n"
	       "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", \"startContainer\", \"poststart\", \"poststop\"],\n"
	       "  \"mountOptions\": [],\n"
	       "  \"linux\": {\n"
	       "    \"namespaces\": [\"pid\", \"network\", \"ipc\", \"uts\", \"mount\"],\n"
	       "    \"capabilities\": [],\n"
	       "    \"cgroup\": { \"v1\": false, \"v2\": false, \"systemd\": false, \"systemdUser\": false },\n"
	       "    \"seccomp\": { \"enabled\": false },\n"
	       "    \"apparmor\": { \"enabled\": false },\n"
	       "    \"selinux\": { \"enabled\": false }\n"
	       "  },\n"
	       "  \"annotations\": {\n"
	       "    \"io.runvm.backend\": \"qemu\",\n"
	       "    \"org.opencontainers.runc.checkpoint.enabled\": \"false\"\n"
	       "  }\n"
	       "}\n");
	return 0;
}
