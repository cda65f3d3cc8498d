/* Range-checked number parsing for command-line options. */
#ifndef NC_PARSE_H
#define NC_PARSE_H

#include <stdint.h>

/* Parse a non-negative integer (also "2e9", "64K", "1M", "2G"); returns -1
 * with a message naming opt if s is not one or is outside [lo, hi]. */
int nc_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
