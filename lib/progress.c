#include "progress.h"
#include "err.h"
#include "timer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_EVERY 10.0

/* A redrawn line is on the terminal, without its newline. */
static int bar_open;

/* NC_PROGRESS_INTERVAL: seconds between plain lines (0: at every update). */
static double interval(void)
{
	const char *s = getenv("NC_PROGRESS_INTERVAL");
	char *end;
	if (!s || !*s)
		return DEFAULT_EVERY;
	double v = strtod(s, &end);
	return *end || !(v >= 0 && v < 1e9) ? DEFAULT_EVERY : v;
}

void nc_progress_start(struct nc_progress *p, const char *label, const char *unit,
		       uint64_t total, int force)
{
	memset(p, 0, sizeof *p);
	p->label = label;
	p->unit = unit;
	p->total = total;
	p->start = p->last = nc_now();
	p->every = interval();
	if (force > 0)
		p->mode = NC_PROGRESS_BAR;
	else if (force == 0)
		p->mode = isatty(2) ? NC_PROGRESS_BAR : NC_PROGRESS_LINES;
}

/* "training: 120 steps (13.3%) ETA 6m10s 2 steps/s, 57.0s" */
static void describe(const struct nc_progress *p, uint64_t done, double now, int final,
		     char *buf, size_t size)
{
	double el = now - p->start;
	double rate = el > 0 ? done / el : 0;
	char r[64], d[64], pct[32] = "", eta[32] = "";
	if (strcmp(p->unit, "B") == 0) {
		snprintf(r, sizeof r, "%.1f MB/s", rate / 1e6);
		snprintf(d, sizeof d, "%.1f MB", done / 1e6);
	} else {
		/* a training step can take seconds: keep a figure below 10 */
		snprintf(r, sizeof r, rate < 10 ? "%.2f %s/s" : "%.0f %s/s", rate, p->unit);
		snprintf(d, sizeof d, "%llu %s", (unsigned long long)done, p->unit);
	}
	if (p->total) {
		snprintf(pct, sizeof pct, " (%.1f%%)", 100.0 * done / p->total);
		if (!final && rate > 0) {
			double left = (p->total - (double)done) / rate;
			snprintf(eta, sizeof eta, " ETA %dm%02ds", (int)(left / 60), (int)fmod(left, 60));
		}
	}
	snprintf(buf, size, "%s: %s%s%s %s, %.1fs", p->label, d, pct, eta, r, el);
}

static void draw(struct nc_progress *p, uint64_t done, double now, int final)
{
	char line[256];
	describe(p, done, now, final, line, sizeof line);
	if (p->mode == NC_PROGRESS_BAR) {
		fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
		bar_open = !final;
	} else {
		fprintf(stderr, "%s: %s\n", nc_prog, line);
		p->spoke = 1;
		p->shown = done;
	}
	fflush(stderr);
}

void nc_progress_update(struct nc_progress *p, uint64_t done)
{
	if (p->mode == NC_PROGRESS_OFF)
		return;
	double now = nc_now();
	if (now - p->last < (p->mode == NC_PROGRESS_BAR ? 0.25 : p->every))
		return;
	p->last = now;
	draw(p, done, now, 0);
}

void nc_progress_end(struct nc_progress *p, uint64_t done)
{
	if (p->mode == NC_PROGRESS_BAR || (p->mode == NC_PROGRESS_LINES && p->spoke && p->shown != done))
		draw(p, done, nc_now(), 1);
}

void nc_progress_clear(void)
{
	if (bar_open) {
		fputs("\r\033[K", stderr);
		bar_open = 0;
	}
}
