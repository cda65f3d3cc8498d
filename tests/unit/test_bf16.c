/* bf16 conversion (lib/bf16.h): known cases at the edges (ties, NaN,
 * infinities, subnormals, overflow), and every rounding checked against the
 * definition -- the nearer of the two bf16 neighbours, computed in double,
 * ties to the even one -- on many random floats of every exponent. */
#include "../../lib/bf16.h"
#include "../../lib/rng.h"
#include "tap.h"

#include <math.h>
#include <string.h>

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void test_known_cases(void)
{
	static const struct {
		uint32_t in;
		uint16_t out;
		const char *what;
	} cases[] = {
		{0x3f800000, 0x3f80, "1.0 is exact"},
		{0x3f807fff, 0x3f80, "just below half an ulp rounds down"},
		{0x3f808000, 0x3f80, "a tie rounds to even (down)"},
		{0x3f818000, 0x3f82, "a tie rounds to even (up)"},
		{0x3f808001, 0x3f81, "just above half an ulp rounds up"},
		{0x3fff8000, 0x4000, "rounding up carries into the exponent"},
		{0xbdcccccd, 0xbdcd, "-0.1 rounds up in magnitude"},
		{0x7f7f7fff, 0x7f7f, "just below the overflow midpoint stays the largest bf16"},
		{0x7f7f8000, 0x7f80, "the overflow midpoint rounds to infinity (even)"},
		{0x7f7fffff, 0x7f80, "the largest float rounds to infinity"},
		{0x00000000, 0x0000, "+0 stays +0"},
		{0x80000000, 0x8000, "-0 keeps its sign"},
		{0x7f800000, 0x7f80, "+inf stays +inf"},
		{0xff800000, 0xff80, "-inf stays -inf"},
		{0x00010000, 0x0001, "the smallest bf16 subnormal is exact"},
		{0x00008000, 0x0000, "half the smallest subnormal ties to zero (even)"},
		{0x00008001, 0x0001, "just above it rounds up to the smallest subnormal"},
		{0x00018000, 0x0002, "a subnormal tie rounds to even"},
		{0x80000001, 0x8000, "the smallest negative float subnormal rounds to -0"},
		{0x007fffff, 0x0080, "the largest subnormal rounds up to the smallest normal"},
		{0x7fc00000, 0x7fc0, "a quiet NaN stays NaN"},
		{0x7f800001, 0x7fc0, "a signalling NaN with only low bits does not become inf"},
		{0xffffffff, 0xffff, "a negative NaN stays NaN"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		CHECK(nc_f32_to_bf16(from_bits(cases[i].in)) == cases[i].out, cases[i].what);
	CHECK(nc_bf16_to_f32(0x4049) == 3.140625f && nc_bf16_to_f32(0xc020) == -2.5f &&
	      nc_bf16_to_f32(0x0001) == ldexpf(1, -133), "bf16 widens exactly, subnormals too");
}

/* The value of bf16 bits as a double; the bits past the largest finite
 * bf16 stand for 2^128, where an unbounded exponent would put it, so that
 * the midpoint to infinity is where IEEE puts it. */
static double bf16_value(uint16_t h)
{
	if ((h & 0x7fff) == 0x7f80)
		return h & 0x8000 ? -ldexp(1, 128) : ldexp(1, 128);
	return nc_bf16_to_f32(h);
}

/* The definition: the nearer neighbour, a tie to the one with an even last bit. */
static uint16_t nearest_bf16(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);   /* away from zero */
	double dlo = fabs((double)x - bf16_value(lo)), dhi = fabs(bf16_value(hi) - (double)x);
	if (dlo != dhi)
		return dlo < dhi ? lo : hi;
	return lo & 1 ? hi : lo;
}

static void test_against_definition(void)
{
	struct nc_rng r;
	nc_rng_seed(&r, 7);
	long bad = 0, n = 0, ties = 0;
	for (int i = 0; i < 2000000; i++) {
		uint32_t u = (uint32_t)nc_rng_next(&r);
		if (i & 1)
			u = (u & 0xffff0000u) | 0x8000u;   /* half the cases are exact ties */
		if ((u & 0x7fffffffu) >= 0x7f800000u)
			continue;
		float x = from_bits(u);
		n++;
		ties += (u & 0xffff) == 0x8000;
		uint16_t want = nearest_bf16(x);
		bad += nc_f32_to_bf16(x) != want;
		bad += memcmp(&(float){nc_bf16_round(x)}, &(float){nc_bf16_to_f32(want)}, 4) != 0;
	}
	printf("# %ld finite floats (%ld ties), %ld wrong\n", n, ties, bad);
	CHECK(bad == 0 && ties > n / 3, "every finite float rounds to its nearest bf16, ties to even");
}

int main(void)
{
	test_known_cases();
	test_against_definition();
	return TAP_DONE();
}
