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

#endif
