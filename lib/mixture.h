/* nanochat's TaskMixture over conversation streams: every line of every
 * input, in input order, shuffled once with random.Random(seed), as
 * tasks/common.py does with its (task, row) pairs (spec §4.8). A file
 * listed twice has its lines listed twice (oversampled). Lines are indexed,
 * not parsed: they are written back byte for byte. */
#ifndef NC_MIXTURE_H
#define NC_MIXTURE_H

#include <stdint.h>

/* Mix files[0..n) (n >= 1; "-" is stdin) into out (NULL or "-": stdout;
 * written to a temporary and renamed, so nothing is left on error). An
 * empty or blank line is an error naming file:line, found before anything
 * is written. *rows gets the number of lines written. Returns 0 or -1. */
int nc_mixture_write(char **files, int n, uint64_t seed, const char *out, uint64_t *rows);

#endif
