/* Line plots written directly as SVG text: a fixed-size canvas, axes with
 * a few round tick values, axis titles, a title, and the data as one
 * polyline (with a circle on each point when there are few). */
#ifndef NC_SVG_H
#define NC_SVG_H

#include <stddef.h>
#include <stdio.h>

struct nc_plot {
	const char *title, *xlabel, *ylabel;
	const double *x, *y;   /* n points, x increasing; none NaN or infinite */
	size_t n;
};

/* Write the plot as an SVG document to fp (n >= 1). Write errors are left
 * for the caller to find on fp. */
void nc_svg_plot(FILE *fp, const struct nc_plot *p);

#endif
