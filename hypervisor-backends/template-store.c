/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VM templates, the backends' common part (template-store.h tells what it keeps and where). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "hypervisor-backends/template-store.h"
#include "protocol/agent-proto.h"

/* meta.json's "format": a new one makes older templates unreadable, so they are made again. */
#define TEMPLATE_FORMAT 2
#define META_MAX (64 * 1024)
/* What the state may hold beyond the guest's RAM (device state, the stream's framing). */
#define STATE_SLACK (64ull << 20)
#define HELLO_MAX 4096

/* Where a template boot's shares point: never written (the guest mounts nothing yet). */
#define EMPTY_DIR "empty"

static char *final_dir(const struct hv_template_backend *b, const struct hv_vm_config *cfg, const char *key)
{
	return g_strdup_printf("%s/%s-%s", cfg->template_dir, b->name, key);
}

/* "dev ino size mtime ctime" of @st: any rebuild, replacement or write changes it. */
static char *identity_of(const struct stat *st)
{
	return g_strdup_printf("%llu %llu %lld %lld.%09ld %lld.%09ld", (unsigned long long)st->st_dev,
			       (unsigned long long)st->st_ino, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
			       st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

static void add_identity(GChecksum *sum, const char *path)
{
	g_autofree char *line = NULL;
	struct stat st;

	if (!path || stat(path, &st) < 0) {
		g_checksum_update(sum, (const guchar *)"-\n", 2);
		return;
	}
	line = identity_of(&st);
	g_checksum_update(sum, (const guchar *)line, (gssize)strlen(line));
	g_checksum_update(sum, (const guchar *)"\n", 1);
}

struct hv_vm_config hv_template_config(const struct hv_vm_config *cfg, const char *empty, const char *console,
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

/* The identity of the files a template's guest is made of: the hypervisor, the kernel, the
 * initrd. A template whose meta.json names the same paths with another identity is stale. */
static char *inputs_identity(const struct hv_template_shape *s, const struct hv_vm_config *cfg)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	add_identity(sum, s->hypervisor);
	add_identity(sum, cfg->kernel);
	add_identity(sum, cfg->initrd);
	return g_strdup(g_checksum_get_string(sum));
}

char *hv_template_key(const struct hv_template_backend *b, const struct hv_template_shape *s,
		      const struct hv_vm_config *cfg, const char **ret_why)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree char *inputs = NULL;
	char hdr[96];

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
	snprintf(hdr, sizeof(hdr), "runvm-template %s %d %d\n", b->name, TEMPLATE_FORMAT, RV_PROTO_VERSION);
	g_checksum_update(sum, (const guchar *)hdr, (gssize)strlen(hdr));
	for (const char *const *a = s->shape; *a; a++)
		g_checksum_update(sum, (const guchar *)*a, (gssize)strlen(*a) + 1);
	inputs = inputs_identity(s, cfg);
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

void hv_template_files_release(struct hv_template_files *f)
{
	if (f->state && f->state != MAP_FAILED)
		munmap(f->state, f->state_len);
	f->state = NULL;
	if (f->memory_fd >= 0)
		close(f->memory_fd);
	f->memory_fd = -1;
}

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

/* Why the memory file is not the one meta.json @o names, or NULL with @f->memory_fd open. */
static char *verify_memory(const struct hv_vm_config *cfg, const char *dir, JsonObject *o, struct hv_template_files *f)
{
	g_autofree char *path = g_build_filename(dir, "memory", NULL);
	g_autofree char *id = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	if (!json_object_has_member(o, "memory_identity"))
		return NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return g_strdup("the memory file is missing");
	if ((unsigned long long)st.st_size != (unsigned long long)cfg->memory_mib << 20)
		return g_strdup_printf("the memory file has %lld bytes, the VM %u MiB", (long long)st.st_size,
				       cfg->memory_mib);
	/* Written once and never since: any write, truncation or replacement changes its
	 * identity (ctime included, which no one but the kernel sets). */
	id = identity_of(&st);
	if (g_strcmp0(json_object_get_string_member_with_default(o, "memory_identity", ""), id) != 0)
		return g_strdup("the memory file changed after the template was made");
	f->memory_fd = TAKE_FD(fd);
	return NULL;
}

/* Why @dir's template is unsound, or NULL with @f filled when its meta.json and files agree
 * (the state's SHA-256 is for the backend to check as it reads the state). */
static char *verify(const struct hv_vm_config *cfg, const char *dir, const char *key, struct hv_template_files *f)
{
	g_autofree char *state_path = g_build_filename(dir, "state", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	const char *sha, *why;
	_cleanup_close_ int fd = -EBADF;
	JsonObject *o = NULL;
	struct stat st;
	gint64 size;
	char *bad;
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
	*f = (struct hv_template_files){ .memory_fd = -1 };
	bad = verify_memory(cfg, dir, o, f);
	if (bad)
		return bad;
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		hv_template_files_release(f);
		return g_strdup_printf("map the state: %s", strerror(errno));
	}
	f->state = map;
	f->state_len = (size_t)size;
	memcpy(f->state_sha256, sha, 65);
	return NULL;
}

static void discard(const struct hv_template_backend *b, const struct hv_vm_config *cfg, const char *key,
		    const char *why)
{
	g_autofree char *dir = final_dir(b, cfg, key);

	rt_warn("template %s is unsound (%s): discarded, a new one is made", key, why);
	remove_dir(dir);
}

/* 1 with @f filled when @key's template is there and sound (in @dir);
 * 0 when there is none, or there was an unsound one, which is removed. */
static int open_template(const struct hv_template_backend *b, const struct hv_vm_config *cfg, const char *key,
			 const char *dir, struct hv_template_files *f)
{
	g_autofree char *why = NULL;

	if (access(dir, F_OK) < 0)
		return 0;
	why = verify(cfg, dir, key, f);
	if (!why)
		return 1;
	discard(b, cfg, key, why);
	return 0;
}

/* Wait for the template's agent to say HELLO on @fd, and for nothing else. */
static int wait_hello(const struct hv_template_backend *b, const struct hv_vm_config *cfg, struct hv_vm *vm, int fd,
		      long long deadline, struct rt_error **err)
{
	uint8_t buf[HELLO_MAX];
	size_t len = 0;

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = b->ops->exit_fd(vm), .events = POLLIN } };
		long long left = deadline - rv_now_ms();
		struct rv_frame fr;
		size_t used;
		ssize_t n;
		int r;

		r = rv_frame_parse(buf, len, &fr, &used);
		if (r < 0)
			return rt_make_error(err, 0, "the template's agent sent a malformed frame");
		if (r > 0 && (fr.type != RV_MSG_HELLO || fr.proc != 0))
			return rt_make_error(err, 0, "the template's agent sent %s before HELLO",
					     rv_msg_type_name(fr.type));
		if (r > 0)
			return 0;
		if (left <= 0)
			return rt_make_error(err, ETIMEDOUT, "the template's agent did not start within %u s",
					     cfg->template_timeout_ms / 1000);
		r = poll(p, 2, (int)MIN(left, 1000));
		if (r < 0 && errno != EINTR)
			return rt_make_error(err, errno, "poll");
		if (p[1].revents)
			return rt_make_error(err, ECHILD, "the template's VM ended before its agent started");
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

static void add_member_string(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_string_value(b, value);
}

static void add_member_int(JsonBuilder *b, const char *name, gint64 value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, value);
}

