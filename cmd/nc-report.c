/* nc-report: gather the metric logs of a run into report.md with plots. */
#include "../lib/cli.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/report/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *fp)
{
	fputs("usage: nc-report [-o DIR] [--source=DIR] [--title=TEXT] [-q] [FILE...]\n"
	      "\n"
	      "Reads the logfmt metric lines of nc-bpe, nc-train and nc-eval, and the JSON\n"
	      "lines of nc-sample --json, from the FILEs (none or -: stdin), and writes\n"
	      "DIR/report.md (default DIR: report) with SVG plots of loss and validation bpb\n"
	      "beside it, each file replaced whole. Prints the path of report.md.\n"
	      "  -o, --output=DIR   the report directory, made if missing\n"
	      "  --source=DIR       the git checkout described (default: the current directory)\n"
	      "  --title=TEXT       the first heading (default: nc training report)\n"
	      "  -q, --quiet        print nothing on success\n"
	      "  -h, --help         this help\n"
	      "See nc-report(1).\n",
	      fp);
}

enum { O_SOURCE = 256, O_TITLE };

static const struct option longopts[] = {
	{"output", required_argument, 0, 'o'},
	{"source", required_argument, 0, O_SOURCE},
	{"title", required_argument, 0, O_TITLE},
	{"quiet", no_argument, 0, 'q'},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

static struct {
	char *dir;
	const char *source, *title;
	int quiet;
} opt;

static void parse_options(int argc, char **argv)
{
	int c;
	while ((c = nc_getopt(argc, argv, "o:qh", longopts)) != -1) {
		switch (c) {
		case 'o': opt.dir = optarg; break;
		case O_SOURCE: opt.source = optarg; break;
		case O_TITLE: opt.title = optarg; break;
		case 'q': opt.quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		}
	}
	if (!opt.dir)
		opt.dir = "report";
	if (!*opt.dir)
		nc_usage_error("-o: the directory name is empty");
	if (opt.source && !*opt.source)
		nc_usage_error("--source: the directory name is empty");
	/* "out/" and "out" name one directory; keep "/" */
	for (size_t n = strlen(opt.dir); n > 1 && opt.dir[n - 1] == '/'; n--)
		opt.dir[n - 1] = 0;
}

static void read_log(struct nc_report *r, const char *path)
{
	FILE *fp = nc_is_stdin(path) ? stdin : fopen(path, "r");
	if (!fp)
		nc_die("%s: cannot open: %s", path, strerror(errno));
	if (nc_report_read(r, fp, fp == stdin ? "(stdin)" : path) != 0)
		nc_die_err();
	if (fp != stdin)
		fclose(fp);
}

int main(int argc, char **argv)
{
	nc_prog = "nc-report";
	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	struct stat st;
	if (opt.source && stat(opt.source, &st) != 0)
		nc_die("%s: %s", opt.source, strerror(errno));
	if (opt.source && !S_ISDIR(st.st_mode))
		nc_die("%s: not a directory", opt.source);
	struct nc_report *r = nc_report_new();
	if (argc == 0)
		read_log(r, "-");
	for (int i = 0; i < argc; i++)
		read_log(r, argv[i]);
	struct nc_report_opts ro = {opt.dir, opt.source, opt.title};
	if (nc_report_write(r, &ro) != 0)
		nc_die_err();
	nc_report_free(r);
	if (!opt.quiet)
		printf("%s/report.md\n", strcmp(opt.dir, "/") == 0 ? "" : opt.dir);
	nc_close_stdout();
	return 0;
}
