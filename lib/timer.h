/* Wall-clock timing. */
#ifndef NC_TIMER_H
#define NC_TIMER_H

#include <time.h>

/* Seconds on a monotonic clock. */
static inline double nc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#endif
