/* SPDX-License-Identifier: GPL-2.0-or-later */
/* config.json parsing: what runvm takes from it, and a clear error for each broken shape. */
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "base/error.h"
#include "runtime/lib/spec.h"
#include "tests/unit/tap.h"

static char *bundle;

static int parse(const char *json, struct rt_spec **s, struct rt_error **err)
{
	return rt_spec_parse(json, strlen(json), bundle, s, err);
}

static void expect_error(const char *json, const char *needle)
{
	struct rt_spec *s = NULL;
	struct rt_error *err = NULL;
	int r = parse(json, &s, &err);

	ok(r < 0 && err && strstr(err->msg, needle), "error mentions `%s`: %s", needle, err ? err->msg : "no error");
	rt_error_free(&err);
	rt_spec_free(s);
}

int main(void)
{
	struct rt_spec *s = NULL;
	struct rt_error *err = NULL;
	g_autofree char *rootfs = NULL;
	g_autofree char *def = rt_spec_default_json();

	bundle = g_dir_make_tmp("runvm-spec-XXXXXX", NULL);
	rootfs = g_build_filename(bundle, "rootfs", NULL);
	g_mkdir(rootfs, 0755);

	ok(parse("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\",\"-c\",\"x\"],\"env\":[\"A=1\"],"
		 "\"cwd\":\"/tmp\",\"user\":{\"uid\":1000,\"gid\":100,\"additionalGids\":[5,6]}},"
		 "\"root\":{\"path\":\"rootfs\",\"readonly\":true}}",
		 &s, &err) == 0,
	   "full spec parses");
	ok(s && g_strv_length(s->process.args) == 3 && strcmp(s->process.args[2], "x") == 0, "args");
	ok(s && s->process.env[0] && strcmp(s->process.env[0], "A=1") == 0 && !s->process.env[1], "env");
	ok(s && strcmp(s->process.cwd, "/tmp") == 0 && s->process.uid == 1000 && s->process.gid == 100,
	   "cwd, uid, gid");
	ok(s && s->process.n_additional_gids == 2 && s->process.additional_gids[1] == 6, "additionalGids");
	ok(s && s->rootfs_readonly && strcmp(s->rootfs, rootfs) == 0, "relative root.path resolved in the bundle");
	rt_spec_free(s);
	s = NULL;

	ok(parse(def, &s, &err) == 0 && s && !s->process.terminal && strcmp(s->process.cwd, "/") == 0,
	   "`runvm spec` output parses");
	rt_spec_free(s);

	expect_error("{", "invalid JSON");
	expect_error("[]", "top level");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"rootfs\"}}", "ociVersion");
	expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"rootfs\"}}", "`process` is missing");
	expect_error("{\"ociVersion\":\"1\",\"process\":{\"args\":[]},\"root\":{\"path\":\"rootfs\"}}", "process.args");
	expect_error("{\"ociVersion\":\"1\",\"process\":{\"args\":\"sh\"},\"root\":{\"path\":\"rootfs\"}}",
		     "process.args");
	expect_error("{\"ociVersion\":\"1\",\"process\":{\"args\":[1]},\"root\":{\"path\":\"rootfs\"}}",
		     "process.args[0]");
	expect_error(
		"{\"ociVersion\":\"1\",\"process\":{\"args\":[\"a\"],\"cwd\":\"rel\"},\"root\":{\"path\":\"rootfs\"}}",
		"absolute");
	expect_error(
		"{\"ociVersion\":\"1\",\"process\":{\"args\":[\"a\"],\"user\":{\"uid\":-1}},\"root\":{\"path\":\"rootfs\"}}",
		"process.user.uid");
	expect_error(
		"{\"ociVersion\":\"1\",\"process\":{\"args\":[\"a\"],\"terminal\":\"yes\"},\"root\":{\"path\":\"rootfs\"}}",
		"process.terminal");
	expect_error("{\"ociVersion\":\"1\",\"process\":{\"args\":[\"a\"]}}", "`root` is missing");
	expect_error("{\"ociVersion\":\"1\",\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"nope\"}}",
		     "No such file");

	/* What json-glib would wrap silently: refused on the text. Go's uint64 maximum is fine. */
