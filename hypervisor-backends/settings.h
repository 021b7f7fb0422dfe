/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A group of runvm.conf read into a settings struct through a table of its keys: what each
 * backend's parse_config does with its group, and what the runtime does with [runvm], so that
 * every group rejects an unknown key and a bad value in the same words.
 */
#ifndef RUNVM_SETTINGS_H
#define RUNVM_SETTINGS_H

#include <stddef.h>

struct rt_error;
struct hv_config_group;

enum hv_key_kind { HV_KEY_STR, HV_KEY_UINT, HV_KEY_BOOL };

/* One key: its name, and the member of the settings struct it sets (char * owned by the
 * struct and g_free'd, unsigned within min..max, or bool). */
struct hv_key {
	const char *name;
	enum hv_key_kind kind;
	size_t offset;
	unsigned min, max;
};

/* One line each: rows of a key table. */
/* clang-format off */
#define HV_KEY_STR(type, n, f) { n, HV_KEY_STR, offsetof(type, f), 0, 0 }
#define HV_KEY_UINT(type, n, f, lo, hi) { n, HV_KEY_UINT, offsetof(type, f), lo, hi }
#define HV_KEY_BOOL(type, n, f) { n, HV_KEY_BOOL, offsetof(type, f), 0, 0 }
/* clang-format on */

/*
 * Apply every key of @group to @settings, whose string members hold g_malloc'd defaults.
 * Returns: 0, or < 0 at the first key @keys does not know ("unknown key `k` in group [g]") or
 * value it cannot take ("[g] k must be ..."); keys applied before it stay applied.
 */
int hv_settings_apply(const struct hv_key *keys, size_t n_keys, const struct hv_config_group *group, void *settings,
		      struct rt_error **err);
/* g_free the string members @keys names in @settings (not @settings itself). */
void hv_settings_clear(const struct hv_key *keys, size_t n_keys, void *settings);

#endif