/* meta.json for the files in @build (the state hashed, the memory file's identity). */
static int write_meta(const struct hv_template_backend *b, const struct hv_template_shape *s,
		      const struct hv_vm_config *cfg, const char *build, const char *key, struct rt_error **err)
{
	g_autofree char *state_path = g_build_filename(build, "state", NULL);
	g_autofree char *memory_path = g_build_filename(build, "memory", NULL);
	g_autofree char *meta_path = g_build_filename(build, "meta.json", NULL);
	g_autoptr(JsonBuilder) jb = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *sha = NULL, *inputs = inputs_identity(s, cfg), *text = NULL, *memory_id = NULL;
	g_autoptr(GError) gerr = NULL;
	_cleanup_close_ int fd = open(state_path, O_RDONLY | O_CLOEXEC);
	struct stat st, ms;
	void *map;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		return rt_make_error(err, errno ? errno : EIO, "the template's state is empty or unwritten");
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return rt_make_error(err, errno, "map `%s`", state_path);
	sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, map, (gsize)st.st_size);
	munmap(map, (size_t)st.st_size);
	if (lstat(memory_path, &ms) == 0)
		memory_id = identity_of(&ms);

	json_builder_begin_object(jb);
	add_member_int(jb, "format", TEMPLATE_FORMAT);
	add_member_string(jb, "key", key);
	add_member_string(jb, "backend", b->name);
	add_member_string(jb, "arch", rv_arch_name(cfg->arch));
	add_member_string(jb, "accel", hv_accel_name(cfg->accel));
	add_member_int(jb, "vcpus", cfg->vcpus);
	add_member_int(jb, "memory_mib", cfg->memory_mib);
	add_member_int(jb, "shares", (gint64)cfg->n_shares);
	add_member_int(jb, "nics", (gint64)cfg->n_nics);
	add_member_string(jb, "kernel", cfg->kernel);
	add_member_string(jb, "initrd", cfg->initrd);
	add_member_string(jb, "hypervisor", s->hypervisor ? s->hypervisor : "?");
	add_member_string(jb, "inputs", inputs);
	add_member_int(jb, "created", (gint64)time(NULL));
	add_member_int(jb, "state_size", (gint64)st.st_size);
	add_member_string(jb, "state_sha256", sha);
	if (memory_id)
		add_member_string(jb, "memory_identity", memory_id);
	json_builder_end_object(jb);
	root = json_builder_get_root(jb);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	if (!g_file_set_contents_full(meta_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &gerr))
		return rt_make_error(err, 0, "%s", gerr->message);
	return 0;
}

