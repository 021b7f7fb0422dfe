/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the guest agent's RUN/EXEC parser (guest/agent/config.c), which under TDX
 * or SEV-SNP faces a hostile host. The input is a frame as the host sends it (the corpus is
 * seeded with a full RUN, see `make fuzz`), its payload decoded as RUN or EXEC by its type;
 * input that is not a frame is decoded whole as a RUN payload, so both paths get bytes. Any
 * input must give a config or an error with a message: an over-read, a leak, UB or a failure
 * without a reason is a crash. The same bytes, as a string, go to the parser of the kernel
 * command line's runvm.verity= (the verified rootfs): what it accepts must be what the table
 * the agent loads needs. `make fuzz` runs it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/agent/config.h"
#include "protocol/agent-proto.h"

static void parse(const struct rv_frame *f, int run)
{
	struct proc_config c;
	struct run_config r;
	char err[CONFIG_ERR_MAX] = "";

	if (config_parse(f, &c, run ? &r : NULL, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		return;
	}
	/* What the agent relies on afterwards. */
	if (!c.argc || !c.argv[0] || c.argv[c.argc] || c.envp[c.envc] || !c.cwd || c.cwd[0] != '/')
		abort();
	proc_config_free(&c);
	if (run)
		run_config_free(&r);
}

static void parse_cmdline(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct verity_params v;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = 0;
	if (verity_parse_cmdline(s, &v) == 0 &&
	    (strlen(v.roothash) != 64 || !v.salt[0] || v.data_blocks == 0 || v.data_blocks > (1ull << 40)))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_frame f;
	size_t used;

	parse_cmdline(data, size);
	if (rv_frame_parse(data, size, &f, &used) == 1) {
		if (f.type == RV_MSG_RUN || f.type == RV_MSG_EXEC)
			parse(&f, f.type == RV_MSG_RUN);
		return 0;
	}
	f = (struct rv_frame){ .type = RV_MSG_RUN, .len = (uint32_t)size, .payload = data };
	parse(&f, 1);
	return 0;
}
