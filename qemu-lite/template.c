/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VM templates for the qemu backend (template.h tells what they are and where they live). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "protocol/agent-proto.h"
#include "qemu-lite/template.h"

/* meta.json's "format": a new one makes older templates unreadable, so they are made again. */
#define TEMPLATE_FORMAT 1
#define META_MAX (64 * 1024)
/* What the state may hold beyond the guest's RAM (device state, the stream's framing). */
#define STATE_SLACK (64ull << 20)
#define HELLO_MAX 4096

/* Where a template boot's shares point: never written (the guest mounts nothing yet). */
#define EMPTY_DIR "empty"

static char *final_dir(const struct hv_vm_config *cfg, const char *key)
{
	return g_strdup_printf("%s/qemu-%s", cfg->template_dir, key);
}

/* "dev ino size mtime ctime" of @path: any rebuild or replacement changes it. */
static void add_identity(GChecksum *sum, const char *path)
{
	struct stat st;
	char line[160];

	if (!path || stat(path, &st) < 0) {
		g_checksum_update(sum, (const guchar *)"-\n", 2);
		return;
	}
	snprintf(line, sizeof(line), "%llu %llu %lld %lld.%09ld %lld.%09ld\n", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		 (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	g_checksum_update(sum, (const guchar *)line, (gssize)strlen(line));
}

/*
 * The VM a template boots: @cfg's shape with nothing of the container's. Its shares point at
 * @empty (read-only: the template's guest mounts nothing), its NICs at no host backend, its
 * console at @console, its agent channel at @agent_fd. @shares and @nics have cfg->n_shares
 * and cfg->n_nics slots.
 */
static struct hv_vm_config template_config(const struct hv_vm_config *cfg, const char *empty, const char *console,
					   int agent_fd, struct hv_share *shares, struct hv_nic *nics)
{
	struct hv_vm_config t = *cfg;

	for (size_t i = 0; i < cfg->n_shares; i++)
		shares[i] = (struct hv_share){ .tag = cfg->shares[i].tag, .host_path = empty, .readonly = true };
	for (size_t i = 0; i < cfg->n_nics; i++)
		nics[i] = (struct hv_nic){ .tap_fd = -1 };
	t.shares = shares;
	t.nics = nics;
	t.console_log = console;
	t.agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_FD, .fd = agent_fd };
	t.vmm_shared_namespaces = 0;
	t.template_dir = NULL;
	return t;
}

/* The identity of the files a template's guest is made of: @binary, the kernel, the initrd.
 * A template whose meta.json names the same paths with another identity is stale. */
static char *inputs_identity(const char *binary, const struct hv_vm_config *cfg)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	add_identity(sum, binary);
	add_identity(sum, cfg->kernel);
	add_identity(sum, cfg->initrd);
	return g_strdup(g_checksum_get_string(sum));
}

char *qemu_template_key(const struct qemu_settings *s, const struct hv_vm_config *cfg, const char **ret_why)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree struct hv_share *shares = g_new0(struct hv_share, cfg->n_shares + 1);
	g_autofree struct hv_nic *nics = g_new0(struct hv_nic, cfg->n_nics + 1);
	struct qemu_argv_opts o = { .agent_fd = 3, .qmp_fd = 4, .tap_fd = 5, .incoming_fd = -1, .template_boot = true };
	struct hv_vm_config t;
	g_auto(GStrv) argv = NULL;
	g_autofree char *binary = NULL, *inputs = NULL;
	char hdr[64];

	/* A disk's contents are the guest's (its kernel read the partition table at boot): a
	 * clone would see the template's disk, not its own. */
	if (cfg->n_disks) {
		*ret_why = "the VM has disks";
		return NULL;
	}
	if (cfg->confidential != HV_CONFIDENTIAL_NONE || cfg->firmware) {
		*ret_why = "confidential and firmware-booted guests never use templates";
		return NULL;
	}
	/* Placeholder paths: the key is the shape, not where this machine keeps things. */
	t = template_config(cfg, "/T/" EMPTY_DIR, "/T/console", -1, shares, nics);
	argv = qemu_lite_build_argv_opts(s, &t, &o);
	snprintf(hdr, sizeof(hdr), "runvm-template %d %d\n", TEMPLATE_FORMAT, RV_PROTO_VERSION);
	g_checksum_update(sum, (const guchar *)hdr, (gssize)strlen(hdr));
	for (char **a = argv; *a; a++)
		g_checksum_update(sum, (const guchar *)*a, (gssize)strlen(*a) + 1);
	binary = g_find_program_in_path(argv[0]);
	inputs = inputs_identity(binary, cfg);
	g_checksum_update(sum, (const guchar *)inputs, (gssize)strlen(inputs));
	return g_strndup(g_checksum_get_string(sum), 32);
}