#define BASE "{\"ociVersion\":\"1\",\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"rootfs\"},"
	expect_error(BASE "\"linux\":{\"resources\":{\"memory\":{\"limit\":18446744073709551616}}}}",
		     "`18446744073709551616` does not fit in 64 bits");
	expect_error(BASE "\"linux\":{\"resources\":{\"cpu\":{\"quota\":-9223372036854775809}}}}",
		     "does not fit in 64 bits");
	ok(parse(BASE "\"annotations\":{\"n\":\"99999999999999999999999\"},\"x\":18446744073709551615}", &s, &err) == 0,
	   "2^64-1 and a long number inside a string pass the 64-bit check");
	rt_spec_free(s);
	s = NULL;
	rt_error_free(&err);
	expect_error(BASE "\"linux\":{\"resources\":{\"cpu\":{\"period\":\"1\"}}}}",
		     "`linux.resources.cpu.period` must be a 64-bit integer");
	expect_error(BASE "\"linux\":{\"resources\":{\"memory\":{\"limit\":{}}}}}",
		     "`linux.resources.memory.limit` must be a scalar");
	expect_error(BASE "\"annotations\":{\"a\":1}}", "`annotations.a` must be a string");
	expect_error(BASE "\"linux\":{\"seccomp\":{\"syscalls\":[{\"names\":\"read\"}]}}}",
		     "`linux.seccomp.syscalls[0].names` must be an array");
	expect_error(BASE "\"linux\":{\"seccomp\":{\"syscalls\":[{\"action\":\"SCMP_ACT_ERRNO\"}]}}}",
		     "`linux.seccomp.syscalls[0].names` is missing");
	expect_error(BASE "\"mounts\":[{\"destination\":\"/a/../../b\",\"type\":\"tmpfs\"}]}", "holds `..`");
	ok(parse(BASE "\"mounts\":[{\"destination\":\"/a..b/..c\",\"type\":\"bind\",\"source\":\"/s\","
		      "\"options\":[\"rro\"]}]}",
		 &s, &err) == 0 &&
		   s->mounts[0].readonly,
	   "`..` only as a whole component is refused; rro is read-only on the host too");
	rt_spec_free(s);
	s = NULL;
	rt_error_free(&err);
	/* linux.resources.devices: the rules in order, then runc's defaults; bad entries refused. */
#define DEVS(x) BASE "\"linux\":{\"resources\":{\"devices\":[" x "]}}}"
	ok(parse(DEVS("{\"allow\":false},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":5,\"access\":"
		      "\"r\"},{\"allow\":true,\"type\":\"b\",\"major\":-1,\"access\":\"mw\"}"),
		 &s, &err) == 0 &&
		   s->n_dev_rules == 3 + 11 && !s->dev_rules[0].allow && s->dev_rules[0].type == 'a' &&
		   s->dev_rules[0].major == UINT32_MAX && s->dev_rules[0].minor == UINT32_MAX &&
		   s->dev_rules[0].access == 7 && s->dev_rules[1].type == 'c' && s->dev_rules[1].major == 1 &&
		   s->dev_rules[1].minor == 5 && s->dev_rules[1].access == 2 && s->dev_rules[2].type == 'b' &&
		   s->dev_rules[2].major == UINT32_MAX && s->dev_rules[2].access == 5 && s->dev_rules[3].allow &&
		   s->dev_rules[3].access == 1 && s->dev_rules[13].major == 10 && s->dev_rules[13].minor == 200,
	   "linux.resources.devices: three rules, defaults filled in, then runc's 11 (%s)", err ? err->msg : "ok");
	rt_error_free(&err);
	rt_spec_free(s);
	s = NULL;
	ok(parse(DEVS(""), &s, &err) == 0 && s->n_dev_rules == 0, "an empty linux.resources.devices: no rules");
	rt_error_free(&err);
	rt_spec_free(s);
	s = NULL;
	expect_error(DEVS("{\"type\":\"c\"}"), "`linux.resources.devices[0].allow` is required");
	expect_error(DEVS("{\"allow\":\"yes\"}"), "`linux.resources.devices[0].allow` must be a boolean");
	expect_error(DEVS("{\"allow\":true},{\"allow\":true,\"type\":\"u\"}"),
		     "`linux.resources.devices[1].type` must be a, c or b");
	expect_error(DEVS("{\"allow\":true,\"access\":\"rx\"}"),
		     "`linux.resources.devices[0].access` must be letters of rwm");
	expect_error(DEVS("{\"allow\":true,\"major\":4096}"),
		     "`linux.resources.devices[0].major` must be -1 (any) or in 0..4095");
	expect_error(DEVS("{\"allow\":true,\"minor\":-2}"), "`linux.resources.devices[0].minor` must be -1");
	expect_error(DEVS("1"), "`linux.resources.devices[0]` must be an object");
	expect_error(BASE "\"linux\":{\"resources\":{\"devices\":{}}}}", "`linux.resources.devices` must be an array");
