/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm update [--resources FILE|-] [runc's per-resource flags] ID`, as runc 1.1: with
 * --resources the file (a linux.resources object) alone says what changes, else the flags do;
 * what neither names stays as it is. Each member is set in the host cgroup the monitor is in
 * (runtime/cgroup.h: memory and pids with the VM's overhead), refused as runc refuses it. Those
 * with a meaning in the guest, pids.limit and memory.limit, then reach the guest's container
 * cgroup too, through the monitor's control socket ({"op":"update"}, runtime/ctl.h) and the
 * agent (RV_MSG_UPDATE): pids.max as given, memory.max at most what the guest's RAM allows
 * (guest/agent/cgroup.c). The guest's RAM and vCPUs stay as booted unless the backend can
 * resize a running guest (HV_FEAT_RESIZE, which none has yet), and the output says so.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hypervisor-backends/registry.h"
#include "runtime/cli.h"
#include "runtime/ctl.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/lib/state.h"
#include "runtime/cgroup.h"
#include "runtime/vmconfig.h"

enum {
	OPT_IGNORED = 256,
	OPT_MEMORY,
	OPT_CPU_SHARES,
	OPT_CPU_QUOTA,
	OPT_CPU_PERIOD,
	OPT_CPUSET_CPUS,
	OPT_CPUSET_MEMS,
	OPT_PIDS_LIMIT,
	OPT_BLKIO_WEIGHT,
};

/* A flag's integer in [@min, @max]; runc's message for one that is not. */
static int flag_int(const char *name, const char *val, int64_t min, uint64_t max, int64_t *ret, struct rt_error **err)
{
	char *end;
	int64_t v;

	errno = 0;
	v = g_ascii_strtoll(val, &end, 10);
	if (!*val || *end || errno || v < min || (v >= 0 && (uint64_t)v > max))
		return rt_make_error(err, 0, "update: invalid value for %s: `%s`", name, val);
	*ret = v;
	return 0;
}

/* --memory: bytes with an optional k, m, g or t (docker's RAMInBytes, which runc uses); -1: none. */
static int flag_bytes(const char *val, int64_t *ret, struct rt_error **err)
{
	static const char units[] = "kmgt";
	const char *u;
	char *end;
	int64_t v;

	errno = 0;
	v = g_ascii_strtoll(val, &end, 10);
	if (end != val && strcmp(val, "-1") == 0) {
		*ret = -1;
		return 0;
	}
	if (end == val || errno || v < 0)
		goto bad;
	if (*end && (u = strchr(units, g_ascii_tolower(*end))) && *u) {
		for (const char *k = units; k <= u; k++) {
			if (v > INT64_MAX / 1024)
				goto bad;
			v *= 1024;
		}
		end++;
		if (g_ascii_tolower(*end) == 'b')
			end++;
	} else if (g_ascii_tolower(*end) == 'b') {
		end++;
	}
	if (*end)
		goto bad;
	*ret = v;
	return 0;
bad:
	return rt_make_error(err, 0, "update: invalid value for memory: `%s`", val);
}

/* The resources a --resources file (or stdin) names. */
static int read_resources(const char *file, struct rt_resources *res, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) gerr = NULL;
	g_autofree char *data = NULL;
	gsize len = 0;

	if (strcmp(file, "-") == 0) {
		g_autoptr(GIOChannel) in = g_io_channel_unix_new(STDIN_FILENO);

		if (g_io_channel_read_to_end(in, &data, &len, &gerr) != G_IO_STATUS_NORMAL)
			return rt_make_error(err, 0, "update: read resources from stdin: %s", gerr->message);
	} else if (!g_file_get_contents(file, &data, &len, &gerr)) {
		return rt_make_error(err, 0, "update: %s", gerr->message);
	}
	if (!json_parser_load_from_data(parser, data, (gssize)len, &gerr) || !json_parser_get_root(parser) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
		return rt_make_error(err, 0, "update: resources must be a JSON object%s%s", gerr ? ": " : "",
				     gerr ? gerr->message : "");
	return rt_resources_parse(json_node_get_object(json_parser_get_root(parser)), "update: `resources", res, err);
}

/* One flag into @res. */
static int take_flag(int c, const char *val, struct rt_resources *res, struct rt_error **err)
{
	int64_t v = 0;

	switch (c) {
	case OPT_MEMORY:
		if (flag_bytes(val, &v, err) < 0)
			return -1;
		res->memory_limit = v;
		return 0;
	case OPT_CPU_SHARES:
		if (flag_int("cpu-shares", val, 0, UINT64_MAX, &v, err) < 0)
			return -1;
		res->cpu_shares = (uint64_t)v;
		return 0;
	case OPT_CPU_QUOTA:
		if (flag_int("cpu-quota", val, INT64_MIN, INT64_MAX, &v, err) < 0)
			return -1;
		res->cpu_quota = MAX(v, -1);
		return 0;
	case OPT_CPU_PERIOD:
		if (flag_int("cpu-period", val, 0, UINT64_MAX, &v, err) < 0)
			return -1;
		res->cpu_period = (uint64_t)v;
		return 0;
	case OPT_PIDS_LIMIT:
		if (flag_int("pids-limit", val, INT64_MIN, INT64_MAX, &v, err) < 0)
			return -1;
		res->pids_limit = MAX(v, -1);
		return 0;
	case OPT_BLKIO_WEIGHT:
		if (flag_int("blkio-weight", val, 0, UINT16_MAX, &v, err) < 0)
			return -1;
		res->blkio_weight = (uint16_t)v;
		return 0;
	case OPT_CPUSET_CPUS:
	case OPT_CPUSET_MEMS:
		if (strchr(val, '\n'))
			return rt_make_error(err, 0, "update: invalid value for %s",
					     c == OPT_CPUSET_CPUS ? "cpuset-cpus" : "cpuset-mems");
		g_free(c == OPT_CPUSET_CPUS ? res->cpuset_cpus : res->cpuset_mems);
		*(c == OPT_CPUSET_CPUS ? &res->cpuset_cpus : &res->cpuset_mems) = g_strdup(val);
		return 0;
	}
	return 0;
}

int rt_cmd_update(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "resources", required_argument, NULL, 'r' },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		/* Accepted as runc accepts them; a VM has no such knob on the host. */
		{ "memory-swap", required_argument, NULL, OPT_IGNORED },
		{ "memory-reservation", required_argument, NULL, OPT_IGNORED },
		{ "kernel-memory", required_argument, NULL, OPT_IGNORED },
		{ "kernel-memory-tcp", required_argument, NULL, OPT_IGNORED },
		{ "cpu-share", required_argument, NULL, OPT_CPU_SHARES }, /* runc's spelling */
		{ "cpu-shares", required_argument, NULL, OPT_CPU_SHARES },
		{ "cpu-quota", required_argument, NULL, OPT_CPU_QUOTA },
		{ "cpu-period", required_argument, NULL, OPT_CPU_PERIOD },
		{ "cpuset-cpus", required_argument, NULL, OPT_CPUSET_CPUS },
		{ "cpuset-mems", required_argument, NULL, OPT_CPUSET_MEMS },
		{ "pids-limit", required_argument, NULL, OPT_PIDS_LIMIT },
		{ "blkio-weight", required_argument, NULL, OPT_BLKIO_WEIGHT },
		{ "l3-cache-schema", required_argument, NULL, OPT_IGNORED },
		{ "mem-bw-schema", required_argument, NULL, OPT_IGNORED },
		{ "cpu-rt-period", required_argument, NULL, OPT_IGNORED },
		{ "cpu-rt-runtime", required_argument, NULL, OPT_IGNORED },
		{ 0 },
	};
	struct rt_resources flags = { 0 }, from_file = { 0 };
	g_autofree char *dir = NULL;
	const struct hv_backend_ops *ops;
	const struct rt_resources *res;
	struct rt_state *st = NULL;
	const char *resources = NULL;
	const char *status;
	int c, r = -1;

	while ((c = rt_getopt(argc, argv, "r:", opts, "update", err)) != -1) {
		if (c == -2 || take_flag(c, optarg, &flags, err) < 0)
			goto out;
		if (c == 'r')
			resources = optarg;
	}
	if (argc - optind != 1) {
		rt_make_error(err, 0, "update: expected exactly one container ID");
		goto out;
	}
	/* runc: the file, when given, is the whole update; the flags are not looked at. */
	if (resources && read_resources(resources, &from_file, err) < 0)
		goto out;
	res = resources ? &from_file : &flags;
	if (rt_state_open(g->root, argv[optind], &dir, &st, NULL, err) < 0)
		goto out;
	status = rt_state_status(st);
	if (strcmp(status, "stopped") == 0) {
		rt_make_error(err, 0, "container not running");
		goto out;
	}
	ops = hv_backend_find(st->backend);
	if (!ops) {
		rt_make_error(err, 0, "container `%s` runs on backend `%s`, which this runvm does not know", st->id,
			      st->backend);
		goto out;
	}
	if (*st->cgroups_path) {
		struct rt_cgroup_limits lim;
		/* The host limit keeps room for the hypervisor, as at create. */
		unsigned long long mib = res->memory_limit > 0
			? rt_cgroup_memory_mib(
				  ops, ((unsigned long long)res->memory_limit >> 20) + RT_GUEST_MEM_OVERHEAD_MIB)
			: 0;

		rt_cgroup_limits_from(res, mib, &lim);
		if (rt_cgroup_update(st->pid, st->cgroups_path, &lim, err) < 0)
			goto out;
	}
	if (res->pids_limit || res->memory_limit) {
		g_autofree char *sock = g_build_filename(dir, "ctl.sock", NULL);
		g_autoptr(GString) req = g_string_new("{\"op\":\"update\"");

		if (res->pids_limit)
			g_string_append_printf(req, ",\"pids\":%" PRId64, MAX(res->pids_limit, -1));
		if (res->memory_limit)
			g_string_append_printf(req, ",\"memory\":%" PRId64, MAX(res->memory_limit, -1));
		g_string_append_c(req, '}');
		if (rt_ctl_call(sock, req->str, err) < 0) {
			rt_error_wrap(err, "update");
			goto out;
		}
		/* The monitor holds it for the guest, which cannot take it while frozen. */
		if (strcmp(status, "paused") == 0)
			printf("runvm: the container is paused: its cgroup in the guest takes the new limits when it "
			       "resumes\n");
	}
	/* Said on stdout too: the caller asked for a change the guest will not see in full. */
	if (!(ops->features & HV_FEAT_RESIZE))
		printf("runvm: limits updated; the %s backend cannot resize a running guest: its RAM and vCPUs stay as "
		       "booted%s\n",
		       ops->name,
		       res->memory_limit
			       ? " (the container's memory limit in the guest is at most what that RAM allows)"
			       : "");
	r = 0;
out:
	rt_state_free(st);
	rt_resources_clear(&flags);
	rt_resources_clear(&from_file);
	return r;
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
