/* export_int.h - private to src/export: a growable string and SVG plots. */
#ifndef ODS_EXPORT_INT_H
#define ODS_EXPORT_INT_H

#include <stddef.h>

/* A growable NUL-terminated string; release with free(b.p). */
struct ods_sbuf {
	char *p;
	size_t n, cap;
};
void ods_sb_put(struct ods_sbuf *b, const char *s, size_t n);
void ods_sb_puts(struct ods_sbuf *b, const char *s);
void ods_sb_printf(struct ods_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An SVG plot: data coordinates (x0..x1, y0..y1, optionally log10) mapped
 * into a w x h pixel canvas with margins for the axes. */
struct ods_plot {
	struct ods_sbuf *b;
	double x0, x1, y0, y1;
	int logx, logy;
	double w, h, ml, mr, mt, mb;
};
/* Open the <svg>, draw the title, frame, ticks and axis labels.
 * xcat: no x ticks (categorical axis drawn by the caller); an empty ylabel:
 * no y ticks (categorical y). */
void ods_plot_begin(struct ods_plot *p, struct ods_sbuf *b, double w, double h, const char *title,
		    const char *xlabel, const char *ylabel, double x0, double x1, double y0, double y1,
		    int logx, int logy, int xcat);
double ods_plot_x(const struct ods_plot *p, double x);
double ods_plot_y(const struct ods_plot *p, double y);
void ods_plot_end(struct ods_plot *p);
/* A legend entry (colored square and text) at slot i in the top right. */
void ods_plot_legend(struct ods_plot *p, int i, const char *color, const char *text);

#endif
