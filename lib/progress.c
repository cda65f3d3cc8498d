#include "progress.h"
#include "timer.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void nc_progress_start(struct nc_progress *p, const char *label, const char *unit,
		       uint64_t total, int force)
{
	memset(p, 0, sizeof *p);
	p->label = label;
	p->unit = unit;
	p->total = total;
	p->start = p->last = nc_now();
	p->enabled = force > 0 || (force == 0 && isatty(2));
}

static void draw(struct nc_progress *p, uint64_t done, double now, int final)
{
	double el = now - p->start;
	double rate = el > 0 ? done / el : 0;
	int bytes = strcmp(p->unit, "B") == 0;
	char r[64], d[64];
	if (bytes) {
		snprintf(r, sizeof r, "%.1f MB/s", rate / 1e6);
		snprintf(d, sizeof d, "%.1f MB", done / 1e6);
	} else {
		snprintf(r, sizeof r, "%.0f %s/s", rate, p->unit);
		snprintf(d, sizeof d, "%llu %s", (unsigned long long)done, p->unit);
	}
	fprintf(stderr, "\r%s: %s", p->label, d);
	if (p->total) {
		double frac = (double)done / p->total;
		fprintf(stderr, " (%.1f%%)", 100 * frac);
		if (!final && rate > 0) {
			double eta = (p->total - (double)done) / rate;
			fprintf(stderr, " ETA %dm%02ds", (int)(eta / 60), (int)eta % 60);
		}
	}
	fprintf(stderr, " %s, %.1fs\033[K%s", r, el, final ? "\n" : "");
	fflush(stderr);
}

void nc_progress_update(struct nc_progress *p, uint64_t done)
{
	if (!p->enabled)
		return;
	double now = nc_now();
	if (now - p->last < 0.25)
		return;
	p->last = now;
	draw(p, done, now, 0);
}

void nc_progress_end(struct nc_progress *p, uint64_t done)
{
	if (p->enabled)
		draw(p, done, nc_now(), 1);
}
