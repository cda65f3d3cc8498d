#include "parse.h"
#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int nc_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	double v;
	if (!*s || *s == '-')
		goto bad;
	unsigned long long u = strtoull(s, &end, 10);
	v = (double)u;
	if (*end == 'e' || *end == 'E' || *end == '.') {
		v = strtod(s, &end);
		if (v != floor(v))
			goto bad;
	}
	switch (*end) {
	case 'K': case 'k': v *= 1024; end++; break;
	case 'M': case 'm': v *= 1024 * 1024; end++; break;
	case 'G': case 'g': v *= 1024.0 * 1024 * 1024; end++; break;
	}
	if (*end || errno)
		goto bad;
	if (v < (double)lo || v > (double)hi)
		return nc_fail("%s: %s is out of range [%llu, %llu]", opt, s, (unsigned long long)lo,
			       (unsigned long long)hi);
	*out = (v == (double)u) ? u : (uint64_t)v;
	return 0;
bad:
	return nc_fail("%s: '%s' is not a number", opt, s);
}

int nc_parse_real(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= lo && v <= hi))
		return nc_fail("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
	*out = v;
	return 0;
}
