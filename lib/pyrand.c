/* Python's random.Random and numpy's default_rng, draw for draw. The facts
 * come from CPython's Modules/_randommodule.c and Lib/random.py (3.11) and
 * numpy's bit_generator.pyx (SeedSequence), pcg64.h and distributions.c
 * (random_interval) and _generator.pyx (shuffle). */
#include "pyrand.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ---- MT19937 as CPython seeds and reads it ---- */

enum { MT_N = 624, MT_M = 397 };

static void mt_init_genrand(struct nc_pyrand *r, uint32_t s)
{
	uint32_t *mt = r->mt;
	mt[0] = s;
	for (int i = 1; i < MT_N; i++)
		mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + (uint32_t)i;
	r->idx = MT_N;
}

void nc_pyrand_seed_words(struct nc_pyrand *r, const uint32_t *key, int len)
{
	uint32_t *mt = r->mt;
	int i = 1, j = 0;
	mt_init_genrand(r, 19650218u);
	for (int k = MT_N > len ? MT_N : len; k; k--) {
		mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
		i++;
		j++;
		if (i >= MT_N) {
			mt[0] = mt[MT_N - 1];
			i = 1;
		}
		if (j >= len)
			j = 0;
	}
	for (int k = MT_N - 1; k; k--) {
		mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
		i++;
		if (i >= MT_N) {
			mt[0] = mt[MT_N - 1];
			i = 1;
		}
	}
	mt[0] = 0x80000000u;
}

/* Python turns abs(seed) into little-endian 32-bit words, as few as hold
 * it and at least one (seed 0 is the key {0}). */
void nc_pyrand_seed(struct nc_pyrand *r, uint64_t seed)
{
	uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
	nc_pyrand_seed_words(r, key, key[1] ? 2 : 1);
}