/* Hold @key's lock (the fd), waiting for another maker at most until @deadline. */
static int lock_key(const struct hv_template_backend *b, const struct hv_vm_config *cfg, const char *key,
		    long long deadline, struct rt_error **err)
{
	g_autofree char *path = g_strdup_printf("%s/%s-%s.lock", cfg->template_dir, b->name, key);
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
static int boot_and_save(const struct hv_template_backend *b, const void *ctx, const struct hv_template_shape *s,
			 const struct hv_vm_config *cfg, const char *build, const char *key, long long deadline,
			 struct rt_error **err)
{
	g_autofree char *empty = g_build_filename(cfg->template_dir, EMPTY_DIR, NULL);
	g_autofree char *console = g_build_filename(build, "console.log", NULL);
	g_autofree struct hv_share *shares = g_new0(struct hv_share, cfg->n_shares + 1);
	g_autofree struct hv_nic *nics = g_new0(struct hv_nic, cfg->n_nics + 1);
	struct hv_vm_config t;
	struct hv_vm *vm = NULL;
	struct stat sb;
	int sp[2], r;

	if ((mkdir(empty, 0755) < 0 && errno != EEXIST) || lstat(empty, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return rt_make_error(err, errno ? errno : ENOTDIR, "`%s` is not a directory", empty);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return rt_make_error(err, errno, "socketpair");
	t = hv_template_config(cfg, empty, console, sp[1], shares, nics);
	r = b->boot(ctx, &t, build, &vm, err);
	close(sp[1]);
	if (r == 0)
		r = wait_hello(b, cfg, vm, sp[0], deadline, err);
	if (r == 0)
		r = b->save(ctx, vm, build, deadline, err);
	if (vm)
		b->ops->destroy(vm);
	close(sp[0]);
	if (r < 0)
		return -1;
	return write_meta(b, s, cfg, build, key, err);
}

/*
 * Remove the templates that a new one of @key replaces: those of this backend made from the
 * same kernel, initrd and hypervisor paths whose files have changed since (a rebuilt kernel,
 * an upgraded QEMU). Their keys are never asked for again; without this they would fill the
 * directory. One whose lock another runvm holds is left for the next sweep.
 */
static void discard_stale(const struct hv_template_backend *b, const struct hv_template_shape *s,
			  const struct hv_vm_config *cfg, const char *key)
{
	g_autofree char *inputs = inputs_identity(s, cfg);
	g_autofree char *prefix = g_strdup_printf("%s-", b->name);
	g_autoptr(GDir) d = g_dir_open(cfg->template_dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *dir = g_build_filename(cfg->template_dir, name, NULL);
		g_autofree char *lock_path = g_strdup_printf("%s.lock", dir);
		g_autoptr(JsonParser) parser = json_parser_new();
		_cleanup_close_ int lock = -EBADF;
		JsonObject *o = NULL;

		if (!g_str_has_prefix(name, prefix) || strchr(name, '.') || strcmp(name + strlen(prefix), key) == 0 ||
		    read_meta(dir, parser, &o) ||
		    g_strcmp0(json_object_get_string_member_with_default(o, "kernel", ""), cfg->kernel) ||
		    g_strcmp0(json_object_get_string_member_with_default(o, "initrd", ""), cfg->initrd) ||
		    g_strcmp0(json_object_get_string_member_with_default(o, "hypervisor", ""), s->hypervisor) ||
		    !g_strcmp0(json_object_get_string_member_with_default(o, "inputs", ""), inputs))
			continue;
		lock = open(lock_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0)
			continue;
		rt_debug("template %s: stale (its kernel, initrd or hypervisor changed since), removed",
			 name + strlen(prefix));
		remove_dir(dir);
		unlink(lock_path);
	}
}

int hv_template_make(const struct hv_template_backend *b, const void *ctx, const struct hv_template_shape *s,
		     const struct hv_vm_config *cfg, struct rt_error **err)
{
	long long start = rv_now_ms(), deadline = start + cfg->template_timeout_ms;
	g_autofree char *key = NULL, *dir = NULL, *build = NULL;
	struct hv_template_files f = { .memory_fd = -1 };
	_cleanup_close_ int lock = -EBADF;
	const char *why;

	key = cfg->template_dir ? hv_template_key(b, s, cfg, &why) : NULL;
	if (!key)
		return rt_make_error(err, EOPNOTSUPP, "no template: %s", cfg->template_dir ? why : "templates are off");
	if (g_mkdir_with_parents(cfg->template_dir, 0700) < 0)
		return rt_make_error(err, errno, "create `%s`", cfg->template_dir);
	lock = lock_key(b, cfg, key, deadline, err);
	if (lock < 0)
		return -1;
	dir = final_dir(b, cfg, key);
	/* Made by another runvm while this one waited for the lock? */
	if (open_template(b, cfg, key, dir, &f) > 0) {
		hv_template_files_release(&f);
		return 0;
	}
	build = g_strdup_printf("%s/.%s-%s.build", cfg->template_dir, b->name, key);
	/* The lock is held: what is there is a dead maker's. */
	remove_dir(build);
	if (mkdir(build, 0700) < 0)
		return rt_make_error(err, errno, "create `%s`", build);
	if (boot_and_save(b, ctx, s, cfg, build, key, deadline, err) < 0) {
		remove_dir(build);
		return -1;
	}
	if (rename(build, dir) < 0) {
		rt_make_error(err, errno, "rename `%s`", build);
		remove_dir(build);
		return -1;
	}
	rt_debug("template %s made in %lld ms", key, rv_now_ms() - start);
	discard_stale(b, s, cfg, key);
	return 1;
}

int hv_template_restore(const struct hv_template_backend *b, const void *ctx, const struct hv_template_shape *s,
			const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err)
{
	struct rt_error *local = NULL;
	g_autofree char *key = NULL, *dir = NULL;
	const char *why;
	int r = 0;

	key = hv_template_key(b, s, cfg, &why);
	if (!key) {
		rt_debug("template: none for this VM (%s): booting cold", why);
		return 0;
	}
	dir = final_dir(b, cfg, key);
	/* A second try only where the first found the template corrupt. */
	for (int tries = 0; r == 0 && tries < 2; tries++) {
		struct hv_template_files f = { .memory_fd = -1 };

		if (open_template(b, cfg, key, dir, &f) == 0) {
			if (hv_template_make(b, ctx, s, cfg, &local) < 0) {
				rt_debug("template %s: cannot make it (%s): booting cold", key, local->msg);
				rt_error_free(&local);
				return 0;
			}
			if (open_template(b, cfg, key, dir, &f) == 0)
				break;
		}
		r = b->restore(ctx, cfg, key, &f, ret_vm, err);
		hv_template_files_release(&f);
		if (r == 0)
			discard(b, cfg, key, "its state is corrupt or was refused");
	}
	if (r > 0)
		rt_debug("template %s: restored", key);
	else if (r == 0)
		rt_debug("template %s: unusable: booting cold", key);
	return r;
}
