/* Error reporting. Library code records a message and returns -1 (or NULL);
 * the tool decides what to do with it: print "nc-x: message" and exit. */
#ifndef NC_ERR_H
#define NC_ERR_H

#include <stdarg.h>

extern const char *nc_prog;          /* set by each tool's main() */

/* Record an error message (printf style); always returns -1. */
int nc_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like nc_fail, appending ": strerror(errno)". */
int nc_fail_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message of this thread. */
const char *nc_errmsg(void);

/* For tools only: print "prog: message" and exit 1 / exit 2. */
void nc_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void nc_die_err(void) __attribute__((noreturn));          /* die with nc_errmsg() */
void nc_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void nc_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
