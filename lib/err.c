#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *nc_prog = "nc";
static _Thread_local char errbuf[1024];

/* Formatted apart and then copied, so that a message may wrap the last
 * one: nc_fail("%s: %s", path, nc_errmsg()). */
static void vrecord(const char *fmt, va_list ap, int with_errno)
{
	int saved = errno;
	char msg[sizeof errbuf];
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	memcpy(errbuf, msg, sizeof errbuf);
}

int nc_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vrecord(fmt, ap, 0);
	va_end(ap);
	return -1;
}

int nc_fail_errno(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vrecord(fmt, ap, 1);
	va_end(ap);
	return -1;
}

const char *nc_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

static void vprint(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", nc_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void nc_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	exit(1);
}

void nc_die_err(void)
{
	nc_die("%s", nc_errmsg());
}

void nc_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

void nc_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s -h' for help.\n", nc_prog);
	exit(2);
}
