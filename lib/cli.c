#include "cli.h"
#include "err.h"
#include "file.h"
#include "parse.h"

#include <getopt.h>
#include <string.h>

int nc_dispatch(int argc, char **argv, const struct nc_command *cmds, size_t n,
		void (*parse)(int argc, char **argv), void (*usage)(FILE *fp))
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		parse(argc - 1, argv + 1);
		int rc = cmds[i].run(argc - 1 - optind, argv + 1 + optind);
		nc_close_stdout();
		return rc;
	}
	nc_usage_error("unknown command '%s'", argv[1]);
}

uint64_t nc_opt_u64(const char *name, const char *arg, uint64_t lo, uint64_t hi)
{
	uint64_t v;
	if (nc_parse_u64(name, arg, lo, hi, &v) != 0)
		nc_usage_error("%s", nc_errmsg());
	return v;
}
