/* svg.c - minimal SVG plots for the HTML report (see export_int.h). */
#include "export_int.h"
#include "odscope/export.h"
#include "odscope/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ods_sb_put(struct ods_sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = ods_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

void ods_sb_puts(struct ods_sbuf *b, const char *s)
{
	ods_sb_put(b, s, strlen(s));
}

void ods_sb_printf(struct ods_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->n + (size_t)n + 1 > b->cap) {
		b->cap = (b->n + (size_t)n + 1) * 2;
		b->p = ods_xrealloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
}

static double tr(double v, int logv)
{
	return logv ? log10(v > 0 ? v : 1e-300) : v;
}

double ods_plot_x(const struct ods_plot *p, double x)
{
	double a = tr(p->x0, p->logx), z = tr(p->x1, p->logx);
	return p->ml + (tr(x, p->logx) - a) / (z > a ? z - a : 1) * (p->w - p->ml - p->mr);
}

double ods_plot_y(const struct ods_plot *p, double y)
{
	double a = tr(p->y0, p->logy), z = tr(p->y1, p->logy);
	return p->h - p->mb - (tr(y, p->logy) - a) / (z > a ? z - a : 1) * (p->h - p->mt - p->mb);
}

/* Tick positions: powers of ten on a log axis, 1-2-5 steps otherwise. */
static int ticks(double a, double z, int logv, double *t, int cap)
{
	int n = 0;
	if (logv) {
		for (double e = floor(log10(a)); e <= ceil(log10(z)) && n < cap; e++)
			if (pow(10, e) >= a * 0.999 && pow(10, e) <= z * 1.001)
				t[n++] = pow(10, e);
		return n;
	}
	double span = z - a, step = pow(10, floor(log10(span > 0 ? span : 1)));
	if (span / step < 2.5)
		step /= 5;
	else if (span / step < 5)
		step /= 2;
	for (double v = ceil(a / step) * step; v <= z + step * 1e-9 && n < cap; v += step)
		t[n++] = fabs(v) < step * 1e-9 ? 0 : v;
	return n;
}

static void text(struct ods_sbuf *b, double x, double y, const char *anchor, const char *extra,
		 const char *s)
{
	char *e = ods_html_escape(s);
	ods_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>%s</text>\n", x, y, anchor,
		      extra ? extra : "", e);
	free(e);
}

void ods_plot_begin(struct ods_plot *p, struct ods_sbuf *b, double w, double h, const char *title,
		    const char *xlabel, const char *ylabel, double x0, double x1, double y0, double y1,
		    int logx, int logy, int xcat)
{
	double t[64];
	int n;
	char lab[32];

	memset(p, 0, sizeof *p);
	p->b = b;
	p->w = w;
	p->h = h;
	p->ml = 64;
	p->mr = 16;
	p->mt = 28;
	p->mb = xcat ? 90 : 44;
	p->x0 = x0;
	p->x1 = x1 > x0 ? x1 : x0 + 1;
	p->y0 = y0;
	p->y1 = y1 > y0 ? y1 : y0 + 1;
	p->logx = logx;
	p->logy = logy;
	ods_sb_printf(b,
		      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n"
		      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		      w, h, w, h);
	text(b, w / 2, 17, "middle", " font-size=\"13\" font-weight=\"bold\"", title);
	ods_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
			 "stroke=\"#444\"/>\n",
		      p->ml, p->mt, w - p->ml - p->mr, h - p->mt - p->mb);
	n = *ylabel ? ticks(p->y0, p->y1, logy, t, 64) : 0; /* no y label: categorical y */
	for (int i = 0; i < n; i++) {
		double y = ods_plot_y(p, t[i]);
		ods_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			      p->ml, y, w - p->mr, y);
		snprintf(lab, sizeof lab, "%g", t[i]);
		text(b, p->ml - 4, y + 4, "end", NULL, lab);
	}
	if (!xcat) {
		n = ticks(p->x0, p->x1, logx, t, 64);
		for (int i = 0; i < n; i++) {
			double x = ods_plot_x(p, t[i]);
			ods_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n",
				      x, h - p->mb, x, h - p->mb + 4);
			snprintf(lab, sizeof lab, "%g", t[i]);
			text(b, x, h - p->mb + 16, "middle", NULL, lab);
		}
	}
	text(b, (p->ml + w - p->mr) / 2, h - 8, "middle", NULL, xlabel);
	ods_sb_printf(b, "<g transform=\"translate(14,%.1f) rotate(-90)\">", (p->mt + h - p->mb) / 2);
	text(b, 0, 0, "middle", NULL, ylabel);
	ods_sb_puts(b, "</g>\n");
}

void ods_plot_legend(struct ods_plot *p, int i, const char *color, const char *s)
{
	double x = p->w - p->mr - 150, y = p->mt + 10 + 16 * i;
	ods_sb_printf(p->b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", x,
		      y - 9, color);
	text(p->b, x + 14, y, "start", NULL, s);
}

void ods_plot_end(struct ods_plot *p)
{
	ods_sb_puts(p->b, "</svg>\n");
}
