#include "csv.h"
#include "err.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

void nc_csv_init(struct nc_csv *c, const char *name, const char *s, size_t n)
{
	memset(c, 0, sizeof *c);
	c->name = name;
	c->s = s;
	c->n = n;
	c->line = 1;
}

void nc_csv_free(struct nc_csv *c)
{
	free(c->buf);
	free(c->f);
	free(c->off);
	memset(c, 0, sizeof *c);
}

static void put(struct nc_csv *c, char ch)
{
	if (c->blen == c->bcap)
		nc_xgrow(&c->buf, &c->bcap, c->blen + 1, 1);
	c->buf[c->blen++] = ch;
}

/* Length of the line end at pos (LF or CRLF), or 0. */
static size_t line_end(const struct nc_csv *c)
{
	if (c->pos < c->n && c->s[c->pos] == '\n')
		return 1;
	if (c->pos + 1 < c->n && c->s[c->pos] == '\r' && c->s[c->pos + 1] == '\n')
		return 2;
	return 0;
}

static int at_field_end(const struct nc_csv *c)
{
	return c->pos == c->n || c->s[c->pos] == ',' || line_end(c);
}

static void plain_field(struct nc_csv *c)
{
	while (!at_field_end(c))
		put(c, c->s[c->pos++]);
}

/* pos is at the opening quote. Line ends inside are kept as they are. */
static int quoted_field(struct nc_csv *c)
{
	unsigned long long open = c->line;
	c->pos++;
	for (;;) {
		if (c->pos == c->n)
			return nc_fail("%s:%llu: a quoted field is not closed before the end of the file",
				       c->name, open);
		char ch = c->s[c->pos++];
		if (ch == '"' && c->pos < c->n && c->s[c->pos] == '"') {
			c->pos++;
		} else if (ch == '"') {
			break;
		} else if (ch == '\n') {
			c->line++;
		}
		put(c, ch);
	}
	if (!at_field_end(c))
		return nc_fail("%s:%llu: unexpected character after a closing quote "
			       "(a quote inside a quoted field is written \"\")",
			       c->name, (unsigned long long)c->line);
	return 0;
}

static void start_field(struct nc_csv *c)
{
	if (c->nf == c->ocap)
		nc_xgrow(&c->off, &c->ocap, c->nf + 1, sizeof *c->off);
	c->off[c->nf++] = c->blen;
}

/* Fields point into buf only once it has stopped growing. */
static void finish_fields(struct nc_csv *c)
{
	if (c->fcap < c->nf)
		nc_xgrow(&c->f, &c->fcap, c->nf, sizeof *c->f);
	for (size_t i = 0; i < c->nf; i++) {
		size_t end = i + 1 < c->nf ? c->off[i + 1] - 1 : c->blen - 1;
		c->f[i] = (struct nc_csv_field){c->buf + c->off[i], end - c->off[i]};
	}
}

int nc_csv_next(struct nc_csv *c)
{
	size_t k;
	while ((k = line_end(c))) {
		c->pos += k;
		c->line++;
	}
	c->nf = c->blen = 0;
	if (c->pos == c->n)
		return 0;
	c->record_line = c->line;
	for (;;) {
		start_field(c);
		if (c->pos < c->n && c->s[c->pos] == '"') {
			if (quoted_field(c) != 0)
				return -1;
		} else {
			plain_field(c);
		}
		put(c, '\0');
		if (c->pos < c->n && c->s[c->pos] == ',') {
			c->pos++;
			continue;
		}
		if ((k = line_end(c))) {
			c->pos += k;
			c->line++;
		}
		break;
	}
	finish_fields(c);
	return 1;
}
