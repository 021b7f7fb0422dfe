/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the global flags say, handed to each verb. */
#ifndef RUNVM_CLI_H
#define RUNVM_CLI_H

#include <stdbool.h>

struct rt_error;

struct rt_globals {
	const char *root; /* --root, default /run/runvm */
	const char *log;  /* --log */
	const char *log_format;
	const char *backend; /* --backend, overrides the configuration file */
	bool debug;
	bool systemd_cgroup; /* accepted for runc compatibility */
};

/* A verb: parses its own options from @argv (argv[0] is the verb name) and returns the exit
 * status, or < 0 with *err set. */
typedef int (*rt_verb_fn)(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);

int rt_cmd_run(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_check(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_spec(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_create(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_start(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_state(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_list(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_kill(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_delete(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_pause(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_exec(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_ps(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_update(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_features(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_events(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_unsupported(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_resume(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_template(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);

/* For the verbs that take only an ID (start, state, pause, resume): check the command line and
 * open the container's state, with its lock when @ret_lock_fd is not NULL. */
struct rt_state;
int rt_verb_open(const struct rt_globals *g, int argc, char **argv, char **ret_dir, struct rt_state **ret_st,
		 int *ret_lock_fd, struct rt_error **err);

/* getopt_long with runc's conventions and our one-line errors for unknown or incomplete
 * options. Returns the option, -1 at the end, or -2 with *err set. */
struct option;
int rt_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, const char *verb,
	      struct rt_error **err);

#endif
