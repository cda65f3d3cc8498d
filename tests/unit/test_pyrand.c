/* lib/pyrand.c. Run bare: properties that need no oracle, and MT19937's
 * published reference output. With --dump WHAT SEED [ARGS]: the draws that
 * tests/oracle/pyrand_ref.py prints from Python's random and numpy, in the
 * same format, for tests/pyrand.bats to compare. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/pyrand.h"
#include "tap.h"

/* The same list as BELOW_NS in tests/oracle/pyrand_ref.py. */
static const uint64_t below_ns[] = {
	1, 2, 3, 5, 7, 10, 100, 1000, (1ull << 31) - 1, 1ull << 31, (1ull << 31) + 1,
	(1ull << 32) - 1, 1ull << 32, (1ull << 32) + 1, (1ull << 40) + 3, 1ull << 63, UINT64_MAX,
};
enum { N_BELOW = sizeof below_ns / sizeof below_ns[0] };

static void put(uint64_t v)
{
	printf("%" PRIu64 "\n", v);
}

static uint64_t random53(struct nc_pyrand *r)
{
	return (uint64_t)(nc_pyrand_random(r) * 9007199254740992.0);
}

static void dump_mix(struct nc_pyrand *r)
{
	for (int i = 0; i < 3000; i++) {
		switch (i % 4) {
		case 0: put(random53(r)); break;
		case 1: put(nc_pyrand_below(r, (uint64_t)i + 1)); break;
		case 2: put(nc_pyrand_getrandbits(r, i % 64 + 1)); break;
		default: put(nc_pyrand_choice(r, (size_t)(i % 7 + 1))); break;
		}
	}
}

/* shuffle(list(range(n))) or sample(range(n), k). */
static int dump_indices(const char *what, struct nc_pyrand *r, size_t n, size_t k)
{
	size_t *x = malloc((n ? n : 1) * sizeof *x);
	if (!strcmp(what, "shuffle")) {
		for (size_t i = 0; i < n; i++)
			x[i] = i;
		nc_pyrand_shuffle(r, x, n, sizeof *x);
		k = n;
	} else if (nc_pyrand_sample(r, n, k, x) != 0) {
		free(x);
		return 1;
	}
	for (size_t i = 0; i < k; i++)
		put(x[i]);
	free(x);
	return 0;
}

static int dump_python(const char *what, struct nc_pyrand *r, const uint64_t *a)
{
	if (!strcmp(what, "mt")) {
		for (uint64_t i = 0; i < a[0]; i++)
			put(nc_pyrand_u32(r));
	} else if (!strcmp(what, "bits")) {
		for (int k = 1; k <= 64; k++)
			for (int i = 0; i < 50; i++)
				put(nc_pyrand_getrandbits(r, k));
	} else if (!strcmp(what, "random")) {
		for (uint64_t i = 0; i < a[0]; i++)
			put(random53(r));
	} else if (!strcmp(what, "below")) {
		for (int j = 0; j < N_BELOW; j++)
			for (int i = 0; i < 200; i++)
				put(nc_pyrand_below(r, below_ns[j]));
	} else if (!strcmp(what, "choice")) {
		for (uint64_t i = 0; i < a[1]; i++)
			put(nc_pyrand_choice(r, a[0]));
	} else if (!strcmp(what, "shuffle") || !strcmp(what, "sample")) {
		return dump_indices(what, r, a[0], a[1]);
	} else if (!strcmp(what, "mix")) {
		dump_mix(r);
	} else {
		return -1;
	}
	return 0;
}

static int dump_numpy(const char *what, uint64_t seed, const uint64_t *a)
{
	struct nc_pcg64 g;
	nc_pcg64_seed(&g, seed);
	if (!strcmp(what, "pcg")) {
		for (int i = 0; i < 3000; i++)
			put(i % 5 == 1 || i % 5 == 4 ? nc_pcg64_u64(&g) : nc_pcg64_u32(&g));
	} else if (!strcmp(what, "interval")) {
		for (int j = 0; j < N_BELOW; j++)
			for (int i = 0; i < 200; i++)
				put(nc_pcg64_interval(&g, below_ns[j]));
	} else if (!strcmp(what, "perm")) {
		size_t *p = malloc((a[0] ? a[0] : 1) * sizeof *p);
		nc_np_permutation(seed, p, a[0]);
		for (size_t i = 0; i < a[0]; i++)
			put(p[i]);
		free(p);
	} else {
		return -1;
	}
	return 0;
}

static int dump(int argc, char **argv)
{
	uint64_t a[2] = { 0, 0 }, seed = strtoull(argv[1], NULL, 10);
	for (int i = 2; i < argc && i < 4; i++)
		a[i - 2] = strtoull(argv[i], NULL, 10);
	struct nc_pyrand r;
	nc_pyrand_seed(&r, seed);
	int rc = dump_python(argv[0], &r, a);
	if (rc < 0)
		rc = dump_numpy(argv[0], seed, a);
	if (rc < 0)
		fprintf(stderr, "test_pyrand: unknown draw %s\n", argv[0]);
	return rc != 0;
}

/* Matsumoto and Nishimura's mt19937ar.c test: init_by_array({0x123,
 * 0x234, 0x345, 0x456}) starts 1067595299 955945823 477289528 4107218783
 * 4228976476 (mt19937ar.out). Python's seeding is that init_by_array. */
