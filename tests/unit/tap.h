/* A minimal TAP producer for the C unit tests: CHECK(cond, name) prints
 * "ok N - name" or "not ok N - name (file:line)". */
#ifndef NC_TAP_H
#define NC_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

#define CHECK(cond, name)                                                              \
	do {                                                                           \
		tap_n++;                                                               \
		if (cond) {                                                            \
			printf("ok %d - %s\n", tap_n, name);                           \
		} else {                                                               \
			tap_failed++;                                                  \
			printf("not ok %d - %s (%s:%d)\n", tap_n, name, __FILE__, __LINE__); \
		}                                                                      \
	} while (0)

#define TAP_DONE() (printf("1..%d\n", tap_n), tap_failed ? 1 : 0)

#include <math.h>
#include <stddef.h>

/* Largest |a - b| relative to the largest |b|: how tests compare tensors
 * with a reference. A NaN or infinity in a that b does not have at the
 * same place is an infinite difference (fmax alone would skip NaNs). */
static inline double tap_rel_err(const float *a, const float *b, size_t n)
{
	double d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(a[i]) || !isfinite(b[i])) {
			if (isnan(a[i]) != isnan(b[i]) || (!isnan(a[i]) && a[i] != b[i]))
				return INFINITY;
			continue;
		}
		d = fmax(d, fabs((double)a[i] - b[i]));
		s = fmax(s, fabs((double)b[i]));
	}
	return s > 0 ? d / s : d;
}

#endif
