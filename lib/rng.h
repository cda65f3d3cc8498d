/* A seeded random number generator: xoshiro256** seeded through
 * splitmix64. Same seed, same sequence, on every machine. */
#ifndef NC_RNG_H
#define NC_RNG_H

#include <stdint.h>

struct nc_rng {
	uint64_t s[4];
};

void nc_rng_seed(struct nc_rng *r, uint64_t seed);
uint64_t nc_rng_next(struct nc_rng *r);
/* Uniform in [0, 1). */
double nc_rng_uniform(struct nc_rng *r);
/* Uniform integer in [0, n), without modulo bias. */
uint64_t nc_rng_below(struct nc_rng *r, uint64_t n);

#endif
