/* lib/fastmath.h against libm in double precision: the error in units in
 * the last place of the exact result, over every 97th float of the ranges
 * the ops use (several million points each), and at the edges. */
#include "../../lib/fastmath.h"
#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* |got - want| in units of want's last place as a float */
static double ulps(float got, double want)
{
	if (want == 0)
		return got == 0 ? 0 : INFINITY;
	int e;
	frexp(want, &e);   /* want = m 2^e, 0.5 <= |m| < 1 */
	double ulp = ldexp(1, (e - 1 < -126 ? -126 : e - 1) - 23);
	return fabs((double)got - want) / ulp;
}

static float from_bits(uint32_t b)
{
	float f;
	memcpy(&f, &b, sizeof f);
	return f;
}

/* the largest error of f against g over the floats of [lo, hi] (both of
 * one sign), taking every step-th bit pattern */
static double sweep(float (*f)(float), double (*g)(double), float lo, float hi, uint32_t step,
		    float *worst)
{
	uint32_t a, b;
	memcpy(&a, &lo, sizeof a);
	memcpy(&b, &hi, sizeof b);
	if (a > b) {
		uint32_t t = a;
		a = b;
		b = t;
	}
	double max = 0;
	for (uint64_t u = a; u <= b; u += step) {
		float x = from_bits((uint32_t)u);
		double e = ulps(f(x), g(x));
		if (!(e <= max)) {
			max = e;
			*worst = x;
		}
	}
	return max;
}

static float fexp(float x) { return nc_expf(x); }
static float ftanh(float x) { return nc_tanhf(x); }

int main(void)
{
	float w = 0;
	char name[160];
	double e = sweep(fexp, exp, -86.9f, -1e-30f, 97, &w);
	snprintf(name, sizeof name, "e^x over [-86.9, 0): within 1.5 ulp (worst %.2f at %.9g)", e, w);
	CHECK(e <= 1.5, name);
	e = sweep(fexp, exp, 1e-30f, 88.0f, 97, &w);
	snprintf(name, sizeof name, "e^x over (0, 88]: within 1.5 ulp (worst %.2f at %.9g)", e, w);
	CHECK(e <= 1.5, name);
	CHECK(nc_expf(0) == 1 && nc_expf(-0.0f) == 1, "e^0 is 1");
	CHECK(nc_expf(-88) == 0 && nc_expf(-1e30f) == 0 && nc_expf(-INFINITY) == 0,
	      "e^x from -88 down is 0, never garbage");
	CHECK(nc_expf(-87.5f) >= 0 && nc_expf(-87.5f) < 1.2e-38f, "e^x just above -88 is tiny");
	CHECK(isfinite(nc_expf(1e30f)) && nc_expf(1e30f) == nc_expf(88), "e^x stops at e^88");

	e = sweep(ftanh, tanh, 1e-30f, 12.0f, 97, &w);
	snprintf(name, sizeof name, "tanh over (0, 12]: within 3 ulp (worst %.2f at %.9g)", e, w);
	CHECK(e <= 3, name);
	e = sweep(ftanh, tanh, -12.0f, -1e-30f, 97, &w);
	snprintf(name, sizeof name, "tanh over [-12, 0): within 3 ulp (worst %.2f at %.9g)", e, w);
	CHECK(e <= 3, name);
	CHECK(nc_tanhf(0) == 0 && nc_tanhf(1e-20f) == 1e-20f, "tanh of 0 and of tiny x is x");
	CHECK(nc_tanhf(50) == 1 && nc_tanhf(-1e30f) == -1 && nc_tanhf(INFINITY) == 1,
	      "tanh saturates at +-1");
	CHECK(isnan(nc_tanhf(NAN)), "tanh of NaN is NaN");
	return TAP_DONE();
}