/* Remove @dir and the plain files in it (a template holds nothing else). */
static void remove_dir(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(dir, name, NULL);

		if (unlink(path) < 0)
			rt_debug("template: remove `%s`: %s", path, strerror(errno));
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		rt_debug("template: remove `%s`: %s", dir, strerror(errno));
}

static char *sha256_hex(const void *data, size_t len)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

/* A template's state, mapped (unmap with munmap), and the SHA-256 meta.json gives it. */
struct state_map {
	void *data;
	size_t len;
	char sha256[65];
};

/* @dir's meta.json, parsed into @parser: NULL, or why it cannot be. */
static const char *read_meta(const char *dir, JsonParser *parser, JsonObject **ret)
{
	g_autofree char *path = g_build_filename(dir, "meta.json", NULL);
	g_autofree char *meta = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	JsonNode *root;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > META_MAX)
		return "meta.json is missing or not a small file";
	meta = g_malloc0((size_t)st.st_size + 1);
	if (read(fd, meta, (size_t)st.st_size) != st.st_size)
		return "meta.json cannot be read";
	if (!json_parser_load_from_data(parser, meta, (gssize)st.st_size, NULL) ||
	    !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root))
		return "meta.json is not a JSON object";
	*ret = json_node_get_object(root);
	return NULL;
}

/* Why @dir's template is unsound, or NULL with @ret mapped when its meta.json and state agree
 * (the state's SHA-256 is checked as it is fed to QEMU: see feed()). */
static char *verify(const struct hv_vm_config *cfg, const char *dir, const char *key, struct state_map *ret)
{
	g_autofree char *state_path = g_build_filename(dir, "state", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	const char *sha, *why;
	_cleanup_close_ int fd = -EBADF;
	JsonObject *o = NULL;
	struct stat st;
	gint64 size;
	void *map;

	why = read_meta(dir, parser, &o);
	if (why)
		return g_strdup(why);
	if (json_object_get_int_member_with_default(o, "format", 0) != TEMPLATE_FORMAT ||
	    g_strcmp0(json_object_get_string_member_with_default(o, "key", ""), key) != 0)
		return g_strdup("meta.json is of another format or another key");
	size = json_object_get_int_member_with_default(o, "state_size", 0);
	if (size <= 0 || (guint64)size > ((guint64)cfg->memory_mib << 20) + STATE_SLACK)
		return g_strdup("meta.json gives an impossible state size");

	fd = open(state_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return g_strdup("the state file is missing");
	if (st.st_size != size)
		return g_strdup_printf("the state file has %lld bytes, meta.json says %lld", (long long)st.st_size,
				       (long long)size);
	sha = json_object_get_string_member_with_default(o, "state_sha256", "");
	if (strlen(sha) != 64)
		return g_strdup("meta.json gives no SHA-256");
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return g_strdup_printf("map the state: %s", strerror(errno));
	*ret = (struct state_map){ .data = map, .len = (size_t)size };
	memcpy(ret->sha256, sha, 65);
	return NULL;
}

static void discard(const struct hv_vm_config *cfg, const char *key, const char *why)
{
	g_autofree char *dir = final_dir(cfg, key);

	rt_warn("template %s is unsound (%s): discarded, a new one is made", key, why);
	remove_dir(dir);
}

/* 1 with @ret mapped when @key's template is there and sound; 0 when there is none, or there
 * was an unsound one, which is removed. */
static int open_template(const struct hv_vm_config *cfg, const char *key, struct state_map *ret)
{
	g_autofree char *dir = final_dir(cfg, key);
	g_autofree char *why = NULL;

	if (access(dir, F_OK) < 0)
		return 0;
	why = verify(cfg, dir, key, ret);
	if (!why)
		return 1;
	discard(cfg, key, why);
	return 0;
}

/* Wait for the template's agent to say HELLO on @fd, and for nothing else. */
static int wait_hello(const struct hv_vm_config *cfg, struct hv_vm *vm, int fd, long long deadline,
		      struct rt_error **err)
{
	uint8_t buf[HELLO_MAX];
	size_t len = 0;

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = hv_qemu_lite_ops.exit_fd(vm), .events = POLLIN } };
		long long left = deadline - rv_now_ms();
		struct rv_frame f;
		size_t used;
		ssize_t n;
		int r;

		r = rv_frame_parse(buf, len, &f, &used);
		if (r < 0)
			return rt_make_error(err, 0, "the template's agent sent a malformed frame");
		if (r > 0 && (f.type != RV_MSG_HELLO || f.proc != 0))
			return rt_make_error(err, 0, "the template's agent sent %s before HELLO",
					     rv_msg_type_name(f.type));
		if (r > 0)
			return 0;
		if (left <= 0)
			return rt_make_error(err, ETIMEDOUT, "the template's agent did not start within %u s",
					     cfg->template_timeout_ms / 1000);
		r = poll(p, 2, (int)MIN(left, 1000));
		if (r < 0 && errno != EINTR)
			return rt_make_error(err, errno, "poll");
		if (p[1].revents)
			return rt_make_error(err, ECHILD, "the template's QEMU ended before its agent started");
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		if (len == sizeof(buf))
			return rt_make_error(err, 0, "the template's agent sent more than a HELLO");
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return rt_make_error(err, n < 0 ? errno : EPIPE, "the template's agent channel closed");
		len += (size_t)n;
	}
}

