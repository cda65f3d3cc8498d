#include "mem.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
	fprintf(stderr, "%s: out of memory allocating %zu bytes\n", nc_prog, n);
	exit(1);
}

void *nc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *nc_xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		oom(count * size);
	return p;
}

void *nc_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

char *nc_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(nc_xmalloc(n), s, n);
}

void nc_xgrow(void *pp, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c += c / 2 + 1;
	*(void **)pp = nc_xrealloc(*(void **)pp, c * elem);
	*cap = c;
}

void nc_str_add(struct nc_str *t, const char *s, size_t n)
{
	nc_xgrow(&t->s, &t->cap, t->len + n + 1, 1);
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = 0;
}

void nc_str_adds(struct nc_str *t, const char *s)
{
	nc_str_add(t, s, strlen(s));
}
