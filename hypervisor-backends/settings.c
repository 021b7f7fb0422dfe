/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/error.h"
#include "hypervisor-backends/backend.h"
#include "hypervisor-backends/settings.h"

static const struct hv_key *find_key(const struct hv_key *keys, size_t n_keys, const char *name)
{
	for (size_t i = 0; i < n_keys; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int apply_one(const struct hv_key *k, const char *group, const char *v, void *settings, struct rt_error **err)
{
	unsigned long u;
	char *end;

	if (k->kind == HV_KEY_STR) {
		char **field = G_STRUCT_MEMBER_P(settings, k->offset);

		g_free(*field);
		*field = g_strdup(v);
		return 0;
	}
	if (k->kind == HV_KEY_BOOL) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			return rt_make_error(err, 0, "[%s] %s must be true or false, not `%s`", group, k->name, v);
		G_STRUCT_MEMBER(bool, settings, k->offset) = strcmp(v, "true") == 0;
		return 0;
	}
	errno = 0;
	u = strtoul(v, &end, 10);
	if (errno || end == v || *end || u < k->min || u > k->max)
		return rt_make_error(err, 0, "[%s] %s must be an integer in %u..%u, not `%s`", group, k->name, k->min,
				     k->max, v);
	G_STRUCT_MEMBER(unsigned, settings, k->offset) = (unsigned)u;
	return 0;
}

int hv_settings_apply(const struct hv_key *keys, size_t n_keys, const struct hv_config_group *group, void *settings,
		      struct rt_error **err)
{
	for (size_t i = 0; i < group->n_keys; i++) {
		const struct hv_key *k = find_key(keys, n_keys, group->keys[i]);

		/* Reject what we do not know: a typo should not silently fall back to a default. */
		if (!k)
			return rt_make_error(err, 0, "unknown key `%s` in group [%s]", group->keys[i], group->name);
		if (apply_one(k, group->name, group->values[i], settings, err) < 0)
			return -1;
	}
	return 0;
}

void hv_settings_clear(const struct hv_key *keys, size_t n_keys, void *settings)
{
	for (size_t i = 0; i < n_keys; i++)
		if (keys[i].kind == HV_KEY_STR)
			g_clear_pointer((char **)G_STRUCT_MEMBER_P(settings, keys[i].offset), g_free);
}