/* Save @vm's state into @state_fd with QEMU's migration; returns once it has completed. */
static int save(struct hv_vm *vm, int state_fd, long long deadline, struct rt_error **err)
{
	/* While the guest runs: it is idle in the agent's poll, so the first pass leaves almost
	 * nothing dirty, and the state says "running", so a clone runs as soon as it is loaded. */
	if (qemu_lite_qmp(vm, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"template\"}}", state_fd, NULL, err) <
		    0 ||
	    qemu_lite_qmp(vm, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:template\"}}", -1, NULL, err) < 0)
		return -1;
	for (;;) {
		g_autoptr(JsonNode) ret = NULL;
		JsonObject *o;
		const char *status;

		if (qemu_lite_qmp(vm, "{\"execute\":\"query-migrate\"}", -1, &ret, err) < 0)
			return -1;
		o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
		status = o ? json_object_get_string_member_with_default(o, "status", "") : "";
		if (strcmp(status, "completed") == 0)
			return 0;
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)
			return rt_make_error(err, EIO, "saving the template failed: %s",
					     o ? json_object_get_string_member_with_default(o, "error-desc", status)
					       : status);
		if (rv_now_ms() >= deadline)
			return rt_make_error(err, ETIMEDOUT, "saving the template did not complete in time");
		g_usleep(5000);
	}
}

static int write_meta(const struct hv_vm_config *cfg, const char *path, const char *key, const char *binary,
		      const struct state_map *st, struct rt_error **err)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *sha = sha256_hex(st->data, st->len);
	g_autofree char *inputs = inputs_identity(binary, cfg);
	g_autofree char *text = NULL;
	g_autoptr(GError) gerr = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "format");
	json_builder_add_int_value(b, TEMPLATE_FORMAT);
	json_builder_set_member_name(b, "key");
	json_builder_add_string_value(b, key);
	json_builder_set_member_name(b, "backend");
	json_builder_add_string_value(b, "qemu");
	json_builder_set_member_name(b, "arch");
	json_builder_add_string_value(b, rv_arch_name(cfg->arch));
	json_builder_set_member_name(b, "accel");
	json_builder_add_string_value(b, hv_accel_name(cfg->accel));
	json_builder_set_member_name(b, "vcpus");
	json_builder_add_int_value(b, cfg->vcpus);
	json_builder_set_member_name(b, "memory_mib");
	json_builder_add_int_value(b, cfg->memory_mib);
	json_builder_set_member_name(b, "shares");
	json_builder_add_int_value(b, (gint64)cfg->n_shares);
	json_builder_set_member_name(b, "nics");
	json_builder_add_int_value(b, (gint64)cfg->n_nics);
	json_builder_set_member_name(b, "kernel");
	json_builder_add_string_value(b, cfg->kernel);
	json_builder_set_member_name(b, "initrd");
	json_builder_add_string_value(b, cfg->initrd);
	json_builder_set_member_name(b, "hypervisor");
	json_builder_add_string_value(b, binary ? binary : "?");
	json_builder_set_member_name(b, "inputs");
	json_builder_add_string_value(b, inputs);
	json_builder_set_member_name(b, "created");
	json_builder_add_int_value(b, (gint64)time(NULL));
	json_builder_set_member_name(b, "state_size");
	json_builder_add_int_value(b, (gint64)st->len);
	json_builder_set_member_name(b, "state_sha256");
	json_builder_add_string_value(b, sha);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &gerr))
		return rt_make_error(err, 0, "%s", gerr->message);
	return 0;
}

