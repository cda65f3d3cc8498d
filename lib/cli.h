/* The front of a tool with subcommands: "tool CMD [options] [operands]". */
#ifndef NC_CLI_H
#define NC_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct nc_command {
	const char *name;
	int (*run)(int argc, char **argv);   /* the operands after the options */
};

/* Find argv[1] among cmds, parse the options after it with parse (which
 * leaves getopt's optind), run it on the operands, check stdout, and
 * return its status; -h/--help print usage; a missing or unknown command
 * is a usage error. */
int nc_dispatch(int argc, char **argv, const struct nc_command *cmds, size_t n,
		void (*parse)(int argc, char **argv), void (*usage)(FILE *fp));

/* getopt_long in the tools' one voice: an unknown or ambiguous option, a
 * missing value or a value given to an option that takes none is a usage
 * error (exit 2: "nc-x: unknown option '--foo'" and one "Try" line) instead
 * of getopt's own message. Returns what getopt_long returns otherwise. */
int nc_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/* A number option in [lo, hi] (also "2e9", "64K"); a usage error (exit 2)
 * naming the option otherwise. */
uint64_t nc_opt_u64(const char *name, const char *arg, uint64_t lo, uint64_t hi);
/* A real-number option in [lo, hi]; a usage error naming the option
 * otherwise (NaN included). */
double nc_opt_real(const char *name, const char *arg, double lo, double hi);
/* --device's value: cpu, cuda or auto; a usage error otherwise. */
const char *nc_opt_device(const char *arg);
/* A usage error "CMD: refusing to write WHAT to a terminal (use INSTEAD)"
 * when out (NULL or "-": stdout) is a terminal; a tool never writes binary
 * there. */
void nc_refuse_binary_tty(const char *cmd, const char *out, const char *what, const char *instead);

#endif
