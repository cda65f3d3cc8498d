#include "logfmt.h"
#include "mem.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void put(struct nc_logfmt *l, const char *s, size_t n)
{
	nc_xgrow(&l->buf, &l->cap, l->len + n + 1, 1);
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = 0;
}

static void key(struct nc_logfmt *l, const char *k)
{
	if (l->len)
		put(l, " ", 1);
	put(l, k, strlen(k));
	put(l, "=", 1);
}

static int needs_quotes(const char *v)
{
	if (!*v)
		return 1;
	for (; *v; v++)
		if (*v == ' ' || *v == '"' || *v == '=' || *v == '\\' || (unsigned char)*v < 0x20)
			return 1;
	return 0;
}

void nc_logfmt_str(struct nc_logfmt *l, const char *k, const char *v)
{
	key(l, k);
	if (!needs_quotes(v)) {
		put(l, v, strlen(v));
		return;
	}
	put(l, "\"", 1);
	for (; *v; v++) {
		char esc[8];
		switch (*v) {
		case '"': put(l, "\\\"", 2); break;
		case '\\': put(l, "\\\\", 2); break;
		case '\n': put(l, "\\n", 2); break;
		case '\t': put(l, "\\t", 2); break;
		case '\r': put(l, "\\r", 2); break;
		default:
			if ((unsigned char)*v < 0x20) {
				snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*v);
				put(l, esc, 4);
			} else {
				put(l, v, 1);
			}
		}
	}
	put(l, "\"", 1);
}

void nc_logfmt_int(struct nc_logfmt *l, const char *k, int64_t v)
{
	char b[32];
	key(l, k);
	put(l, b, snprintf(b, sizeof b, "%" PRId64, v));
}

void nc_logfmt_f(struct nc_logfmt *l, const char *k, double v, int digits)
{
	char b[64];
	key(l, k);
	put(l, b, snprintf(b, sizeof b, "%.*f", digits, v));
}

void nc_logfmt_emit(struct nc_logfmt *l, FILE *fp)
{
	if (l->len)
		fwrite(l->buf, 1, l->len, fp);
	fputc('\n', fp);
	l->len = 0;
	if (l->buf)
		l->buf[0] = 0;
}

void nc_logfmt_free(struct nc_logfmt *l)
{
	free(l->buf);
	memset(l, 0, sizeof *l);
}