/* Hold @key's lock (the fd), waiting for another maker at most until @deadline. */
static int lock_key(const struct hv_vm_config *cfg, const char *key, long long deadline, struct rt_error **err)
{
	g_autofree char *path = g_strdup_printf("%s/qemu-%s.lock", cfg->template_dir, key);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return rt_make_error(err, errno, "open `%s`", path);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || rv_now_ms() >= deadline) {
			int e = errno == EWOULDBLOCK ? ETIMEDOUT : errno;

			close(fd);
			return rt_make_error(err, e, "another runvm is still making template %s", key);
		}
		g_usleep(20000);
	}
	return fd;
}

/* Boot @cfg's template in @build and save it there. */
static int boot_and_save(const struct qemu_settings *s, const struct hv_vm_config *cfg, const char *build,
			 const char *key, long long deadline, struct rt_error **err)
{
	g_autofree char *empty = g_build_filename(cfg->template_dir, EMPTY_DIR, NULL);
	g_autofree char *console = g_build_filename(build, "console.log", NULL);
	g_autofree char *state_path = g_build_filename(build, "state", NULL);
	g_autofree char *meta_path = g_build_filename(build, "meta.json", NULL);
	g_autofree struct hv_share *shares = g_new0(struct hv_share, cfg->n_shares + 1);
	g_autofree struct hv_nic *nics = g_new0(struct hv_nic, cfg->n_nics + 1);
	g_autofree char *binary = g_find_program_in_path(qemu_lite_binary(s, cfg->arch, cfg->accel));
	struct qemu_spawn_opts so = { .template_boot = true, .incoming_fd = -1 };
	_cleanup_close_ int state_fd = -EBADF;
	struct state_map st = { 0 };
	struct hv_vm_config t;
	struct hv_vm *vm = NULL;
	struct stat sb;
	int sp[2], r;

	if ((mkdir(empty, 0755) < 0 && errno != EEXIST) || lstat(empty, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return rt_make_error(err, errno ? errno : ENOTDIR, "`%s` is not a directory", empty);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return rt_make_error(err, errno, "socketpair");
	t = template_config(cfg, empty, console, sp[1], shares, nics);
	r = qemu_lite_spawn(s, &t, &so, &vm, err);
	close(sp[1]);
	if (r == 0)
		r = wait_hello(cfg, vm, sp[0], deadline, err);
	if (r == 0) {
		state_fd = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (state_fd < 0)
			r = rt_make_error(err, errno, "create `%s`", state_path);
	}
	if (r == 0)
		r = save(vm, state_fd, deadline, err);
	hv_qemu_lite_ops.destroy(vm);
	close(sp[0]);
	if (r < 0)
		return -1;
	if (fsync(state_fd) < 0 || fstat(state_fd, &sb) < 0 || sb.st_size == 0)
		return rt_make_error(err, errno ? errno : EIO, "the template's state is empty or unwritten");
	close(state_fd);
	state_fd = open(state_path, O_RDONLY | O_CLOEXEC);
	if (state_fd < 0)
		return rt_make_error(err, errno, "open `%s`", state_path);
	st.len = (size_t)sb.st_size;
	st.data = mmap(NULL, st.len, PROT_READ, MAP_PRIVATE, state_fd, 0);
	if (st.data == MAP_FAILED)
		return rt_make_error(err, errno, "map `%s`", state_path);
	r = write_meta(cfg, meta_path, key, binary, &st, err);
	munmap(st.data, st.len);
	return r;
}

/*
 * Remove the templates that a new one of @key replaces: those made from the same kernel,
 * initrd and QEMU paths whose files have changed since (a rebuilt kernel, an upgraded QEMU).
 * Their keys are never asked for again; without this they would fill the directory. One
 * whose lock another runvm holds is left for the next sweep.
 */
static void discard_stale(const struct qemu_settings *s, const struct hv_vm_config *cfg, const char *key)
{
	g_autofree char *binary = g_find_program_in_path(qemu_lite_binary(s, cfg->arch, cfg->accel));
	g_autofree char *inputs = inputs_identity(binary, cfg);
	g_autoptr(GDir) d = g_dir_open(cfg->template_dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *dir = g_build_filename(cfg->template_dir, name, NULL);
		g_autofree char *lock_path = g_strdup_printf("%s.lock", dir);
		g_autoptr(JsonParser) parser = json_parser_new();
		_cleanup_close_ int lock = -EBADF;
		JsonObject *o = NULL;

		if (!g_str_has_prefix(name, "qemu-") || strchr(name, '.') || strcmp(name + 5, key) == 0 ||
		    read_meta(dir, parser, &o) ||
		    g_strcmp0(json_object_get_string_member_with_default(o, "kernel", ""), cfg->kernel) ||
		    g_strcmp0(json_object_get_string_member_with_default(o, "initrd", ""), cfg->initrd) ||
		    g_strcmp0(json_object_get_string_member_with_default(o, "hypervisor", ""), binary) ||
		    !g_strcmp0(json_object_get_string_member_with_default(o, "inputs", ""), inputs))
			continue;
		lock = open(lock_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0)
			continue;
		rt_debug("template %s: stale (its kernel, initrd or QEMU changed since), removed", name + 5);
		remove_dir(dir);
		unlink(lock_path);
	}
}

int qemu_template_make(const struct qemu_settings *s, const struct hv_vm_config *cfg, struct rt_error **err)
{
	long long start = rv_now_ms(), deadline = start + cfg->template_timeout_ms;
	g_autofree char *key = NULL, *dir = NULL, *build = NULL;
	_cleanup_close_ int lock = -EBADF;
	struct state_map st;
	const char *why;

	key = qemu_template_key(s, cfg, &why);
	if (!key)
		return rt_make_error(err, EOPNOTSUPP, "no template: %s", why);
	if (g_mkdir_with_parents(cfg->template_dir, 0700) < 0)
		return rt_make_error(err, errno, "create `%s`", cfg->template_dir);
	lock = lock_key(cfg, key, deadline, err);
	if (lock < 0)
		return -1;
	/* Made by another runvm while this one waited for the lock? */
	if (open_template(cfg, key, &st) > 0) {
		munmap(st.data, st.len);
		return 0;
	}
	dir = final_dir(cfg, key);
	build = g_strdup_printf("%s/.qemu-%s.build", cfg->template_dir, key);
	/* The lock is held: what is there is a dead maker's. */
	remove_dir(build);
	if (mkdir(build, 0700) < 0)
		return rt_make_error(err, errno, "create `%s`", build);
	if (boot_and_save(s, cfg, build, key, deadline, err) < 0) {
		remove_dir(build);
		return -1;
	}
	if (rename(build, dir) < 0) {
		rt_make_error(err, errno, "rename `%s`", build);
		remove_dir(build);
		return -1;
	}
	rt_debug("template %s made in %lld ms", key, rv_now_ms() - start);
	discard_stale(s, cfg, key);
	return 1;
}

/* The feeder's exit status when the state is not what meta.json says. */
#define FEED_CORRUPT 2
/* What the feeder holds back until the state's SHA-256 is known good: without the stream's
 * end, QEMU never runs what it loaded. */
#define FEED_TAIL 4096

static bool write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Write @st into @fd from a child process of the monitor's, so that QEMU reads the template
 * from a pipe and never holds its file. The state is hashed as it goes, and its last bytes are
 * written only once the hash is the one meta.json gives: the check costs no time of its own,
 * and a corrupt state is never run. Exits 0, FEED_CORRUPT, or 1 when QEMU stopped reading.
 */
static pid_t start_feeder(const struct state_map *st, int fd)
{
	enum { CHUNK = 1 << 20 };
	const uint8_t *data = st->data;
	size_t body = st->len > FEED_TAIL ? st->len - FEED_TAIL : 0;
	GChecksum *sum;
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	syscall(SYS_close_range, 0, fd - 1, 0);
	syscall(SYS_close_range, fd + 1, ~0U, 0);
	sum = g_checksum_new(G_CHECKSUM_SHA256);
	for (size_t off = 0; off < body; off += CHUNK) {
		size_t n = MIN((size_t)CHUNK, body - off);

		g_checksum_update(sum, data + off, (gssize)n);
		if (!write_all(fd, data + off, n))
			_exit(1);
	}
	g_checksum_update(sum, data + body, (gssize)(st->len - body));
	if (strcmp(g_checksum_get_string(sum), st->sha256) != 0)
		_exit(FEED_CORRUPT);
	_exit(write_all(fd, data + body, st->len - body) ? 0 : 1);
}

/* Restore @cfg's VM from @st: 1 restored, 0 corrupt (discarded, nothing left running). */
static int feed(const struct qemu_settings *s, const struct hv_vm_config *cfg, const char *key,
		const struct state_map *st, struct hv_vm **ret_vm, struct rt_error **err)
{
	struct qemu_spawn_opts so = { .incoming_fd = -1 };
	_cleanup_close_ int feeder_fd = -EBADF;
	struct hv_vm *vm = NULL;
	int pipefd[2], status = -1, r;
	struct pollfd p;
	pid_t feeder;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return rt_make_error(err, errno, "pipe");
	feeder = start_feeder(st, pipefd[1]);
	close(pipefd[1]);
	if (feeder < 0) {
		close(pipefd[0]);
		return rt_make_error(err, errno, "fork");
	}
	so.incoming_fd = pipefd[0];
	r = qemu_lite_spawn(s, cfg, &so, &vm, err);
	/* Only QEMU reads the pipe now: a failed spawn leaves no reader, and the feeder ends. */
	close(pipefd[0]);
	feeder_fd = (int)syscall(SYS_pidfd_open, feeder, 0);
	p = (struct pollfd){ .fd = feeder_fd, .events = POLLIN };
	if (r == 0 && (feeder_fd < 0 || poll(&p, 1, (int)cfg->template_timeout_ms) != 1)) {
		kill(feeder, SIGKILL);
		r = rt_make_error(err, ETIMEDOUT, "QEMU did not load template %s in time", key);
	}
	while (waitpid(feeder, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == FEED_CORRUPT) {
		hv_qemu_lite_ops.destroy(vm);
		discard(cfg, key, "the state's SHA-256 is not the one meta.json gives");
		return 0;
	}
	if (r < 0) {
		hv_qemu_lite_ops.destroy(vm);
		return -1;
	}
	/* Anything else (QEMU refused the stream) shows as the VM's end, with QEMU's words in the
	 * console log. */
	*ret_vm = vm;
	return 1;
}

int qemu_template_restore(const struct qemu_settings *s, const struct hv_vm_config *cfg, struct hv_vm **ret_vm,
			  struct rt_error **err)
{
	struct rt_error *local = NULL;
	g_autofree char *key = NULL;
	struct state_map st;
	const char *why;
	int r = 0;

	key = qemu_template_key(s, cfg, &why);
	if (!key) {
		rt_debug("template: none for this VM (%s): booting cold", why);
		return 0;
	}
	/* A second try only where the first found the template corrupt. */
	for (int tries = 0; r == 0 && tries < 2; tries++) {
		if (open_template(cfg, key, &st) == 0) {
			if (qemu_template_make(s, cfg, &local) < 0) {
				rt_debug("template %s: cannot make it (%s): booting cold", key, local->msg);
				rt_error_free(&local);
				return 0;
			}
			if (open_template(cfg, key, &st) == 0)
				break;
		}
		r = feed(s, cfg, key, &st, ret_vm, err);
		munmap(st.data, st.len);
	}
	if (r > 0)
		rt_debug("template %s: restored", key);
	else if (r == 0)
		rt_debug("template %s: unusable: booting cold", key);
	return r;
}
