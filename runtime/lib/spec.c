/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <sys/capability.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/error.h"
#include "protocol/agent-proto.h"
#include "runtime/lib/spec.h"

void rt_process_clear(struct rt_process *p)
{
	g_free(p->rlimits);
	g_strfreev(p->args);
	g_strfreev(p->env);
	g_free(p->cwd);
	g_free(p->additional_gids);
	*p = (struct rt_process){ 0 };
}

void rt_process_free(struct rt_process *p)
{
	if (!p)
		return;
	rt_process_clear(p);
	g_free(p);
}
typedef struct rt_process rt_process;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(rt_process, rt_process_free)

static void hook_free(gpointer p)
{
	struct rt_hook *h = p;

	g_free(h->path);
	g_strfreev(h->args);
	g_strfreev(h->env);
	g_free(h);
}

const char *rt_hook_kind_name(enum rt_hook_kind kind)
{
	static const char *const names[_RT_HOOK_KIND_MAX] = {
		"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
	};

	return kind < _RT_HOOK_KIND_MAX ? names[kind] : "?";
}

void rt_spec_free(struct rt_spec *s)
{
	if (!s)
		return;
	for (int i = 0; i < _RT_HOOK_KIND_MAX; i++)
		if (s->hooks[i])
			g_ptr_array_unref(s->hooks[i]);
	for (size_t i = 0; i < s->n_mounts; i++) {
		g_free(s->mounts[i].destination);
		g_free(s->mounts[i].type);
		g_free(s->mounts[i].source);
		g_strfreev(s->mounts[i].options);
	}
	g_free(s->mounts);
	g_strfreev(s->masked_paths);
	g_strfreev(s->readonly_paths);
	g_strfreev(s->sysctl);
	g_free(s->seccomp_json);
	g_free(s->annotations_json);
	g_free(s->netns_path);
	for (int i = 0; i < _RT_NS_MAX; i++)
		g_free(s->namespaces[i].path);
	g_free(s->cgroups_path);
	g_free(s->oci_version);
	rt_process_clear(&s->process);
	g_free(s->rootfs);
	g_free(s->hostname);
	g_free(s->arch);
	g_free(s->backend);
	g_free(s->confidential);
	rt_resources_clear(&s->resources);
	for (size_t i = 0; i < s->n_devices; i++)
		g_free(s->devices[i].path);
	g_free(s->devices);
	g_free(s->dev_rules);
	g_free(s->uid_mappings);
	g_free(s->gid_mappings);
	g_free(s->rootfs_propagation);
	g_free(s);
}
typedef struct rt_spec rt_spec;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(rt_spec, rt_spec_free)

/* Member @name of @obj if present and not null; -1 with an error when it has the wrong type. */
static int get_member(JsonObject *obj, const char *path, const char *name, JsonNodeType type, JsonNode **ret,
		      struct rt_error **err)
{
	JsonNode *n = obj ? json_object_get_member(obj, name) : NULL;

	*ret = NULL;
	if (!n || JSON_NODE_HOLDS_NULL(n))
		return 0;
	if (json_node_get_node_type(n) != type)
		return rt_make_error(err, 0, "config.json: `%s%s` must be %s", path, name,
				     type == JSON_NODE_OBJECT          ? "an object"
					     : type == JSON_NODE_ARRAY ? "an array"
								       : "a scalar");
	*ret = n;
	return 0;
}

