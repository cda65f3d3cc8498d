/* Progress of long work on stderr (done/total, rate, ETA). On a terminal a
 * line redrawn in place a few times a second; elsewhere (a log, a pipe) a
 * plain line every NC_PROGRESS_INTERVAL seconds (default 10), so that a
 * long stage speaks in a log while short work stays silent. */
#ifndef NC_PROGRESS_H
#define NC_PROGRESS_H

#include <stdint.h>

enum nc_progress_mode { NC_PROGRESS_OFF, NC_PROGRESS_BAR, NC_PROGRESS_LINES };

struct nc_progress {
	const char *label;
	const char *unit;     /* "B" for bytes (shown as MB/s), else a noun */
	uint64_t total;       /* 0 if unknown */
	double start, last;
	double every;         /* seconds between plain lines */
	enum nc_progress_mode mode;
	int spoke;            /* a plain line was written */
	uint64_t shown;       /* the amount done it showed last */
};

/* force: 1 always draw the redrawn line, 0 the redrawn line on a terminal
 * and plain lines elsewhere, -1 never. */
void nc_progress_start(struct nc_progress *p, const char *label, const char *unit,
		       uint64_t total, int force);
void nc_progress_update(struct nc_progress *p, uint64_t done);
/* The final figures: the last redrawn line, or a last plain line when
 * plain lines were written and the last did not show done already. */
void nc_progress_end(struct nc_progress *p, uint64_t done);
/* Clear a redrawn line from the terminal so that a message can take its
 * place (the next update draws it again below); nothing otherwise. */
void nc_progress_clear(void);

#endif
