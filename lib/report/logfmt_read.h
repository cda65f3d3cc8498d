/* Reading logfmt records, the lines lib/logfmt.h writes: key=value pairs
 * separated by spaces; a value is either a run of characters other than
 * space and '"', or a double-quoted string with the escapes \" \\ \n \t \r
 * and \xHH. */
#ifndef NC_LOGFMT_READ_H
#define NC_LOGFMT_READ_H

#include <stddef.h>

struct nc_logfmt_field {
	char *key, *val;
};

struct nc_logfmt_rec {
	struct nc_logfmt_field *f;
	size_t n, cap;
	char *buf;          /* holds every key and value */
};

/* Parse one line (without its newline) into r, replacing what r held.
 * Returns -1 with a message ("column N: ...") if the line is not a
 * sequence of key=value pairs. */
int nc_logfmt_parse(struct nc_logfmt_rec *r, const char *line, size_t len);
/* The value of key (the last one if it repeats), or NULL. */
const char *nc_logfmt_get(const struct nc_logfmt_rec *r, const char *key);
void nc_logfmt_rec_free(struct nc_logfmt_rec *r);

#endif