static void mt_refill(struct nc_pyrand *r)
{
	static const uint32_t mag01[2] = { 0, 0x9908b0dfu };
	uint32_t *mt = r->mt, y;
	int k;
	for (k = 0; k < MT_N - MT_M; k++) {
		y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
		mt[k] = mt[k + MT_M] ^ (y >> 1) ^ mag01[y & 1];
	}
	for (; k < MT_N - 1; k++) {
		y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
		mt[k] = mt[k + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1];
	}
	y = (mt[MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
	mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1];
	r->idx = 0;
}

uint32_t nc_pyrand_u32(struct nc_pyrand *r)
{
	if (r->idx >= MT_N)
		mt_refill(r);
	uint32_t y = r->mt[r->idx++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

/* Up to 32 bits: the top k bits of one word. More: 32-bit words from the
 * least significant up, the last one cut to its top bits. */
uint64_t nc_pyrand_getrandbits(struct nc_pyrand *r, int k)
{
	if (k <= 32)
		return nc_pyrand_u32(r) >> (32 - k);
	uint64_t lo = nc_pyrand_u32(r);
	uint64_t hi = nc_pyrand_u32(r) >> (64 - k);
	return lo | hi << 32;
}

double nc_pyrand_random(struct nc_pyrand *r)
{
	uint32_t a = nc_pyrand_u32(r) >> 5, b = nc_pyrand_u32(r) >> 6;
	return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

static int bit_length(uint64_t n)
{
	return n ? 64 - __builtin_clzll(n) : 0;
}

/* _randbelow_with_getrandbits: k = n.bit_length() (not of n - 1, so n = 1
 * still draws a word), redrawn until below n. */
uint64_t nc_pyrand_below(struct nc_pyrand *r, uint64_t n)
{
	int k = bit_length(n);
	uint64_t v = nc_pyrand_getrandbits(r, k);
	while (v >= n)
		v = nc_pyrand_getrandbits(r, k);
	return v;
}

static void swap_bytes(unsigned char *a, unsigned char *b, size_t elem)
{
	for (size_t i = 0; i < elem; i++) {
		unsigned char t = a[i];
		a[i] = b[i];
		b[i] = t;
	}
}

/* Lib/random.py: for i in reversed(range(1, n)): swap x[i], x[randbelow(i+1)]. */
void nc_pyrand_shuffle(struct nc_pyrand *r, void *x, size_t n, size_t elem)
{
	unsigned char *p = x;
	for (size_t i = n; i-- > 1;) {
		size_t j = nc_pyrand_below(r, i + 1);
		if (elem == sizeof(size_t)) {
			size_t t;
			memcpy(&t, p + i * elem, elem);
			memcpy(p + i * elem, p + j * elem, elem);
			memcpy(p + j * elem, &t, elem);
		} else {
			swap_bytes(p + i * elem, p + j * elem, elem);
		}
	}
}

size_t nc_pyrand_choice(struct nc_pyrand *r, size_t n)
{
	return nc_pyrand_below(r, n);
}

/* sample's choice of algorithm: a pool (a copy of the population) when n
 * is at most setsize, Python's estimate of the bytes of a set of k, in
 * list slots: 21, plus 4 ** ceil(log(3k, 4)) when k > 5. math.log(x, 4)
 * is log(x) / log(4) in doubles, x the integer 3k rounded to a double; a
 * power of 4^32 or more exceeds any n. */
static int sample_uses_pool(size_t n, size_t k)
{
	uint64_t setsize = 21;
	if (k > 5) {
		double e = ceil(log((double)((uint64_t)k * 3)) / log(4.0));
		if (e >= 32)
			return 1;
		setsize += (uint64_t)1 << (2 * (int)e);
	}
	return n <= setsize;
}

static int sample_pool(struct nc_pyrand *r, size_t n, size_t k, size_t *out)
{
	size_t *pool = malloc((n ? n : 1) * sizeof *pool);
	if (!pool)
		return nc_fail("sample of %zu from %zu: out of memory", k, n);
	for (size_t i = 0; i < n; i++)
		pool[i] = i;
	for (size_t i = 0; i < k; i++) {
		size_t j = nc_pyrand_below(r, n - i);
		out[i] = pool[j];
		pool[j] = pool[n - i - 1];
	}
	free(pool);
	return 0;
}

/* The set of indices drawn so far: open addressing on index + 1 (0 marks
 * an empty slot), at most half full. */
static int set_add(size_t *slot, size_t mask, size_t v)
{
	size_t h = (v * 0x9e3779b97f4a7c15ull) & mask;
	while (slot[h]) {
		if (slot[h] == v + 1)
			return 0;
		h = (h + 1) & mask;
	}
	slot[h] = v + 1;
	return 1;
}

static int sample_set(struct nc_pyrand *r, size_t n, size_t k, size_t *out)
{
	size_t cap = 16;
	while (cap < 2 * k)
		cap *= 2;
	size_t *slot = calloc(cap, sizeof *slot);
	if (!slot)
		return nc_fail("sample of %zu from %zu: out of memory", k, n);
	for (size_t i = 0; i < k; i++) {
		size_t j = nc_pyrand_below(r, n);
		while (!set_add(slot, cap - 1, j))
			j = nc_pyrand_below(r, n);
		out[i] = j;
	}
	free(slot);
	return 0;
}

int nc_pyrand_sample(struct nc_pyrand *r, size_t n, size_t k, size_t *out)
{
	if (k > n)
		return nc_fail("sample of %zu from %zu: larger than the population", k, n);
	return sample_uses_pool(n, k) ? sample_pool(r, n, k, out) : sample_set(r, n, k, out);
}

/* ---- numpy: SeedSequence, PCG64, random_interval, permutation ---- */

/* SeedSequence's hash constants (bit_generator.pyx). */
#define SS_INIT_A 0x43b0d7e5u
#define SS_MULT_A 0x931e8875u
#define SS_INIT_B 0x8b51f9ddu
#define SS_MULT_B 0x58f38dedu
#define SS_MIX_L 0xca01f9ddu
#define SS_MIX_R 0x4973f715u
#define SS_XSHIFT 16
enum { SS_POOL = 4 };

static uint32_t ss_hashmix(uint32_t v, uint32_t *hash_const)
{
	v ^= *hash_const;
	*hash_const *= SS_MULT_A;
	v *= *hash_const;
	return v ^ (v >> SS_XSHIFT);
}

static uint32_t ss_mix(uint32_t x, uint32_t y)
{
	uint32_t v = SS_MIX_L * x - SS_MIX_R * y;
	return v ^ (v >> SS_XSHIFT);
}

/* mix_entropy: the entropy words hashed into a pool of four, then every
 * pool word mixed into every other, then any words past the fourth. */
static void ss_mix_entropy(uint32_t pool[SS_POOL], const uint32_t *ent, int n)
{
	uint32_t hc = SS_INIT_A;
	for (int i = 0; i < SS_POOL; i++)
		pool[i] = ss_hashmix(i < n ? ent[i] : 0, &hc);
	for (int src = 0; src < SS_POOL; src++)
		for (int dst = 0; dst < SS_POOL; dst++)
			if (src != dst)
				pool[dst] = ss_mix(pool[dst], ss_hashmix(pool[src], &hc));
	for (int src = SS_POOL; src < n; src++)
		for (int dst = 0; dst < SS_POOL; dst++)
			pool[dst] = ss_mix(pool[dst], ss_hashmix(ent[src], &hc));
}

/* generate_state(4, uint64): eight 32-bit words cycling over the pool,
 * read back as four little-endian 64-bit words. */
static void ss_generate_u64x4(const uint32_t pool[SS_POOL], uint64_t out[4])
{
	uint32_t hc = SS_INIT_B, w[8];
	for (int i = 0; i < 8; i++) {
		uint32_t v = pool[i % SS_POOL] ^ hc;
		hc *= SS_MULT_B;
		v *= hc;
		w[i] = v ^ (v >> SS_XSHIFT);
	}
	for (int i = 0; i < 4; i++)
		out[i] = (uint64_t)w[2 * i] | (uint64_t)w[2 * i + 1] << 32;
}

#define PCG_MULT (((unsigned __int128)2549297995355413924ull << 64) | 4865540595714422341ull)

static void pcg_step(struct nc_pcg64 *g)
{
	g->state = g->state * PCG_MULT + g->inc;
}

/* pcg64_set_seed: state and stream from the words (high word first), then
 * pcg_setseq_128_srandom_r. */
static void pcg_set_seed(struct nc_pcg64 *g, const uint64_t w[4])
{
	unsigned __int128 init = (unsigned __int128)w[0] << 64 | w[1];
	unsigned __int128 seq = (unsigned __int128)w[2] << 64 | w[3];
	g->state = 0;
	g->inc = seq << 1 | 1;
	pcg_step(g);
	g->state += init;
	pcg_step(g);
	g->has_u32 = 0;
	g->u32 = 0;
}

void nc_pcg64_seed(struct nc_pcg64 *g, uint64_t seed)
{
	uint32_t ent[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
	uint32_t pool[SS_POOL];
	uint64_t w[4];
	ss_mix_entropy(pool, ent, ent[1] ? 2 : 1);
	ss_generate_u64x4(pool, w);
	pcg_set_seed(g, w);
}

/* XSL-RR: the two halves xored, rotated right by the top six bits. */
uint64_t nc_pcg64_u64(struct nc_pcg64 *g)
{
	pcg_step(g);
	uint64_t x = (uint64_t)(g->state >> 64) ^ (uint64_t)g->state;
	unsigned rot = (unsigned)(g->state >> 122);
	return (x >> rot) | (x << ((64 - rot) & 63));
}

uint32_t nc_pcg64_u32(struct nc_pcg64 *g)
{
	if (g->has_u32) {
		g->has_u32 = 0;
		return g->u32;
	}
	uint64_t v = nc_pcg64_u64(g);
	g->has_u32 = 1;
	g->u32 = (uint32_t)(v >> 32);
	return (uint32_t)v;
}

uint64_t nc_pcg64_interval(struct nc_pcg64 *g, uint64_t max)
{
	if (max == 0)
		return 0;
	uint64_t mask = max, v;
	for (int s = 1; s < 64; s *= 2)
		mask |= mask >> s;
	if (max <= 0xffffffffu) {
		while ((v = nc_pcg64_u32(g) & mask) > max)
			;
	} else {
		while ((v = nc_pcg64_u64(g) & mask) > max)
			;
	}
	return v;
}

/* Generator.permutation(n) is shuffle(arange(n)), whose 1-d loop is
 * for i in reversed(range(1, n)): swap x[i], x[random_interval(i)]. */
void nc_np_permutation(uint64_t seed, size_t *perm, size_t n)
{
	struct nc_pcg64 g;
	nc_pcg64_seed(&g, seed);
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i-- > 1;) {
		size_t j = nc_pcg64_interval(&g, i);
		size_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}