#undef DEVS

#undef BASE

	/* linux.namespaces: each type once, a path kept ("" is none, as with runc), network also
	 * in netns/netns_path, an unknown type refused (runc: does not exist). */
#define NS(list)                                                                                                                                    \
	"{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},\"process\":{\"args\":[\"true\"],\"cwd\":\"/\"},\"linux\":{\"namespaces\":[" list \
	"]}}"
	ok(parse(NS("{\"type\":\"pid\"},{\"type\":\"ipc\",\"path\":\"/proc/1/ns/ipc\"},{\"type\":\"network\","
		    "\"path\":\"\"},{\"type\":\"time\"},{\"type\":\"cgroup\",\"path\":\"rel\"}"),
		 &s, &err) == 0 &&
		   s->namespaces[RT_NS_PID].listed && !s->namespaces[RT_NS_PID].path &&
		   !strcmp(s->namespaces[RT_NS_IPC].path, "/proc/1/ns/ipc") && s->netns && !s->netns_path &&
		   s->namespaces[RT_NS_NET].listed && !s->namespaces[RT_NS_NET].path &&
		   s->namespaces[RT_NS_TIME].listed && !s->namespaces[RT_NS_MOUNT].listed &&
		   !s->namespaces[RT_NS_UTS].listed && !strcmp(s->namespaces[RT_NS_CGROUP].path, "rel"),
	   "linux.namespaces: listed types, their paths, an empty path as none%s%s", err ? ": " : "",
	   err ? err->msg : "");
	rt_spec_free(s);
	s = NULL;
	rt_error_free(&err);
	ok(rt_ns_clone_flag(RT_NS_MOUNT) == 0x00020000 && !strcmp(rt_ns_proc_name(RT_NS_MOUNT), "mnt") &&
		   !strcmp(rt_ns_type_name(RT_NS_NET), "network"),
	   "namespace types: flag, /proc/PID/ns name, config.json name");
	expect_error(NS("{\"type\":\"ipc\"},{\"type\":\"ipc\"}"),
		     "`linux.namespaces[1].type`: duplicated namespace `ipc`");
	expect_error(NS("{\"type\":\"mnt\"}"), "`linux.namespaces[0].type`: namespace `mnt` does not exist");
	expect_error(NS("{\"path\":\"/x\"}"), "namespace `` does not exist");
	expect_error(NS("{\"type\":\"uts\",\"path\":[]}"), "`linux.namespaces[0].path` must be");
#undef NS

	ok(rt_spec_load("/nonexistent-bundle", &s, &err) < 0 && err && strstr(err->msg, "config.json"),
	   "missing config.json: %s", err ? err->msg : "");
	rt_error_free(&err);

	g_rmdir(rootfs);
	g_rmdir(bundle);
	g_free(bundle);
	return tap_done();
}
