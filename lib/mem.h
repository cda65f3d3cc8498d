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

#endif
