#include "svg.h"

#include <math.h>

/* The canvas and the plot area inside it, in SVG user units. */
#define WIDTH 640
#define HEIGHT 400
#define LEFT 72.0
#define RIGHT 616.0
#define TOP 44.0
#define BOTTOM 336.0
#define TARGET_TICKS 5
#define MAX_MARKED 50     /* points drawn as circles up to this many */

struct axis {
	double lo, hi, step;
	int decimals;         /* for the tick labels */
};

/* 1, 2 or 5 times a power of ten, near range / TARGET_TICKS. */
static double nice_step(double range)
{
	double raw = range / TARGET_TICKS;
	double mag = pow(10, floor(log10(raw)));
	double f = raw / mag;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* An axis covering [min, max] whose ends are multiples of its tick step;
 * whole-number steps only when integer is set (training steps). */
static struct axis axis_for(double min, double max, int integer)
{
	struct axis a;
	if (!(max > min)) {
		double pad = fabs(min) * 0.05;
		if (pad == 0 || (integer && pad < 1))
			pad = 1;
		min -= pad;
		max += pad;
	}
	a.step = nice_step(max - min);
	if (integer && a.step < 1)
		a.step = 1;
	a.lo = floor(min / a.step) * a.step;
	a.hi = ceil(max / a.step) * a.step;
	a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
	return a;
}

static double px(const struct axis *a, double v)
{
	return LEFT + (v - a->lo) / (a->hi - a->lo) * (RIGHT - LEFT);
}

/* Larger values sit higher: SVG's y grows downwards. */
static double py(const struct axis *a, double v)
{
	return BOTTOM - (v - a->lo) / (a->hi - a->lo) * (BOTTOM - TOP);
}

static void xml_text(FILE *fp, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", fp); break;
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '"': fputs("&quot;", fp); break;
		case '\'': fputs("&apos;", fp); break;
		default:
			/* XML 1.0 allows no control characters but tab, CR, LF */
			fputc((unsigned char)*s < 0x20 ? ' ' : *s, fp);
		}
	}
}

static double tick(const struct axis *a, int k)
{
	double v = a->lo + k * a->step;
	return fabs(v) < a->step * 1e-9 ? 0 : v;    /* no "-0" */
}

static int nticks(const struct axis *a)
{
	return (int)floor((a->hi - a->lo) / a->step + 1e-6) + 1;
}

static void axes(FILE *fp, const struct axis *ax, const struct axis *ay)
{
	fputs("<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n", fp);
	for (int k = 0; k < nticks(ax); k++)
		fprintf(fp, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
			px(ax, tick(ax, k)), TOP, px(ax, tick(ax, k)), BOTTOM);
	for (int k = 0; k < nticks(ay); k++)
		fprintf(fp, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
			LEFT, py(ay, tick(ay, k)), RIGHT, py(ay, tick(ay, k)));
	fputs("</g>\n", fp);
	fprintf(fp, "<g stroke=\"#000\" stroke-width=\"1\">\n"
		"<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n"
		"<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n</g>\n",
		LEFT, BOTTOM, RIGHT, BOTTOM, LEFT, TOP, LEFT, BOTTOM);
	fputs("<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#000\">\n", fp);
	for (int k = 0; k < nticks(ax); k++)
		fprintf(fp, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%.*f</text>\n",
			px(ax, tick(ax, k)), BOTTOM + 18, ax->decimals, tick(ax, k));
	for (int k = 0; k < nticks(ay); k++)
		fprintf(fp, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.*f</text>\n",
			LEFT - 6, py(ay, tick(ay, k)) + 4, ay->decimals, tick(ay, k));
	fputs("</g>\n", fp);
}

static void titles(FILE *fp, const struct nc_plot *p)
{
	fprintf(fp, "<text x=\"%.2f\" y=\"24\" text-anchor=\"middle\" font-family=\"sans-serif\" "
		"font-size=\"16\" font-weight=\"bold\">", (double)WIDTH / 2);
	xml_text(fp, p->title);
	fprintf(fp, "</text>\n<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
		"font-family=\"sans-serif\" font-size=\"13\">", (LEFT + RIGHT) / 2, (double)HEIGHT - 16);
	xml_text(fp, p->xlabel);
	fprintf(fp, "</text>\n<text x=\"18\" y=\"%.2f\" text-anchor=\"middle\" "
		"font-family=\"sans-serif\" font-size=\"13\" transform=\"rotate(-90 18 %.2f)\">",
		(TOP + BOTTOM) / 2, (TOP + BOTTOM) / 2);
	xml_text(fp, p->ylabel);
	fputs("</text>\n", fp);
}

void nc_svg_plot(FILE *fp, const struct nc_plot *p)
{
	double xmin = p->x[0], xmax = p->x[0], ymin = p->y[0], ymax = p->y[0];
	for (size_t i = 1; i < p->n; i++) {
		xmin = fmin(xmin, p->x[i]);
		xmax = fmax(xmax, p->x[i]);
		ymin = fmin(ymin, p->y[i]);
		ymax = fmax(ymax, p->y[i]);
	}
	struct axis ax = axis_for(xmin, xmax, 1), ay = axis_for(ymin, ymax, 0);
	fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\">\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
		WIDTH, HEIGHT, WIDTH, HEIGHT, WIDTH, HEIGHT);
	titles(fp, p);
	axes(fp, &ax, &ay);
	fputs("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"", fp);
	for (size_t i = 0; i < p->n; i++)
		fprintf(fp, "%s%.2f,%.2f", i ? " " : "", px(&ax, p->x[i]), py(&ay, p->y[i]));
	fputs("\"/>\n", fp);
	if (p->n <= MAX_MARKED) {
		fputs("<g fill=\"#1f77b4\">\n", fp);
		for (size_t i = 0; i < p->n; i++)
			fprintf(fp, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\"/>\n", px(&ax, p->x[i]),
				py(&ay, p->y[i]));
		fputs("</g>\n", fp);
	}
	fputs("</svg>\n", fp);
}
