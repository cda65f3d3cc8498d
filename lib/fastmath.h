/* e^x and tanh(x) in float, written so that the compiler can run them 8
 * (or 4) at a time inside a loop: no branches, no calls, no errno. libm's
 * expf and tanhf are calls the vectorizer cannot see through, and in the
 * loss over a 4096..65536-word vocabulary they took a third of a CPU
 * training step. e^x stays within 1.5 units in the last place of the
 * exact result, tanh within 3 (tests/unit/test_fastmath.c sweeps them
 * against libm in double).
 *
 * (They vectorize only with -fno-trapping-math, which the Makefile sets:
 * otherwise GCC will not select between a constant and a computed value
 * in a vector, as the computation might raise a flag nobody reads.)
 *
 * The method: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, so that
 * n ln2 is exact), e^r - 1 by its Taylor polynomial to r^8, and 2^n put
 * into the exponent bits. tanh(a) = m / (m + 2) with m = e^(2a) - 1, which
 * keeps full relative precision as a goes to 0. */
#ifndef NC_FASTMATH_H
#define NC_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* 2^n for a whole n in [-126, 127]; 0 for n = -127 */
static inline float nc_pow2i(float n)
{
	uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* e^r - 1 for |r| <= ln2/2 */
static inline float nc_expm1_small(float r)
{
	float p = 1.0f / 40320;
	p = p * r + 1.0f / 5040;
	p = p * r + 1.0f / 720;
	p = p * r + 1.0f / 120;
	p = p * r + 1.0f / 24;
	p = p * r + 1.0f / 6;
	p = p * r + 0.5f;
	return (p * r) * r + r;
}

/* n = round(y / ln2) (ties to even: adding and taking away 1.5 * 2^23
 * rounds in the float unit, which every vector unit has), r = y - n ln2. */
static inline float nc_reduce_ln2(float y, float *n)
{
	const float shifter = 12582912.0f;
	float k = (y * 1.44269504088896341f + shifter) - shifter;
	*n = k;
	return (y - k * 0.693145751953125f) - k * 1.42860682030941723e-6f;
}

/* e^x; from -88 down (where e^x is below float's smallest normal) it is
 * 0, above 88 it stops at e^88 (the ops only take e^(z - max z) <= 1). */
static inline float nc_expf(float x)
{
	x = x < -88.0f ? -88.0f : x;
	x = x > 88.0f ? 88.0f : x;
	float n, r = nc_reduce_ln2(x, &n);   /* n = -127 at -88: 2^n is then 0 */
	return (nc_expm1_small(r) + 1.0f) * nc_pow2i(n);
}

/* tanh(x) */
static inline float nc_tanhf(float x)
{
	float a = __builtin_fabsf(x);
	a = a > 10.0f ? 10.0f : a;   /* tanh(10) is 1 in float */
	float n, r = nc_reduce_ln2(2 * a, &n);
	float s = nc_pow2i(n);
	float m = s * nc_expm1_small(r) + (s - 1.0f);   /* e^(2a) - 1 */
	float t = m / (m + 2.0f);
	return __builtin_copysignf(t, x);
}

#endif
