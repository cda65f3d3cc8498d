/* The training report: metric records from every stage of the pipeline,
 * gathered and written as report.md with SVG plots (nanochat's report.md,
 * spec §7, adapted). */
#ifndef NC_REPORT_H
#define NC_REPORT_H

#include <stdio.h>

struct nc_report;

struct nc_report *nc_report_new(void);
void nc_report_free(struct nc_report *r);

/* Take the records of one log: logfmt lines, and JSON objects on lines
 * that start with '{'. Records of kinds not known are skipped. A line that
 * is neither is an error "name:line: what"; r then holds the records
 * before it. */
int nc_report_read(struct nc_report *r, FILE *fp, const char *name);

struct nc_report_opts {
	const char *dir;      /* the output directory, made if missing */
	const char *source;   /* the checkout described; NULL: the current directory */
	const char *title;    /* NULL: "nc training report" */
};

/* Write dir/report.md and a plot for each stage with steps, each file
 * under a temporary name renamed into place: the plots first, so the
 * report never names a plot that is missing. Returns -1 with a message. */
int nc_report_write(const struct nc_report *r, const struct nc_report_opts *o);

/* Markdown pieces of lib/report/report.c that lib/report/report_env.c writes with too. */
/* s as markdown text: markup characters escaped, line breaks and control
 * characters as spaces. */
void nc_md_text(FILE *fp, const char *s);
/* "- label: value", both as markdown text. */
void nc_md_item(FILE *fp, const char *label, const char *value);
/* v with thousands separators: 1,234,567. */
char *nc_fmt_commas(char *buf, size_t n, long long v);
/* At most max characters of UTF-8 text (cut in place). */
void nc_cut_chars(char *s, size_t max);

#endif
