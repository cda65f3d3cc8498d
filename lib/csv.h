/* An RFC 4180 CSV reader over a buffer in memory, as MMLU's files need (no
 * header; question,A,B,C,D,answer): fields in double quotes may hold
 * commas, line ends and "" for a quote; lines end in LF or CRLF; the last
 * line may lack its line end. Empty lines are skipped. An unquoted field is
 * taken as it stands, quotes included. */
#ifndef NC_CSV_H
#define NC_CSV_H

#include <stddef.h>
#include <stdint.h>

/* One field, unescaped, in the reader's scratch buffer: valid until the
 * next call of nc_csv_next. Fields are NUL-terminated for convenience. */
struct nc_csv_field {
	const char *s;
	size_t len;
};

struct nc_csv {
	const char *name;           /* for messages */
	const char *s;
	size_t n, pos;
	uint64_t line;              /* 1-based line at pos */
	uint64_t record_line;       /* line where the last record started */
	char *buf;                  /* scratch: the fields' bytes */
	size_t blen, bcap;
	struct nc_csv_field *f;
	size_t nf, fcap;
	size_t *off;                /* field starts in buf while parsing */
	size_t ocap;
};

/* Read from s[0..n), which must outlive the reader. name is for messages. */
void nc_csv_init(struct nc_csv *c, const char *name, const char *s, size_t n);
/* The next record: its fields are c->f[0..c->nf), its first line
 * c->record_line. Returns 1, 0 at the end, or -1 on a broken quote (EOF
 * inside quotes, or something other than a comma or line end after a
 * closing quote), with a message naming the file and line. */
int nc_csv_next(struct nc_csv *c);
void nc_csv_free(struct nc_csv *c);

#endif
