/* logfmt records: key=value pairs separated by spaces, one record a line.
 * Values with spaces, quotes or '=' are quoted with backslash escapes. */
#ifndef NC_LOGFMT_H
#define NC_LOGFMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct nc_logfmt {
	char *buf;
	size_t len, cap;
};

void nc_logfmt_str(struct nc_logfmt *l, const char *key, const char *val);
void nc_logfmt_int(struct nc_logfmt *l, const char *key, int64_t val);
void nc_logfmt_f(struct nc_logfmt *l, const char *key, double val, int digits);
/* Write the record and a newline to fp, then start a new record. */
void nc_logfmt_emit(struct nc_logfmt *l, FILE *fp);
void nc_logfmt_free(struct nc_logfmt *l);

#endif
