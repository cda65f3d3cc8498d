#include "logfmt_read.h"
#include "../err.h"
#include "../mem.h"

#include <stdlib.h>
#include <string.h>

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the quoted value starting at b[*i] (the opening quote) into b[*w],
 * in place: the decoded text is never longer than the quoted one. */
static int quoted(char *b, size_t len, size_t *i, size_t *w)
{
	size_t start = *i;
	for ((*i)++; *i < len; (*i)++) {
		char c = b[*i];
		if (c == '"') {
			(*i)++;
			return 0;
		}
		if (c != '\\') {
			b[(*w)++] = c;
			continue;
		}
		if (++*i == len)
			break;
		switch (b[*i]) {
		case '"': b[(*w)++] = '"'; break;
		case '\\': b[(*w)++] = '\\'; break;
		case 'n': b[(*w)++] = '\n'; break;
		case 't': b[(*w)++] = '\t'; break;
		case 'r': b[(*w)++] = '\r'; break;
		case 'x': {
			int hi = *i + 1 < len ? hex_digit(b[*i + 1]) : -1;
			int lo = *i + 2 < len ? hex_digit(b[*i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return nc_fail("column %zu: \\x needs two hex digits", *i);
			if (hi == 0 && lo == 0)
				return nc_fail("column %zu: \\x00 (a NUL byte) in a value", *i);
			b[(*w)++] = (char)(hi << 4 | lo);
			*i += 2;
			break;
		}
		default:
			return nc_fail("column %zu: unknown escape '\\%c'", *i, b[*i]);
		}
	}
	return nc_fail("column %zu: quoted value not closed", start + 1);
}

static void add(struct nc_logfmt_rec *r, char *key, char *val)
{
	nc_xgrow(&r->f, &r->cap, r->n + 1, sizeof *r->f);
	r->f[r->n].key = key;
	r->f[r->n].val = val;
	r->n++;
}

int nc_logfmt_parse(struct nc_logfmt_rec *r, const char *line, size_t len)
{
	free(r->buf);
	r->buf = nc_xmalloc(len + 1);
	memcpy(r->buf, line, len);
	r->buf[len] = 0;
	r->n = 0;
	char *b = r->buf;
	size_t i = 0;
	for (;;) {
		while (i < len && is_space(b[i]))
			i++;
		if (i == len)
			return 0;
		size_t k = i;
		while (i < len && !is_space(b[i]) && b[i] != '=' && b[i] != '"' &&
		       (unsigned char)b[i] >= 0x20)
			i++;
		if (i == k || i == len || b[i] != '=')
			return nc_fail("column %zu: expected key=value", (i == k ? i : k) + 1);
		b[i++] = 0;
		size_t w = i;
		if (i < len && b[i] == '"') {
			if (quoted(b, len, &i, &w) != 0)
				return -1;
			if (i < len && !is_space(b[i]))
				return nc_fail("column %zu: expected a space after the quoted value", i + 1);
		} else {
			while (i < len && !is_space(b[i])) {
				if (b[i] == '"' || (unsigned char)b[i] < 0x20)
					return nc_fail("column %zu: unexpected %s in a value without quotes",
						       i + 1, b[i] == '"' ? "quote" : "control character");
				i++;
			}
			w = i;
		}
		/* the key's value ends at w; the space after it (or the end) is
		 * overwritten, so step past it first */
		if (i < len)
			i++;
		b[w] = 0;
		add(r, b + k, b + k + strlen(b + k) + 1);
	}
}

const char *nc_logfmt_get(const struct nc_logfmt_rec *r, const char *key)
{
	for (size_t i = r->n; i-- > 0;)
		if (strcmp(r->f[i].key, key) == 0)
			return r->f[i].val;
	return NULL;
}

void nc_logfmt_rec_free(struct nc_logfmt_rec *r)
{
	free(r->f);
	free(r->buf);
	memset(r, 0, sizeof *r);
}
