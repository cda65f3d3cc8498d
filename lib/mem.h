/* Checked allocation: running out of memory is not bad input, so these
 * print a message and exit rather than return. */
#ifndef NC_MEM_H
#define NC_MEM_H

#include <stddef.h>

void *nc_xmalloc(size_t n);
void *nc_xcalloc(size_t count, size_t size);
void *nc_xrealloc(void *p, size_t n);
char *nc_xstrdup(const char *s);
/* Grow *p (element size elem) so that it holds at least need elements. */
void nc_xgrow(void *pp, size_t *cap, size_t need, size_t elem);

/* A growing string: s holds len bytes and a NUL after them once anything
 * has been added ({0} is the empty one; free(s) when done). */
struct nc_str {
	char *s;
	size_t len, cap;
};
void nc_str_add(struct nc_str *t, const char *s, size_t n);
void nc_str_adds(struct nc_str *t, const char *s);

#endif
