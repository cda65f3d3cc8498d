#include "ids.h"
#include "err.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

void nc_ids_push(struct nc_ids *a, uint32_t id)
{
	if (a->n == a->cap)
		nc_xgrow(&a->v, &a->cap, a->n + 1, sizeof *a->v);
	a->v[a->n++] = id;
}

void nc_ids_free(struct nc_ids *a)
{
	free(a->v);
	memset(a, 0, sizeof *a);
}

/* ---- reading ---- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The id in s[0..n) (a whole token, no blanks), or -1 if it is not one
 * below vocab. Digits past any id's length stop the sum from wrapping. */
static int64_t token_id(const char *s, size_t n, uint32_t vocab)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v >= vocab)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v < vocab ? (int64_t)v : -1;
}

int nc_ids_parse_line(const char *line, size_t len, uint32_t vocab, const char *where,
		      struct nc_ids *ids)
{
	size_t i = 0;
	while (i < len) {
		if (is_blank(line[i])) {
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && !is_blank(line[i]))
			i++;
		int64_t id = token_id(line + start, i - start, vocab);
		if (id < 0) {
			int shown = i - start > 24 ? 24 : (int)(i - start);
			return nc_fail("%s:%zu: '%.*s%s' is not a token id below %u", where, start + 1, shown,
				       line + start, i - start > 24 ? "..." : "", vocab);
		}
		nc_ids_push(ids, (uint32_t)id);
	}
	return 0;
}

/* ---- writing ---- */

/* The text of id i (after a space unless first), in buf. */
static int id_text(char *buf, size_t size, const uint32_t *ids, const uint8_t *mask, size_t i,
		   int first)
{
	const char *sep = first ? "" : " ";
	return mask ? snprintf(buf, size, "%s%u/%u", sep, ids[i], mask[i])
		    : snprintf(buf, size, "%s%u", sep, ids[i]);
}

int nc_ids_write(struct nc_out *out, const uint32_t *ids, const uint8_t *mask, size_t n,
		 int continued)
{
	char buf[32];
	for (size_t i = 0; i < n; i++) {
		int k = id_text(buf, sizeof buf, ids, mask, i, i == 0 && !continued);
		if (nc_out_write(out, buf, (size_t)k) != 0)
			return -1;
	}
	return 0;
}

int nc_ids_write_line(struct nc_out *out, const uint32_t *ids, const uint8_t *mask, size_t n)
{
	if (nc_ids_write(out, ids, mask, n, 0) != 0)
		return -1;
	return nc_out_write(out, "\n", 1);
}

int nc_ids_fwrite_line(FILE *fp, const uint32_t *ids, size_t n)
{
	char buf[32];
	for (size_t i = 0; i < n; i++) {
		id_text(buf, sizeof buf, ids, NULL, i, i == 0);
		fputs(buf, fp);
	}
	return putc('\n', fp) == EOF || ferror(fp);
}
