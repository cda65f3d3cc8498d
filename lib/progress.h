/* A progress line on stderr (done/total, rate, ETA), drawn only when
 * stderr is a terminal or when forced, at most a few times a second. */
#ifndef NC_PROGRESS_H
#define NC_PROGRESS_H

#include <stdint.h>

struct nc_progress {
	const char *label;
	const char *unit;     /* "B" for bytes (shown as MB/s), else a noun */
	uint64_t total;       /* 0 if unknown */
	double start, last;
	int enabled;
};

/* force: 1 always draw, 0 only when stderr is a terminal, -1 never. */
void nc_progress_start(struct nc_progress *p, const char *label, const char *unit,
		       uint64_t total, int force);
void nc_progress_update(struct nc_progress *p, uint64_t done);
void nc_progress_end(struct nc_progress *p, uint64_t done);

#endif
