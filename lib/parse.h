/* Range-checked number parsing for command-line options. */
#ifndef NC_PARSE_H
#define NC_PARSE_H

#include <stdint.h>

/* Parse a non-negative integer (also "2e9", "64K", "1M", "2G"); returns -1
 * with a message naming opt if s is not one or is outside [lo, hi]. */
int nc_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* Parse a real number in [lo, hi] (strtod's forms); returns -1 with a
 * message naming opt if s is not one, is out of range, or is a NaN (which
 * every comparison would let through). */
int nc_parse_real(const char *opt, const char *s, double lo, double hi, double *out);

#endif