static int get_string(JsonObject *obj, const char *path, const char *name, char **ret, struct rt_error **err)
{
	JsonNode *n;

	if (get_member(obj, path, name, JSON_NODE_VALUE, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	if (json_node_get_value_type(n) != G_TYPE_STRING)
		return rt_make_error(err, 0, "config.json: `%s%s` must be a string", path, name);
	g_free(*ret);
	*ret = g_strdup(json_node_get_string(n));
	return 0;
}

static int get_uint32(JsonObject *obj, const char *path, const char *name, guint32 *ret, struct rt_error **err)
{
	JsonNode *n;
	gint64 v;

	if (get_member(obj, path, name, JSON_NODE_VALUE, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	if (json_node_get_value_type(n) != G_TYPE_INT64 || (v = json_node_get_int(n)) < 0 || v > G_MAXUINT32)
		return rt_make_error(err, 0, "config.json: `%s%s` must be an integer in 0..4294967295", path, name);
	*ret = (guint32)v;
	return 0;
}

/* An integer; a number that does not fit in 64 bits arrives as a double and is refused. */
static int get_int64(JsonObject *obj, const char *path, const char *name, int64_t *ret, struct rt_error **err)
{
	JsonNode *n;

	if (get_member(obj, path, name, JSON_NODE_VALUE, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	if (json_node_get_value_type(n) != G_TYPE_INT64)
		return rt_make_error(err, 0, "config.json: `%s%s` must be a 64-bit integer", path, name);
	*ret = json_node_get_int(n);
	return 0;
}

static int get_bool(JsonObject *obj, const char *path, const char *name, bool *ret, struct rt_error **err)
{
	JsonNode *n;

	if (get_member(obj, path, name, JSON_NODE_VALUE, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	if (json_node_get_value_type(n) != G_TYPE_BOOLEAN)
		return rt_make_error(err, 0, "config.json: `%s%s` must be a boolean", path, name);
	*ret = json_node_get_boolean(n);
	return 0;
}

static int get_strv(JsonObject *obj, const char *path, const char *name, char ***ret, struct rt_error **err)
{
	g_autoptr(GPtrArray) v = NULL;
	JsonArray *a;
	JsonNode *n;

	if (get_member(obj, path, name, JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	a = json_node_get_array(n);
	v = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *e = json_array_get_element(a, i);

		if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
			return rt_make_error(err, 0, "config.json: `%s%s[%u]` must be a string", path, name, i);
		g_ptr_array_add(v, g_strdup(json_node_get_string(e)));
	}
	g_ptr_array_add(v, NULL);
	g_strfreev(*ret);
	*ret = (char **)g_ptr_array_free(g_steal_pointer(&v), FALSE);
	return 0;
}

static int parse_user(JsonObject *process, struct rt_process *s, struct rt_error **err)
{
	JsonObject *user;
	JsonNode *n;
	JsonArray *a;

	if (get_member(process, "process.", "user", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	user = json_node_get_object(n);
	if (json_object_has_member(user, "umask") && !JSON_NODE_HOLDS_NULL(json_object_get_member(user, "umask"))) {
		if (get_uint32(user, "process.user.", "umask", &s->umask, err) < 0)
			return -1;
		s->has_umask = true;
	}
	if (get_uint32(user, "process.user.", "uid", &s->uid, err) < 0 ||
	    get_uint32(user, "process.user.", "gid", &s->gid, err) < 0 ||
	    get_member(user, "process.user.", "additionalGids", JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	a = json_node_get_array(n);
	s->n_additional_gids = json_array_get_length(a);
	s->additional_gids = g_new0(gid_t, s->n_additional_gids);
	for (guint i = 0; i < s->n_additional_gids; i++) {
		JsonNode *e = json_array_get_element(a, i);

		if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64 ||
		    json_node_get_int(e) < 0 || json_node_get_int(e) > G_MAXUINT32)
			return rt_make_error(
				err, 0,
				"config.json: `process.user.additionalGids[%u]` must be an integer in 0..4294967295",
				i);
		s->additional_gids[i] = (gid_t)json_node_get_int(e);
	}
	return 0;
}

static int parse_caps(JsonObject *process, struct rt_process *s, struct rt_error **err)
{
	static const char *const sets[5] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
	JsonObject *caps;
	JsonNode *n;

	if (get_member(process, "process.", "capabilities", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	caps = json_node_get_object(n);
	s->has_caps = true;
	for (int i = 0; i < 5; i++) {
		g_auto(GStrv) names = NULL;

		if (get_strv(caps, "process.capabilities.", sets[i], &names, err) < 0)
			return -1;
		for (char **c = names; c && *c; c++) {
			cap_value_t v;

			if (cap_from_name(*c, &v) < 0 || v < 0 || v > 63)
				return rt_make_error(
					err, 0, "config.json: unknown capability `%s` in `process.capabilities.%s`", *c,
					sets[i]);
			s->caps[i] |= 1ULL << v;
		}
	}
	return 0;
}

static int parse_rlimits(JsonObject *process, struct rt_process *s, struct rt_error **err)
{
	static const struct {
		const char *name;
		int resource;
	} names[] = {
		{ "RLIMIT_CPU", RLIMIT_CPU },           { "RLIMIT_FSIZE", RLIMIT_FSIZE },
		{ "RLIMIT_DATA", RLIMIT_DATA },         { "RLIMIT_STACK", RLIMIT_STACK },
		{ "RLIMIT_CORE", RLIMIT_CORE },         { "RLIMIT_RSS", RLIMIT_RSS },
		{ "RLIMIT_NPROC", RLIMIT_NPROC },       { "RLIMIT_NOFILE", RLIMIT_NOFILE },
		{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },   { "RLIMIT_AS", RLIMIT_AS },
		{ "RLIMIT_LOCKS", RLIMIT_LOCKS },       { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
		{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
		{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },     { "RLIMIT_RTTIME", RLIMIT_RTTIME },
	};
	JsonArray *a;
	JsonNode *n;

	if (get_member(process, "process.", "rlimits", JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	a = json_node_get_array(n);
	s->n_rlimits = json_array_get_length(a);
	s->rlimits = g_new0(struct rt_rlimit, s->n_rlimits);
	for (guint i = 0; i < s->n_rlimits; i++) {
		JsonNode *e = json_array_get_element(a, i);
		g_autofree char *prefix = g_strdup_printf("process.rlimits[%u].", i);
		g_autofree char *type = NULL;
		JsonObject *o;
		JsonNode *v;
		size_t k;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return rt_make_error(err, 0, "config.json: `process.rlimits[%u]` must be an object", i);
		o = json_node_get_object(e);
		if (get_string(o, prefix, "type", &type, err) < 0)
			return -1;
		for (k = 0; k < G_N_ELEMENTS(names); k++)
			if (type && strcmp(type, names[k].name) == 0)
				break;
		if (k == G_N_ELEMENTS(names))
			return rt_make_error(err, 0, "config.json: unknown rlimit `%s`", type ? type : "");
		s->rlimits[i].resource = names[k].resource;
		/* Go's uint64: values above INT64_MAX (RLIM_INFINITY) arrive as such. */
		for (int h = 0; h < 2; h++) {
			const char *field = h ? "hard" : "soft";

			if (get_member(o, prefix, field, JSON_NODE_VALUE, &v, err) < 0)
				return -1;
			if (!v || json_node_get_value_type(v) != G_TYPE_INT64)
				return rt_make_error(err, 0, "config.json: `%s%s` must be an integer", prefix, field);
			*(h ? &s->rlimits[i].hard : &s->rlimits[i].soft) = (uint64_t)json_node_get_int(v);
		}
	}
	return 0;
}

static int parse_process_object(JsonObject *process, struct rt_process *s, struct rt_error **err)
{
	JsonNode *n;
	if (get_strv(process, "process.", "args", &s->args, err) < 0 ||
	    get_strv(process, "process.", "env", &s->env, err) < 0 ||
	    get_string(process, "process.", "cwd", &s->cwd, err) < 0 ||
	    get_bool(process, "process.", "terminal", &s->terminal, err) < 0 || parse_user(process, s, err) < 0 ||
	    parse_caps(process, s, err) < 0 || parse_rlimits(process, s, err) < 0 ||
	    get_bool(process, "process.", "noNewPrivileges", &s->no_new_privs, err) < 0)
		return -1;
	if (get_member(process, "process.", "oomScoreAdj", JSON_NODE_VALUE, &n, err) < 0)
		return -1;
	if (n) {
		if (json_node_get_value_type(n) != G_TYPE_INT64 || json_node_get_int(n) < -1000 ||
		    json_node_get_int(n) > 1000)
			return rt_make_error(err, 0,
					     "config.json: `process.oomScoreAdj` must be an integer in -1000..1000");
		s->has_oom_score_adj = true;
		s->oom_score_adj = (int)json_node_get_int(n);
	}
	if (!s->args || !s->args[0] || !s->args[0][0])
		return rt_make_error(err, 0,
				     "args must not be empty: `process.args` must hold at least the program to run");
	if (!s->env)
		s->env = g_new0(char *, 1);
	if (!s->cwd)
		s->cwd = g_strdup("/");
	if (s->cwd[0] != '/')
		return rt_make_error(err, 0, "Cwd must be an absolute path: `process.cwd` is `%s`", s->cwd);
	return 0;
}

static int parse_process(JsonObject *root, struct rt_process *s, struct rt_error **err)
{
	JsonNode *n;

	if (get_member(root, "", "process", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return rt_make_error(err, 0, "config.json: `process` is missing");
	return parse_process_object(json_node_get_object(n), s, err);
}

/*
 * json-glib wraps an integer that does not fit in 64 bits (2^64 reads as -1, 10^30 too) without
 * a word, and a limit would then mean something else than what was written. Integers up to
 * 2^64-1 are fine (Go's uint64: RLIM_INFINITY); larger ones, or below -2^63, are refused here,
 * on the text.
 */
static int check_numbers(const char *json, size_t len, const char *what, struct rt_error **err)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char c = json[i];
		size_t start = i;
		bool integer = true;

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
			continue;
		}
		if (c != '-' && !g_ascii_isdigit(c))
			continue;
		while (i + 1 < len && (g_ascii_isdigit(json[i + 1]) || strchr("-+.eE", json[i + 1]))) {
			integer = integer && !strchr(".eE", json[i + 1]);
			i++;
		}
		if (integer) {
			g_autofree char *num = g_strndup(json + start, i - start + 1);

			errno = 0;
			if (num[0] == '-' ? (g_ascii_strtoll(num, NULL, 10), errno == ERANGE)
					  : (g_ascii_strtoull(num, NULL, 10), errno == ERANGE))
				return rt_make_error(err, 0, "%s: the number `%s` does not fit in 64 bits", what, num);
		}
	}
	return 0;
}

int rt_process_parse(const char *json, size_t len, struct rt_process **ret, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) gerr = NULL;
	g_autoptr(rt_process) p = g_new0(struct rt_process, 1);
	JsonNode *root;

	if (!json_parser_load_from_data(parser, json, (gssize)len, &gerr))
		return rt_make_error(err, 0, "process: invalid JSON: %s", gerr->message);
	if (check_numbers(json, len, "process", err) < 0)
		return -1;
	root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "process property must not be empty: the process must be a JSON object");
	if (parse_process_object(json_node_get_object(root), p, err) < 0)
		return -1;
	*ret = g_steal_pointer(&p);
	return 0;
}

static int parse_root(JsonObject *root, const char *bundle, struct rt_spec *s, struct rt_error **err)
{
	g_autofree char *path = NULL;
	JsonObject *r;
	JsonNode *n;
	struct stat st;

	if (get_member(root, "", "root", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return rt_make_error(err, 0, "config.json: `root` is missing");
	r = json_node_get_object(n);
	if (get_string(r, "root.", "path", &path, err) < 0 ||
	    get_bool(r, "root.", "readonly", &s->rootfs_readonly, err) < 0)
		return -1;
	if (!path || !*path)
		return rt_make_error(err, 0, "config.json: `root.path` is missing");
	s->rootfs = g_path_is_absolute(path) ? g_canonicalize_filename(path, NULL)
					     : g_canonicalize_filename(path, bundle);
	if (stat(s->rootfs, &st) < 0)
		return rt_make_error(err, errno, "rootfs `%s`", s->rootfs);
	if (!S_ISDIR(st.st_mode))
		return rt_make_error(err, ENOTDIR, "rootfs `%s`", s->rootfs);
	return 0;
}

static int parse_hooks(JsonObject *root, struct rt_spec *s, struct rt_error **err)
{
	JsonObject *hooks;
	JsonNode *n;

	if (get_member(root, "", "hooks", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	hooks = json_node_get_object(n);
	for (int k = 0; k < _RT_HOOK_KIND_MAX; k++) {
		g_autofree char *path = g_strdup_printf("hooks.%s", rt_hook_kind_name(k));
		JsonArray *a;

		if (get_member(hooks, "hooks.", rt_hook_kind_name(k), JSON_NODE_ARRAY, &n, err) < 0)
			return -1;
		if (!n)
			continue;
		a = json_node_get_array(n);
		s->hooks[k] = g_ptr_array_new_with_free_func(hook_free);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *e = json_array_get_element(a, i);
			g_autofree char *prefix = g_strdup_printf("%s[%u].", path, i);
			struct rt_hook *h;
			guint32 timeout = 0;

			if (!JSON_NODE_HOLDS_OBJECT(e))
				return rt_make_error(err, 0, "config.json: `%s[%u]` must be an object", path, i);
			h = g_new0(struct rt_hook, 1);
			g_ptr_array_add(s->hooks[k], h);
			if (get_string(json_node_get_object(e), prefix, "path", &h->path, err) < 0 ||
			    get_strv(json_node_get_object(e), prefix, "args", &h->args, err) < 0 ||
			    get_strv(json_node_get_object(e), prefix, "env", &h->env, err) < 0 ||
			    get_uint32(json_node_get_object(e), prefix, "timeout", &timeout, err) < 0)
				return -1;
			if (!h->path || h->path[0] != '/')
				return rt_make_error(err, 0, "config.json: `%spath` must be an absolute path", prefix);
			if (timeout > 3600)
				return rt_make_error(err, 0, "config.json: `%stimeout` is over an hour", prefix);
			h->timeout_s = (int)timeout;
			if (!h->args)
				h->args = g_new0(char *, 1);
			if (!h->env)
				h->env = g_new0(char *, 1);
		}
	}
	return 0;
}

static bool has_dotdot(const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);

	for (char **p = parts; *p; p++)
		if (strcmp(*p, "..") == 0)
			return true;
	return false;
}

static int parse_mounts(JsonObject *root, struct rt_spec *s, struct rt_error **err)
{
	JsonArray *a;
	JsonNode *n;

	if (get_member(root, "", "mounts", JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	a = json_node_get_array(n);
	s->n_mounts = json_array_get_length(a);
	s->mounts = g_new0(struct rt_mount, s->n_mounts);
	for (guint i = 0; i < s->n_mounts; i++) {
		JsonNode *e = json_array_get_element(a, i);
		g_autofree char *prefix = g_strdup_printf("mounts[%u].", i);
		struct rt_mount *m = &s->mounts[i];
		JsonObject *o;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return rt_make_error(err, 0, "config.json: `mounts[%u]` must be an object", i);
		o = json_node_get_object(e);
		if (get_string(o, prefix, "destination", &m->destination, err) < 0 ||
		    get_string(o, prefix, "type", &m->type, err) < 0 ||
		    get_string(o, prefix, "source", &m->source, err) < 0 ||
		    get_strv(o, prefix, "options", &m->options, err) < 0)
			return -1;
		if (!m->destination || m->destination[0] != '/')
			return rt_make_error(err, 0, "config.json: `%sdestination` must be an absolute path", prefix);
		/* The agent would keep it inside the rootfs; a destination that climbs is refused. */
		if (has_dotdot(m->destination))
			return rt_make_error(err, 0, "config.json: `%sdestination` `%s` holds `..`", prefix,
					     m->destination);
		/* The agent protocol separates the fields with newlines. */
		if (strchr(m->destination, '\n') || (m->source && strchr(m->source, '\n')) ||
		    (m->type && strchr(m->type, '\n')))
			return rt_make_error(err, 0, "config.json: `mounts[%u]` holds a newline", i);
		if (!m->options)
			m->options = g_new0(char *, 1);
		m->bind = m->type && strcmp(m->type, "bind") == 0;
		for (char **opt = m->options; *opt; opt++) {
			m->bind = m->bind || strcmp(*opt, "bind") == 0 || strcmp(*opt, "rbind") == 0;
			/* rro (the agent's mount_setattr) is read-only on the host's side too. */
			m->readonly = m->readonly || strcmp(*opt, "ro") == 0 || strcmp(*opt, "rro") == 0;
			if (strchr(*opt, '\n') || strchr(*opt, ','))
				return rt_make_error(err, 0, "config.json: `%soptions` holds a newline or comma",
						     prefix);
		}
		if (m->bind && (!m->source || m->source[0] != '/'))
			return rt_make_error(err, 0, "config.json: `%ssource` of a bind mount must be an absolute path",
					     prefix);
	}
	return 0;
}

/* The number of CPUs in a cpuset list such as "0-2,5". */
static int count_cpuset(const char *list, unsigned *ret)
{
	g_auto(GStrv) parts = g_strsplit(list, ",", -1);
	unsigned n = 0;

	for (char **p = parts; *p; p++) {
		char *end;
		unsigned long a, b;

		if (!**p)
			continue;
		a = b = strtoul(*p, &end, 10);
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		if (*end || b < a || b - a > 4096)
			return -1;
		n += (unsigned)(b - a + 1);
	}
	*ret = n;
	return 0;
}

/* --- linux.resources for the host cgroup (rt_resources_parse()) ------------------------------ */

void rt_resources_clear(struct rt_resources *r)
{
	g_free(r->cpuset_cpus);
	g_free(r->cpuset_mems);
	for (size_t i = 0; i < r->n_hugetlb; i++)
		g_free(r->hugetlb[i].page_size);
	g_free(r->hugetlb);
	*r = (struct rt_resources){ 0 };
}

/* The member @name of @obj (NULL when absent or null) when it is a JSON integer; @min and @max
 * bound it as the Go type runc decodes it into would (uint64, uint16, int64). */
static int res_int(JsonObject *obj, const char *what, const char *group, const char *name, int64_t min, uint64_t max,
		   bool *found, int64_t *ret, struct rt_error **err)
{
	JsonNode *n = obj ? json_object_get_member(obj, name) : NULL;
	int64_t v;

	*found = false;
	if (!n || JSON_NODE_HOLDS_NULL(n))
		return 0;
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
		return rt_make_error(err, 0, "%s.%s%s` must be an integer", what, group, name);
	v = json_node_get_int(n);
	if (v < min || (v >= 0 && (uint64_t)v > max))
		return rt_make_error(err, 0, "%s.%s%s` is out of range: %" G_GINT64_FORMAT, what, group, name, v);
	*found = true;
	*ret = v;
	return 0;
}

static int res_str(JsonObject *obj, const char *what, const char *group, const char *name, char **ret,
		   struct rt_error **err)
{
	JsonNode *n = obj ? json_object_get_member(obj, name) : NULL;

	if (!n || JSON_NODE_HOLDS_NULL(n))
		return 0;
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		return rt_make_error(err, 0, "%s.%s%s` must be a string", what, group, name);
	/* A cgroup file takes one line: a newline would write a second value. */
	if (strchr(json_node_get_string(n), '\n'))
		return rt_make_error(err, 0, "%s.%s%s` holds a newline", what, group, name);
	g_free(*ret);
	*ret = g_strdup(json_node_get_string(n));
	return 0;
}

static int res_object(JsonObject *obj, const char *what, const char *name, JsonObject **ret, struct rt_error **err)
{
	JsonNode *n = json_object_get_member(obj, name);

	*ret = NULL;
	if (!n || JSON_NODE_HOLDS_NULL(n))
		return 0;
	if (!JSON_NODE_HOLDS_OBJECT(n))
		return rt_make_error(err, 0, "%s.%s` must be an object", what, name);
	*ret = json_node_get_object(n);
	return 0;
}

int rt_resources_parse(JsonObject *res, const char *what, struct rt_resources *ret, struct rt_error **err)
{
	JsonObject *mem, *cpu, *pids, *blkio;
	JsonNode *hp = json_object_get_member(res, "hugepageLimits");
	bool found;
	int64_t v;

	rt_resources_clear(ret);
	if (res_object(res, what, "memory", &mem, err) < 0 || res_object(res, what, "cpu", &cpu, err) < 0 ||
	    res_object(res, what, "pids", &pids, err) < 0 || res_object(res, what, "blockIO", &blkio, err) < 0)
		goto fail;
	if (res_int(mem, what, "memory.", "limit", INT64_MIN, INT64_MAX, &found, &v, err) < 0)
		goto fail;
	/* runc takes any negative limit as none (-1) */
	ret->memory_limit = found ? MAX(v, -1) : 0;
	if (res_int(cpu, what, "cpu.", "quota", INT64_MIN, INT64_MAX, &found, &v, err) < 0)
		goto fail;
	ret->cpu_quota = found ? MAX(v, -1) : 0;
	if (res_int(cpu, what, "cpu.", "period", 0, UINT64_MAX, &found, &v, err) < 0)
		goto fail;
	ret->cpu_period = found ? (uint64_t)v : 0;
	if (res_int(cpu, what, "cpu.", "shares", 0, UINT64_MAX, &found, &v, err) < 0)
		goto fail;
	ret->cpu_shares = found ? (uint64_t)v : 0;
	if (res_str(cpu, what, "cpu.", "cpus", &ret->cpuset_cpus, err) < 0 ||
	    res_str(cpu, what, "cpu.", "mems", &ret->cpuset_mems, err) < 0)
		goto fail;
	if (res_int(pids, what, "pids.", "limit", INT64_MIN, INT64_MAX, &found, &v, err) < 0)
		goto fail;
	ret->pids_limit = found ? MAX(v, -1) : 0;
	if (res_int(blkio, what, "blockIO.", "weight", 0, UINT16_MAX, &found, &v, err) < 0)
		goto fail;
	ret->blkio_weight = found ? (uint16_t)v : 0;
	if (hp && !JSON_NODE_HOLDS_NULL(hp)) {
		JsonArray *a;

		if (!JSON_NODE_HOLDS_ARRAY(hp)) {
			rt_make_error(err, 0, "%s.hugepageLimits` must be an array", what);
			goto fail;
		}
		a = json_node_get_array(hp);
		ret->hugetlb = g_new0(struct rt_hugetlb, json_array_get_length(a));
		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *e = json_array_get_element(a, i);
			g_autofree char *group = g_strdup_printf("hugepageLimits[%u].", i);
			struct rt_hugetlb *h = &ret->hugetlb[ret->n_hugetlb];

			if (!JSON_NODE_HOLDS_OBJECT(e)) {
				rt_make_error(err, 0, "%s.hugepageLimits[%u]` must be an object", what, i);
				goto fail;
			}
			ret->n_hugetlb++;
			if (res_str(json_node_get_object(e), what, group, "pageSize", &h->page_size, err) < 0 ||
			    res_int(json_node_get_object(e), what, group, "limit", 0, INT64_MAX, &found, &v, err) < 0)
				goto fail;
			/* The page size names a file: a letter and digit name such as "2MB", nothing else. */
			if (!h->page_size || !*h->page_size ||
			    strspn(h->page_size, "0123456789KMGB") != strlen(h->page_size)) {
				rt_make_error(err, 0, "%s.%spageSize` must be a page size such as 2MB", what, group);
				goto fail;
			}
			h->limit = found ? (uint64_t)v : 0;
		}
	}
	return 0;
fail:
	rt_resources_clear(ret);
	return -1;
}

/*
 * runc's (1.1) default device rules, which it appends to linux.resources.devices: mknod of any
 * device, and the devices every container gets (null, zero, full, random, urandom, tty, ptmx,
 * the ptys, tun). So a rule of the spec that denies one of these is overridden under runc, and
 * is here too; Docker's own list holds the same set.
 */
static const struct rt_dev_rule runc_default_rules[] = {
	{ true, 'c', UINT32_MAX, UINT32_MAX, 1 },
	{ true, 'b', UINT32_MAX, UINT32_MAX, 1 },
	{ true, 'c', 1, 3, 7 },
	{ true, 'c', 1, 8, 7 },
	{ true, 'c', 1, 7, 7 },
	{ true, 'c', 5, 0, 7 },
	{ true, 'c', 1, 5, 7 },
	{ true, 'c', 1, 9, 7 },
	{ true, 'c', 136, UINT32_MAX, 7 },
	{ true, 'c', 5, 2, 7 },
	{ true, 'c', 10, 200, 7 },
};

/* A device number of a rule: absent, null or -1 is any; else what a dev_t holds. */
static int dev_rule_number(JsonObject *o, const char *prefix, const char *name, uint32_t max, uint32_t *ret,
			   struct rt_error **err)
{
	int64_t v = -1;

	if (get_int64(o, prefix, name, &v, err) < 0)
		return -1;
	if (v != -1 && (v < 0 || v > max))
		return rt_make_error(err, 0, "config.json: `%s%s` must be -1 (any) or in 0..%u", prefix, name, max);
	*ret = v == -1 ? UINT32_MAX : (uint32_t)v;
	return 0;
}

/* linux.resources.devices[]: the device cgroup rules, which the guest enforces (devcg.c). */
static int parse_dev_rules(JsonObject *res, struct rt_spec *s, struct rt_error **err)
{
	JsonArray *a;
	JsonNode *n;
	guint len;

	if (get_member(res, "linux.resources.", "devices", JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n || !(len = json_array_get_length(a = json_node_get_array(n))))
		return 0;
	if (len > RT_DEV_RULES_MAX)
		return rt_make_error(err, 0, "config.json: `linux.resources.devices` has more than %d rules",
				     RT_DEV_RULES_MAX);
	s->dev_rules = g_new0(struct rt_dev_rule, len + G_N_ELEMENTS(runc_default_rules));
	for (guint i = 0; i < len; i++) {
		JsonNode *e = json_array_get_element(a, i);
		g_autofree char *prefix = g_strdup_printf("linux.resources.devices[%u].", i);
		g_autofree char *type = NULL, *access = NULL;
		struct rt_dev_rule *d = &s->dev_rules[i];
		JsonObject *o;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return rt_make_error(err, 0, "config.json: `linux.resources.devices[%u]` must be an object", i);
		o = json_node_get_object(e);
		if (!json_object_has_member(o, "allow"))
			return rt_make_error(err, 0, "config.json: `%sallow` is required", prefix);
		if (get_bool(o, prefix, "allow", &d->allow, err) < 0 || get_string(o, prefix, "type", &type, err) < 0 ||
		    get_string(o, prefix, "access", &access, err) < 0 ||
		    dev_rule_number(o, prefix, "major", 0xfff, &d->major, err) < 0 ||
		    dev_rule_number(o, prefix, "minor", 0xfffff, &d->minor, err) < 0)
			return -1;
		if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
			return rt_make_error(err, 0, "config.json: `%stype` must be a, c or b, not `%s`", prefix, type);
		d->type = type ? type[0] : 'a';
		if (!access || !*access)
			d->access = RV_DEV_ACC_MKNOD | RV_DEV_ACC_READ | RV_DEV_ACC_WRITE;
		for (const char *c = access; c && *c; c++) {
			uint32_t bit = *c == 'm' ? RV_DEV_ACC_MKNOD
				: *c == 'r'      ? RV_DEV_ACC_READ
				: *c == 'w'      ? RV_DEV_ACC_WRITE
						 : 0;

			if (!bit)
				return rt_make_error(err, 0, "config.json: `%saccess` must be letters of rwm, not `%s`",
						     prefix, access);
			d->access |= bit;
		}
	}
	memcpy(s->dev_rules + len, runc_default_rules, sizeof(runc_default_rules));
	s->n_dev_rules = len + G_N_ELEMENTS(runc_default_rules);
	return 0;
}

static int parse_resources(JsonObject *linux_, struct rt_spec *s, struct rt_error **err)
{
	JsonObject *res;
	JsonNode *n;

	if (get_member(linux_, "linux.", "resources", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	res = json_node_get_object(n);
	if (get_member(res, "linux.resources.", "memory", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	/* -1 means unlimited, as does 0 */
	if (n && get_int64(json_node_get_object(n), "linux.resources.memory.", "limit", &s->memory_limit, err) < 0)
		return -1;
	s->memory_limit = MAX(s->memory_limit, 0);
	if (get_member(res, "linux.resources.", "cpu", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (n) {
		JsonObject *cpu = json_node_get_object(n);
		g_autofree char *cpus = NULL;
		int64_t period = 0;

		if (get_int64(cpu, "linux.resources.cpu.", "quota", &s->cpu_quota, err) < 0 ||
		    get_int64(cpu, "linux.resources.cpu.", "period", &period, err) < 0)
			return -1;
		s->cpu_quota = MAX(s->cpu_quota, 0);
		s->cpu_period = (uint64_t)MAX(period, 0);
		if (get_string(cpu, "linux.resources.cpu.", "cpus", &cpus, err) < 0)
			return -1;
		if (cpus && *cpus && count_cpuset(cpus, &s->cpuset_count) < 0)
			return rt_make_error(err, 0, "config.json: `linux.resources.cpu.cpus` is not a CPU list: `%s`",
					     cpus);
	}
	if (parse_dev_rules(res, s, err) < 0)
		return -1;
	return rt_resources_parse(res, "config.json: `linux.resources", &s->resources, err);
}

/* The types of what the seccomp compiler (runtime/seccomp.c) reads, checked here so that a
 * mistyped profile is one error line at parse time, never a GLib critical in the monitor. */
static int check_seccomp(JsonObject *sc, struct rt_error **err)
{
	g_autofree char *action = NULL;
	g_auto(GStrv) arches = NULL;
	guint32 errno_ret;
	JsonArray *a;
	JsonNode *n;

	if (get_string(sc, "linux.seccomp.", "defaultAction", &action, err) < 0 ||
	    get_uint32(sc, "linux.seccomp.", "defaultErrnoRet", &errno_ret, err) < 0 ||
	    get_strv(sc, "linux.seccomp.", "architectures", &arches, err) < 0 ||
	    get_member(sc, "linux.seccomp.", "syscalls", JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	a = n ? json_node_get_array(n) : NULL;
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonNode *e = json_array_get_element(a, i);
		g_autofree char *prefix = g_strdup_printf("linux.seccomp.syscalls[%u].", i);
		g_autofree char *rule_action = NULL;
		g_auto(GStrv) names = NULL;
		JsonArray *args;
		JsonObject *rule;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return rt_make_error(err, 0, "config.json: `linux.seccomp.syscalls[%u]` must be an object", i);
		rule = json_node_get_object(e);
		if (get_strv(rule, prefix, "names", &names, err) < 0 ||
		    get_string(rule, prefix, "action", &rule_action, err) < 0 ||
		    get_uint32(rule, prefix, "errnoRet", &errno_ret, err) < 0 ||
		    get_member(rule, prefix, "args", JSON_NODE_ARRAY, &n, err) < 0)
			return -1;
		if (!names)
			return rt_make_error(err, 0, "config.json: `%snames` is missing", prefix);
		args = n ? json_node_get_array(n) : NULL;
		for (guint k = 0; args && k < json_array_get_length(args); k++) {
			JsonNode *arg = json_array_get_element(args, k);
			g_autofree char *aprefix = g_strdup_printf("%sargs[%u].", prefix, k);
			g_autofree char *op = NULL;
			guint32 index;
			int64_t value;

			if (!JSON_NODE_HOLDS_OBJECT(arg))
				return rt_make_error(err, 0, "config.json: `%sargs[%u]` must be an object", prefix, k);
			if (get_uint32(json_node_get_object(arg), aprefix, "index", &index, err) < 0 ||
			    get_int64(json_node_get_object(arg), aprefix, "value", &value, err) < 0 ||
			    get_int64(json_node_get_object(arg), aprefix, "valueTwo", &value, err) < 0 ||
			    get_string(json_node_get_object(arg), aprefix, "op", &op, err) < 0)
				return -1;
		}
	}
	return 0;
}

static const struct {
	const char *name, *proc;
	int flag;
} ns_types[_RT_NS_MAX] = {
	[RT_NS_USER] = { "user", "user", CLONE_NEWUSER },
	[RT_NS_IPC] = { "ipc", "ipc", CLONE_NEWIPC },
	[RT_NS_UTS] = { "uts", "uts", CLONE_NEWUTS },
	[RT_NS_NET] = { "network", "net", CLONE_NEWNET },
	[RT_NS_PID] = { "pid", "pid", CLONE_NEWPID },
	[RT_NS_MOUNT] = { "mount", "mnt", CLONE_NEWNS },
	[RT_NS_CGROUP] = { "cgroup", "cgroup", CLONE_NEWCGROUP },
	[RT_NS_TIME] = { "time", "time", CLONE_NEWTIME },
};

const char *rt_ns_type_name(enum rt_ns_type type)
{
	return type < _RT_NS_MAX ? ns_types[type].name : "?";
}

const char *rt_ns_proc_name(enum rt_ns_type type)
{
	return type < _RT_NS_MAX ? ns_types[type].proc : "?";
}

int rt_ns_clone_flag(enum rt_ns_type type)
{
	return type < _RT_NS_MAX ? ns_types[type].flag : 0;
}

/* linux.namespaces: each type at most once, only types runc knows, and time (runc 1.2's,
 * Docker's default since 2026). What the host does with them is runtime/container.c's. */
static int parse_namespaces(JsonObject *linux_, struct rt_spec *s, struct rt_error **err)
{
	JsonNode *n;
	JsonArray *a;

	if (get_member(linux_, "linux.", "namespaces", JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	a = json_node_get_array(n);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *e = json_array_get_element(a, i);
		g_autofree char *type = NULL, *path = NULL;
		g_autofree char *prefix = g_strdup_printf("linux.namespaces[%u].", i);
		struct rt_namespace *ns = NULL;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return rt_make_error(err, 0, "config.json: `linux.namespaces[%u]` must be an object", i);
		if (get_string(json_node_get_object(e), prefix, "type", &type, err) < 0 ||
		    get_string(json_node_get_object(e), prefix, "path", &path, err) < 0)
			return -1;
		for (int t = 0; t < _RT_NS_MAX && type; t++)
			if (strcmp(type, ns_types[t].name) == 0)
				ns = &s->namespaces[t];
		/* runc: `namespace {"foo" ""} does not exist`, `duplicated ns {"ipc" ""}`. */
		if (!ns)
			return rt_make_error(err, 0, "config.json: `%stype`: namespace `%s` does not exist", prefix,
					     type ? type : "");
		if (ns->listed)
			return rt_make_error(err, 0, "config.json: `%stype`: duplicated namespace `%s`", prefix, type);
		ns->listed = true;
		if (path && *path)
			ns->path = g_steal_pointer(&path);
	}
	s->netns = s->namespaces[RT_NS_NET].listed;
	s->netns_path = g_strdup(s->namespaces[RT_NS_NET].path);
	return 0;
}

static int parse_guest(JsonObject *linux_, struct rt_spec *s, struct rt_error **err);

static int parse_linux(JsonObject *root, struct rt_spec *s, struct rt_error **err)
{
	JsonObject *linux_;
	JsonNode *n;

	if (get_member(root, "", "linux", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	linux_ = json_node_get_object(n);
	if (parse_resources(linux_, s, err) < 0 ||
	    get_string(linux_, "linux.", "cgroupsPath", &s->cgroups_path, err) < 0 ||
	    get_strv(linux_, "linux.", "maskedPaths", &s->masked_paths, err) < 0 ||
	    get_strv(linux_, "linux.", "readonlyPaths", &s->readonly_paths, err) < 0 ||
	    get_member(linux_, "linux.", "seccomp", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (n && check_seccomp(json_node_get_object(n), err) < 0)
		return -1;
	if (n)
		s->seccomp_json = json_to_string(n, FALSE);
	if (get_member(linux_, "linux.", "sysctl", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (n) {
		g_autoptr(GPtrArray) kv = g_ptr_array_new_with_free_func(g_free);
		JsonObjectIter it;
		const char *key;
		JsonNode *val;

		json_object_iter_init(&it, json_node_get_object(n));
		while (json_object_iter_next(&it, &key, &val)) {
			if (!JSON_NODE_HOLDS_VALUE(val) || json_node_get_value_type(val) != G_TYPE_STRING)
				return rt_make_error(err, 0, "config.json: `linux.sysctl.%s` must be a string", key);
			g_ptr_array_add(kv, g_strdup_printf("%s=%s", key, json_node_get_string(val)));
		}
		g_ptr_array_add(kv, NULL);
		s->sysctl = (char **)g_ptr_array_free(g_steal_pointer(&kv), FALSE);
	}
	/* After the namespaces: the guest's part reads the user namespace they found. */
	return parse_namespaces(linux_, s, err) < 0 ? -1 : parse_guest(linux_, s, err);
}

/* linux.uidMappings or gidMappings (@name) into @ret. */
static int parse_id_mappings(JsonObject *linux_, const char *name, struct rt_id_mapping **ret, size_t *ret_n,
			     struct rt_error **err)
{
	JsonArray *a;
	JsonNode *n;
	guint len;

	if (get_member(linux_, "linux.", name, JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	a = json_node_get_array(n);
	len = json_array_get_length(a);
	/* The most lines the kernel takes in a map (UID_GID_MAP_MAX_EXTENTS). */
	if (len > 340)
		return rt_make_error(err, 0, "config.json: `linux.%s` has %u entries, more than the kernel's 340", name,
				     len);
	*ret = g_new0(struct rt_id_mapping, len);
	*ret_n = len;
	for (guint i = 0; i < len; i++) {
		JsonNode *e = json_array_get_element(a, i);
		g_autofree char *prefix = g_strdup_printf("linux.%s[%u].", name, i);
		struct rt_id_mapping *m = &(*ret)[i];

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return rt_make_error(err, 0, "config.json: `linux.%s[%u]` must be an object", name, i);
		if (get_uint32(json_node_get_object(e), prefix, "containerID", &m->container_id, err) < 0 ||
		    get_uint32(json_node_get_object(e), prefix, "hostID", &m->host_id, err) < 0 ||
		    get_uint32(json_node_get_object(e), prefix, "size", &m->size, err) < 0)
			return -1;
		if (!m->size || (uint64_t)m->container_id + m->size > G_MAXUINT32 ||
		    (uint64_t)m->host_id + m->size > G_MAXUINT32)
			return rt_make_error(
				err, 0, "config.json: `linux.%s[%u]`: an empty range, or one past 4294967294", name, i);
	}
	return 0;
}

/* linux.devices: runc's rules (a type of c, b, u or p, an absolute path, numbers but for p). */
static int parse_devices(JsonObject *linux_, struct rt_spec *s, struct rt_error **err)
{
	JsonArray *a;
	JsonNode *n;

	if (get_member(linux_, "linux.", "devices", JSON_NODE_ARRAY, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	a = json_node_get_array(n);
	s->devices = g_new0(struct rt_device, json_array_get_length(a));
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *e = json_array_get_element(a, i);
		g_autofree char *prefix = g_strdup_printf("linux.devices[%u].", i);
		g_autofree char *type = NULL;
		struct rt_device *d = &s->devices[s->n_devices];
		JsonObject *o;
		int64_t major = -1, minor = -1;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return rt_make_error(err, 0, "config.json: `linux.devices[%u]` must be an object", i);
		o = json_node_get_object(e);
		d->mode = 0666;
		if (get_string(o, prefix, "path", &d->path, err) < 0)
			return -1;
		s->n_devices++; /* d->path is freed with the spec from here on */
		if (get_string(o, prefix, "type", &type, err) < 0 || get_int64(o, prefix, "major", &major, err) < 0 ||
		    get_int64(o, prefix, "minor", &minor, err) < 0 ||
		    get_uint32(o, prefix, "fileMode", &d->mode, err) < 0 ||
		    get_uint32(o, prefix, "uid", &d->uid, err) < 0 || get_uint32(o, prefix, "gid", &d->gid, err) < 0)
			return -1;
		if (!d->path || d->path[0] != '/' || strlen(d->path) >= PATH_MAX)
			return rt_make_error(err, 0, "config.json: `linux.devices[%u].path` must be an absolute path",
					     i);
		if (!type || strlen(type) != 1 || !strchr("cbup", type[0]))
			return rt_make_error(err, 0, "config.json: `linux.devices[%u].type` must be c, b, u or p", i);
		d->type = type[0];
		d->mode &= 07777;
		if (d->type == 'p')
			continue;
		/* What a dev_t of the guest's holds: 12 bits of major, 20 of minor. */
		if (major < 0 || major > 0xfff || minor < 0 || minor > 0xfffff)
			return rt_make_error(
				err, 0,
				"config.json: `linux.devices[%u]` (%s) needs a major in 0..4095 and a minor in "
				"0..1048575",
				i, d->path);
		d->major = (uint32_t)major;
		d->minor = (uint32_t)minor;
	}
	return 0;
}

/*
 * What the guest applies inside the container: linux.devices, the user namespace with its
 * maps, linux.rootfsPropagation. Refused as runc refuses them: maps without a user namespace,
 * a user namespace without maps, an unknown propagation; a user namespace to join by path,
 * which has no meaning in the guest, is refused too.
 */
static int parse_guest(JsonObject *linux_, struct rt_spec *s, struct rt_error **err)
{
	static const char *const props[] = { "shared",  "rshared",  "slave",      "rslave",
					     "private", "rprivate", "unbindable", "runbindable" };

	if (parse_devices(linux_, s, err) < 0 ||
	    parse_id_mappings(linux_, "uidMappings", &s->uid_mappings, &s->n_uid_mappings, err) < 0 ||
	    parse_id_mappings(linux_, "gidMappings", &s->gid_mappings, &s->n_gid_mappings, err) < 0 ||
	    get_string(linux_, "linux.", "rootfsPropagation", &s->rootfs_propagation, err) < 0)
		return -1;
	if (s->rootfs_propagation && *s->rootfs_propagation) {
		size_t i;

		for (i = 0; i < G_N_ELEMENTS(props) && strcmp(props[i], s->rootfs_propagation); i++)
			;
		if (i == G_N_ELEMENTS(props))
			return rt_make_error(err, 0, "config.json: rootfsPropagation=%s is not supported",
					     s->rootfs_propagation);
	} else {
		g_clear_pointer(&s->rootfs_propagation, g_free);
	}
	/* linux.namespaces is parse_namespaces()'s: a user namespace is the guest's to make. */
	if (s->namespaces[RT_NS_USER].path)
		return rt_make_error(err, 0,
				     "config.json: user namespace `%s`: runvm cannot join a user namespace by path "
				     "(the container's lives in its VM)",
				     s->namespaces[RT_NS_USER].path);
	s->userns = s->namespaces[RT_NS_USER].listed;
	if (!s->userns && (s->n_uid_mappings || s->n_gid_mappings))
		return rt_make_error(err, 0,
				     "config.json: user namespaces not enabled in config (uidMappings or gidMappings "
				     "without a user namespace)");
	if (s->userns && !s->n_uid_mappings)
		return rt_make_error(err, 0, "config.json: user namespaces enabled, but no uid mappings found");
	if (s->userns && !s->n_gid_mappings)
		return rt_make_error(err, 0, "config.json: user namespaces enabled, but no gid mappings found");
	return 0;
}

/* Annotations are free-form strings (runtime-spec: values MUST be strings, as runc's Go map
 * enforces); runvm reads its own. */
static int parse_annotations(JsonObject *obj, struct rt_spec *s, struct rt_error **err)
{
	JsonObjectIter it;
	const char *key;
	JsonNode *n, *val;

	if (get_member(obj, "", "annotations", JSON_NODE_OBJECT, &n, err) < 0)
		return -1;
	if (!n)
		return 0;
	json_object_iter_init(&it, json_node_get_object(n));
	while (json_object_iter_next(&it, &key, &val))
		if (!JSON_NODE_HOLDS_VALUE(val) || json_node_get_value_type(val) != G_TYPE_STRING)
			return rt_make_error(err, 0, "config.json: `annotations.%s` must be a string", key);
	/* All of them for the hooks' state (runtime/hooks.c), which leaves an empty set out. */
	if (json_object_get_size(json_node_get_object(n)) > 0)
		s->annotations_json = json_to_string(n, FALSE);
	if (get_string(json_node_get_object(n), "annotations.", "io.runvm.backend", &s->backend, err) < 0)
		return -1;
	if (get_string(json_node_get_object(n), "annotations.", "io.runvm.confidential", &s->confidential, err) < 0)
		return -1;
	return get_string(json_node_get_object(n), "annotations.", "io.runvm.arch", &s->arch, err);
}

int rt_spec_parse(const char *json, size_t len, const char *bundle, struct rt_spec **ret, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) gerr = NULL;
	g_autoptr(rt_spec) s = g_new0(struct rt_spec, 1);
	JsonNode *root;
	JsonObject *obj;

	if (!json_parser_load_from_data(parser, json, (gssize)len, &gerr))
		return rt_make_error(err, 0, "config.json: invalid JSON: %s", gerr->message);
	if (check_numbers(json, len, "config.json", err) < 0)
		return -1;
	root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "config.json: the top level must be an object");
	obj = json_node_get_object(root);
	if (get_string(obj, "", "ociVersion", &s->oci_version, err) < 0)
		return -1;
	if (!s->oci_version)
		return rt_make_error(err, 0, "config.json: `ociVersion` is missing");
	if (get_string(obj, "", "hostname", &s->hostname, err) < 0 || parse_process(obj, &s->process, err) < 0 ||
	    parse_root(obj, bundle, s, err) < 0 || parse_hooks(obj, s, err) < 0 || parse_linux(obj, s, err) < 0 ||
	    parse_mounts(obj, s, err) < 0 || parse_annotations(obj, s, err) < 0)
		return -1;
	*ret = g_steal_pointer(&s);
	return 0;
}

int rt_spec_load(const char *bundle, struct rt_spec **ret, struct rt_error **err)
{
	g_autofree char *path = g_build_filename(bundle, "config.json", NULL);
	g_autofree char *data = NULL;
	g_autoptr(GError) gerr = NULL;
	gsize len;

	if (!g_file_get_contents(path, &data, &len, &gerr))
		return rt_make_error(err, gerr->domain == G_FILE_ERROR && gerr->code == G_FILE_ERROR_NOENT ? ENOENT : 0,
				     "cannot read `%s`%s%s", path, gerr->code == G_FILE_ERROR_NOENT ? "" : ": ",
				     gerr->code == G_FILE_ERROR_NOENT ? "" : gerr->message);
	return rt_spec_parse(data, len, bundle, ret, err);
}

char *rt_spec_default_json(void)
{
	/* The shape of `runc spec`, minus what the guest does not need yet; terminal is off
	 * because a foreground `runvm run` relays plain stdio. */
	return g_strdup("{\n"
			"\t\"ociVersion\": \"1.0.2\",\n"
			"\t\"process\": {\n"
			"\t\t\"terminal\": false,\n"
			"\t\t\"user\": { \"uid\": 0, \"gid\": 0 },\n"
			"\t\t\"args\": [ \"sh\" ],\n"
			"\t\t\"env\": [\n"
			"\t\t\t\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
			"\t\t\t\"TERM=xterm\"\n"
			"\t\t],\n"
			"\t\t\"cwd\": \"/\",\n"
			"\t\t\"noNewPrivileges\": true\n"
			"\t},\n"
			"\t\"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
			"\t\"hostname\": \"runvm\",\n"
			"\t\"mounts\": [\n"
			"\t\t{ \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
			"\t\t{ \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
			"\t\t  \"options\": [ \"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\" ] }\n"
			"\t],\n"
			"\t\"linux\": {\n"
			"\t\t\"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"ipc\" }, { \"type\": \"uts\" },\n"
			"\t\t\t\t{ \"type\": \"mount\" }, { \"type\": \"network\" } ]\n"
			"\t}\n"
			"}\n");
}
