/* TaskMixture: index every line, shuffle the index as Python would shuffle
 * the list of (task, row) pairs, write the lines in that order. */
#include "mixture.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "mem.h"
#include "pyrand.h"

/* One line of an input, without its newline. */
struct span {
	const unsigned char *p;
	size_t len;
};

/* A distinct input: mapped once, however often it is listed. */
struct source {
	struct nc_map m;
	size_t first, n;        /* its lines: spans[first .. first + n) */
};

struct mixture {
	struct source *src;
	int nsrc;
	struct span *spans;
	size_t nspans, cap;
	size_t *order;          /* one entry per listed line, an index into spans */
	size_t norder;
};

static int blank(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* Lines are read as they are: a compressed file or an archive would give
 * rows of garbage, so those are refused by their magic numbers. */
static const char *packed_kind(const unsigned char *d, size_t n)
{
	static const struct { const char *magic; size_t len; const char *kind; } kinds[] = {
		{ "\x1f\x8b", 2, "gzip" }, { "\x28\xb5\x2f\xfd", 4, "zstd" },
		{ "\xfd" "7zXZ", 5, "xz" }, { "BZh", 3, "bzip2" }, { "PK\x03\x04", 4, "zip" },
		{ "PAR1", 4, "parquet" },
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (n >= kinds[i].len && !memcmp(d, kinds[i].magic, kinds[i].len))
			return kinds[i].kind;
	return NULL;
}

static int index_lines(struct mixture *x, struct source *s)
{
	const unsigned char *d = s->m.data, *end = d + s->m.size;
	const char *kind = packed_kind(d, s->m.size);
	if (kind)
		return nc_fail("%s: a %s file; mix reads conversation streams (JSONL) as plain lines",
			       s->m.path, kind);
	s->first = x->nspans;
	while (d < end) {
		const unsigned char *nl = memchr(d, '\n', (size_t)(end - d));
		size_t len = nl ? (size_t)(nl - d) : (size_t)(end - d);
		if (blank(d, len))
			return nc_fail("%s:%zu: an empty line, where a conversation was expected", s->m.path,
				       x->nspans - s->first + 1);
		nc_xgrow(&x->spans, &x->cap, x->nspans + 1, sizeof *x->spans);
		x->spans[x->nspans++] = (struct span){ d, len };
		d += len + 1;
	}
	s->n = x->nspans - s->first;
	return 0;
}

/* The source for files[i]: the earlier one of the same name, or a new one. */
static struct source *source_of(struct mixture *x, char **files, int i)
{
	for (int j = 0; j < i; j++)
		if (!strcmp(files[j], files[i]) || (nc_is_stdin(files[j]) && nc_is_stdin(files[i])))
			return &x->src[j];
	struct source *s = &x->src[i];
	if (nc_map_open(&s->m, files[i]) != 0)
		return NULL;
	x->nsrc = i + 1;
	return index_lines(x, s) == 0 ? s : NULL;
}

/* Every listed line in input order: Python's index_map before the shuffle. */
static int list_lines(struct mixture *x, char **files, int n)
{
	size_t cap = 0;
	x->src = nc_xcalloc((size_t)n, sizeof *x->src);
	for (int i = 0; i < n; i++) {
		struct source *s = source_of(x, files, i);
		if (!s)
			return -1;
		nc_xgrow(&x->order, &cap, x->norder + s->n, sizeof *x->order);
		for (size_t k = 0; k < s->n; k++)
			x->order[x->norder++] = s->first + k;
	}
	return 0;
}

static int write_lines(const struct mixture *x, const char *path)
{
	struct nc_out out;
	if (nc_out_open(&out, path) != 0)
		return -1;
	for (size_t i = 0; i < x->norder; i++) {
		const struct span *l = &x->spans[x->order[i]];
		if (nc_out_write(&out, l->p, l->len) != 0 || nc_out_write(&out, "\n", 1) != 0) {
			nc_out_abort(&out);
			return -1;
		}
	}
	return nc_out_commit(&out);
}

static void mixture_free(struct mixture *x)
{
	for (int i = 0; i < x->nsrc; i++)
		if (x->src[i].m.path)
			nc_map_close(&x->src[i].m);
	free(x->src);
	free(x->spans);
	free(x->order);
}

int nc_mixture_write(char **files, int n, uint64_t seed, const char *out, uint64_t *rows)
{
	struct mixture x = { 0 };
	int rc = list_lines(&x, files, n);
	if (rc == 0) {
		struct nc_pyrand r;
		nc_pyrand_seed(&r, seed);
		nc_pyrand_shuffle(&r, x.order, x.norder, sizeof *x.order);
		rc = write_lines(&x, out);
		*rows = x.norder;
	}
	mixture_free(&x);
	return rc;
}
