/* Python's and numpy's random number generators, bit for bit, so that nc
 * lists data in the order nanochat lists it:
 *   - random.Random(seed): MT19937 seeded through init_by_array, with
 *     getrandbits, random(), _randbelow (rejection on getrandbits(k)),
 *     shuffle, choice and sample, as CPython's Lib/random.py and
 *     Modules/_randommodule.c define them;
 *   - numpy.random.default_rng(seed): SeedSequence(seed) feeding PCG64
 *     (the 128-bit LCG with the XSL-RR output), and Generator.permutation,
 *     which is numpy's shuffle over arange(n) drawing with random_interval.
 * HF datasets' .shuffle(seed=42) is default_rng(42).permutation(n). */
#ifndef NC_PYRAND_H
#define NC_PYRAND_H

#include <stddef.h>
#include <stdint.h>

/* ---- Python's random.Random ---- */

struct nc_pyrand {
	uint32_t mt[624];
	int idx;
};

/* random.Random(seed) for a non-negative integer seed below 2^64 (Python
 * seeds with abs(seed), so the caller passes the absolute value). */
void nc_pyrand_seed(struct nc_pyrand *r, uint64_t seed);
/* random.Random(seed) for any seed: abs(seed) as n >= 1 little-endian
 * 32-bit words, as few as hold it (MT19937's init_by_array key). */
void nc_pyrand_seed_words(struct nc_pyrand *r, const uint32_t *key, int n);
/* One MT19937 output word (genrand_uint32). */
uint32_t nc_pyrand_u32(struct nc_pyrand *r);
/* getrandbits(k) for 1 <= k <= 64. */
uint64_t nc_pyrand_getrandbits(struct nc_pyrand *r, int k);
/* random(): a double in [0, 1) with 53 random bits. */
double nc_pyrand_random(struct nc_pyrand *r);
/* _randbelow(n) for n >= 1: uniform in [0, n). */
uint64_t nc_pyrand_below(struct nc_pyrand *r, uint64_t n);
/* shuffle(x) on an array of n elements of size elem bytes, in place. */
void nc_pyrand_shuffle(struct nc_pyrand *r, void *x, size_t n, size_t elem);
/* choice(seq) of a sequence of n >= 1 items: the index chosen. */
size_t nc_pyrand_choice(struct nc_pyrand *r, size_t n);
/* sample(range(n), k) for k <= n: writes the k indices chosen, in the
 * order Python returns them. Returns 0, or -1 (with a message) when out
 * of memory. */
int nc_pyrand_sample(struct nc_pyrand *r, size_t n, size_t k, size_t *out);

/* ---- numpy's default_rng: SeedSequence + PCG64 ---- */

struct nc_pcg64 {
	unsigned __int128 state, inc;
	int has_u32;
	uint32_t u32;
};

/* numpy.random.default_rng(seed) for a non-negative integer seed below
 * 2^64. */
void nc_pcg64_seed(struct nc_pcg64 *g, uint64_t seed);
uint64_t nc_pcg64_u64(struct nc_pcg64 *g);
/* numpy's next_uint32: the low half of a 64-bit draw, then the high half
 * on the following call. */
uint32_t nc_pcg64_u32(struct nc_pcg64 *g);
/* numpy's random_interval(max): uniform in [0, max], by masked rejection
 * on 32-bit draws when max fits 32 bits, 64-bit draws otherwise. */
uint64_t nc_pcg64_interval(struct nc_pcg64 *g, uint64_t max);
/* default_rng(seed).permutation(n) into perm[0..n). */
void nc_np_permutation(uint64_t seed, size_t *perm, size_t n);

#endif