static void check_reference_words(void)
{
	static const uint32_t key[4] = { 0x123, 0x234, 0x345, 0x456 };
	static const uint32_t want[5] = { 1067595299u, 955945823u, 477289528u, 4107218783u, 4228976476u };
	struct nc_pyrand r;
	nc_pyrand_seed_words(&r, key, 4);
	int same = 1;
	for (int i = 0; i < 5; i++)
		same &= nc_pyrand_u32(&r) == want[i];
	CHECK(same, "MT19937 seeded by init_by_array gives the published reference words");
}

static void check_below(void)
{
	struct nc_pyrand r, s;
	nc_pyrand_seed(&r, 7);
	nc_pyrand_seed(&s, 7);
	int ok = nc_pyrand_below(&r, 1) == 0;
	nc_pyrand_u32(&s);
	ok &= nc_pyrand_u32(&r) == nc_pyrand_u32(&s);
	CHECK(ok, "_randbelow(1) is 0 and still uses one word, as bit_length(1) = 1 says");
	int in_range = 1;
	for (int j = 0; j < N_BELOW; j++)
		for (int i = 0; i < 100; i++)
			in_range &= nc_pyrand_below(&r, below_ns[j]) < below_ns[j];
	CHECK(in_range, "_randbelow(n) is below n for n up to 2^64-1");
	nc_pyrand_seed(&r, 9);
	nc_pyrand_seed(&s, 9);
	uint64_t lo = nc_pyrand_u32(&s), hi = nc_pyrand_u32(&s);
	CHECK(nc_pyrand_getrandbits(&r, 64) == (lo | hi << 32),
	      "getrandbits(64) is two words, the first the low half");
}

static int is_permutation(const size_t *p, size_t n)
{
	char *seen = calloc(n ? n : 1, 1);
	int ok = 1;
	for (size_t i = 0; i < n && ok; i++) {
		ok = p[i] < n && !seen[p[i]];
		if (ok)
			seen[p[i]] = 1;
	}
	free(seen);
	return ok;
}

static void check_shuffle(void)
{
	enum { N = 5000 };
	static size_t wide[N];
	static uint32_t narrow[N];
	struct nc_pyrand r;
	for (size_t i = 0; i < N; i++) {
		wide[i] = i;
		narrow[i] = (uint32_t)i;
	}
	nc_pyrand_seed(&r, 42);
	nc_pyrand_shuffle(&r, wide, N, sizeof wide[0]);
	nc_pyrand_seed(&r, 42);
	nc_pyrand_shuffle(&r, narrow, N, sizeof narrow[0]);
	int same = is_permutation(wide, N);
	for (size_t i = 0; i < N; i++)
		same &= wide[i] == narrow[i];
	CHECK(same, "shuffle moves 4-byte and 8-byte elements the same way, into a permutation");
}

static void check_sample(void)
{
	struct nc_pyrand r;
	nc_pyrand_seed(&r, 1);
	/* (n, k): the pool when n <= 21 + 4^ceil(log4(3k)), the set above. */
	static const size_t cases[][2] = { { 10, 10 }, { 30, 5 }, { 1000, 100 }, { 100000, 50 }, { 1, 0 } };
	int ok = 1;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t n = cases[c][0], k = cases[c][1], out[100];
		char seen[100000] = { 0 };
		ok &= nc_pyrand_sample(&r, n, k, out) == 0;
		for (size_t i = 0; i < k; i++) {
			ok &= out[i] < n && !seen[out[i]];
			seen[out[i]] = 1;
		}
	}
	CHECK(ok, "sample(range(n), k) gives k distinct indices below n, by either algorithm");
	CHECK(nc_pyrand_sample(&r, 3, 4, NULL) == -1, "sample of more than the population is an error");
}

static void check_numpy(void)
{
	struct nc_pcg64 g, h;
	nc_pcg64_seed(&g, 3);
	nc_pcg64_seed(&h, 3);
	uint64_t v = nc_pcg64_u64(&h);
	int ok = nc_pcg64_u32(&g) == (uint32_t)v && nc_pcg64_u32(&g) == (uint32_t)(v >> 32);
	CHECK(ok, "next_uint32 gives the low half of a 64-bit draw, then the high half");
	nc_pcg64_seed(&g, 3);
	nc_pcg64_seed(&h, 3);
	ok = nc_pcg64_interval(&g, 0) == 0 && nc_pcg64_u64(&g) == nc_pcg64_u64(&h);
	CHECK(ok, "random_interval(0) is 0 and draws nothing");
	int in_range = 1;
	for (int j = 0; j < N_BELOW; j++)
		for (int i = 0; i < 100; i++)
			in_range &= nc_pcg64_interval(&g, below_ns[j]) <= below_ns[j];
	CHECK(in_range, "random_interval(max) is at most max");
	static size_t p[10000];
	int perm = 1;
	for (size_t n = 0; n <= 10000; n += 2499) {
		nc_np_permutation(42, p, n);
		perm &= is_permutation(p, n);
	}
	CHECK(perm, "permutation(n) is a permutation of 0..n-1");
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "--dump"))
		return dump(argc - 2, argv + 2);
	check_reference_words();
	check_below();
	check_shuffle();
	check_sample();
	check_numpy();
	return TAP_DONE();
}
