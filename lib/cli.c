#include "cli.h"
#include "err.h"
#include "file.h"
#include "parse.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The name of a long option as typed, without "=value". */
static void typed_name(const char *arg, char *buf, size_t size)
{
	size_t n = strcspn(arg, "=");
	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), arg);
}

/* "--s" matches --samples and --seed: list them, or return 0 if it
 * matches fewer than two. */
static int ambiguous(const char *typed, const struct option *longopts, char *list, size_t size)
{
	size_t len = strlen(typed + 2), used = 0;
	int n = 0;
	list[0] = 0;
	for (const struct option *o = longopts; o->name; o++)
		if (strncmp(o->name, typed + 2, len) == 0 && used < size) {
			used += (size_t)snprintf(list + used, size - used, "%s--%s", n ? ", " : "", o->name);
			n++;
		}
	return n > 1;
}

/* A long option given "=value" that takes none, as getopt reports it: '?'
 * with optopt set to the option's val. */
static int takes_no_value(const char *arg, int val, const struct option *longopts)
{
	if (strncmp(arg, "--", 2) != 0 || !strchr(arg, '='))
		return 0;
	size_t len = strcspn(arg + 2, "=");
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == val && o->has_arg == no_argument && strncmp(o->name, arg + 2, len) == 0)
			return 1;
	return 0;
}

static void bad_option(int c, char **argv, const struct option *longopts)
{
	const char *arg = argv[optind - 1];
	int is_long = strncmp(arg, "--", 2) == 0;
	char name[128], list[512];
	if (is_long)
		typed_name(arg, name, sizeof name);
	else
		snprintf(name, sizeof name, "-%c", optopt);
	if (c == ':')
		nc_usage_error("option '%s' needs a value", name);
	if (optopt && takes_no_value(arg, optopt, longopts))
		nc_usage_error("option '%s' takes no value", name);
	if (optopt && optopt < 256)
		nc_usage_error("unknown option '-%c'", optopt);
	if (is_long && ambiguous(name, longopts, list, sizeof list))
		nc_usage_error("ambiguous option '%s' (%s)", name, list);
	nc_usage_error("unknown option '%s'", name);
}

int nc_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	/* a leading ':' tells a missing value (':') from an unknown option ('?') */
	char spec[128];
	snprintf(spec, sizeof spec, ":%s", shortopts);
	opterr = 0;
	int c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == '?' || c == ':')
		bad_option(c, argv, longopts);
	return c;
}

/* "a command is required (train, encode, ...)" */
static void no_command(const struct nc_command *cmds, size_t n)
{
	char list[512];
	size_t used = 0;
	list[0] = 0;
	for (size_t i = 0; i < n && used < sizeof list; i++)
		used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", cmds[i].name);
	nc_usage_error("a command is required (%s)", list);
}

int nc_dispatch(int argc, char **argv, const struct nc_command *cmds, size_t n,
		void (*parse)(int argc, char **argv), void (*usage)(FILE *fp))
{
	if (argc < 2)
		no_command(cmds, n);
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

double nc_opt_real(const char *name, const char *arg, double lo, double hi)
{
	double v;
	if (nc_parse_real(name, arg, lo, hi, &v) != 0)
		nc_usage_error("%s", nc_errmsg());
	return v;
}

const char *nc_opt_device(const char *arg)
{
	if (strcmp(arg, "cpu") && strcmp(arg, "cuda") && strcmp(arg, "auto"))
		nc_usage_error("--device: cpu, cuda or auto (not '%s')", arg);
	return arg;
}

void nc_refuse_binary_tty(const char *cmd, const char *out, const char *what, const char *instead)
{
	if ((!out || !strcmp(out, "-")) && isatty(1))
		nc_usage_error("%s: refusing to write %s to a terminal (use %s)", cmd, what, instead);
}
