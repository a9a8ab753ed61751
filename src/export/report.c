/* report.c - the HTML report of a run: metadata, OD, token and ablation
 * tables and SVG figures drawn here (no Python needed); see export.h. */
#include "export_int.h"
#include "odscope/export.h"
#include "odscope/store.h"
#include "odscope/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct report {
	struct ods_db *db;
	int64_t run;
	const char *dir;
	int digits, n_figs;
	struct ods_sbuf html;
	struct ods_err *err;
};

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
				      "#8c564b"};

static int write_file(const char *path, const char *data, size_t n, struct ods_err *err)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return ods_err_set(err, ODS_EIO, "%s: cannot write: %s", path, strerror(errno));
	if (fwrite(data, 1, n, f) != n || fclose(f) != 0)
		return ods_err_set(err, ODS_EIO, "%s: write failed", path);
	return 0;
}

/* Put a finished figure inline into the page and into dir/fig_NAME.svg. */
static int add_figure(struct report *r, const char *name, struct ods_sbuf *svg, const char *caption)
{
	char path[4096];
	char *cap = ods_html_escape(caption);
	snprintf(path, sizeof path, "%s/fig_%s.svg", r->dir, name);
	int rc = write_file(path, svg->p, svg->n, r->err);
	ods_sb_printf(&r->html, "<figure id=\"fig-%s\">\n%s<figcaption>%s</figcaption>\n</figure>\n", name,
		      svg->p, cap);
	free(cap);
	free(svg->p);
	memset(svg, 0, sizeof *svg);
	r->n_figs += !rc;
	return rc;
}

static void note(struct report *r, const char *msg)
{
	char *e = ods_html_escape(msg);
	ods_sb_printf(&r->html, "<p class=\"note\">%s</p>\n", e);
	free(e);
}

/* Run a query bound to the run id into an xtab. */
static int query(struct report *r, const char *sql, struct ods_xtab *t)
{
	sqlite3_stmt *st;
	int rc;
	memset(t, 0, sizeof *t);
	if ((rc = ods_db_prepare(r->db, &st, sql, r->err)))
		return rc;
	sqlite3_bind_int64(st, 1, r->run);
	rc = ods_xtab_fill(r->db, st, r->digits, t, r->err);
	sqlite3_finalize(st);
	return rc;
}

static double num(const struct ods_xtab *t, int row, int col)
{
	return t->num[(size_t)row * t->n_cols + col];
}

static const char *str(const struct ods_xtab *t, int row, int col)
{
	const char *s = t->cells[(size_t)row * t->n_cols + col];
	return s ? s : "";
}

static void html_table(struct report *r, const struct ods_xtab *t)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ods_xtab_write(t, ODS_XFMT_HTML, f);
	fclose(f);
	ods_sb_put(&r->html, buf, n);
	free(buf);
}

/* Figures 1 and 2: the quantile rule's statistic per dimension, sorted and
 * by index, with the global threshold. */
static int fig_dims(struct report *r, double threshold)
{
	struct ods_xtab t;
	struct ods_sbuf svg = {0};
	struct ods_plot p;
	double ymax = threshold;
	int rc, n;

	if ((rc = query(r, "SELECT d.dim, d.q_loc_abs, o.rank IS NOT NULL AND o.quantile = 1 "
			   "FROM dims d LEFT JOIN ods o ON o.run_id = d.run_id AND o.dim = d.dim "
			   "WHERE d.run_id = ?1 ORDER BY d.q_loc_abs DESC, d.dim",
			&t)))
		return rc;
	n = t.n_rows;
	for (int i = 0; i < n; i++)
		ymax = fmax(ymax, num(&t, i, 1));
	ymax *= 1.08;

	ods_plot_begin(&p, &svg, 760, 340, "Median |h| per dimension, sorted",
		       "dimensions sorted by median |h_d|", "median |h_d|", 0, n, 0, ymax, 0, 0, 0);
	ods_sb_puts(&svg, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
	for (int i = 0; i < n; i++)
		ods_sb_printf(&svg, "%.1f,%.1f ", ods_plot_x(&p, i + 0.5), ods_plot_y(&p, num(&t, i, 1)));
	ods_sb_puts(&svg, "\"/>\n");
	for (int i = 0; i < n && i < 40; i++)
		if (num(&t, i, 2) == 1) {
			double x = ods_plot_x(&p, i + 0.5), y = ods_plot_y(&p, num(&t, i, 1));
			ods_sb_printf(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#d62728\"/>\n", x, y);
			ods_sb_printf(&svg, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">dim %s</text>\n", x + 6,
				      y + 4 + 10 * (i % 2), str(&t, i, 0));
		}
	ods_sb_printf(&svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
			    "stroke-dasharray=\"6,4\"/>\n",
		      p.ml, ods_plot_y(&p, threshold), p.w - p.mr, ods_plot_y(&p, threshold));
	ods_plot_legend(&p, 0, "#1f77b4", "median |h_d|");
	ods_plot_legend(&p, 1, "#d62728", "global threshold");
	ods_plot_end(&p);
	if ((rc = add_figure(r, "dims_sorted", &svg,
			     "Per-dimension median |h_d| (the quantile rule's statistic), sorted, with the "
			     "global threshold quantile_q_glob(|X|) dashed; ODs marked.")))
		goto out;

	/* by index: one vertical line per dimension */
	double dmax = 0;
	for (int i = 0; i < n; i++)
		dmax = fmax(dmax, num(&t, i, 0));
	ods_plot_begin(&p, &svg, 760, 300, "Median |h| by dimension", "dimension", "median |h_d|", -0.5,
		       dmax + 0.5, 0, ymax, 0, 0, 0);
	ods_sb_puts(&svg, "<path stroke=\"#1f77b4\" stroke-width=\"1\" d=\"");
	for (int i = 0; i < n; i++)
		ods_sb_printf(&svg, "M%.1f %.1fV%.1f", ods_plot_x(&p, num(&t, i, 0)), ods_plot_y(&p, 0),
			      ods_plot_y(&p, num(&t, i, 1)));
	ods_sb_puts(&svg, "\"/>\n");
	for (int i = 0; i < n && i < 40; i++)
		if (num(&t, i, 2) == 1)
			ods_sb_printf(&svg, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#d62728\">%s</text>\n",
				      ods_plot_x(&p, num(&t, i, 0)) + 3, ods_plot_y(&p, num(&t, i, 1)) + 10,
				      str(&t, i, 0));
	ods_sb_printf(&svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
			    "stroke-dasharray=\"6,4\"/>\n",
		      p.ml, ods_plot_y(&p, threshold), p.w - p.mr, ods_plot_y(&p, threshold));
	ods_plot_end(&p);
	rc = add_figure(r, "dims_index", &svg,
			"Median |h_d| by dimension index; the dashed line is the global threshold.");
out:
	ods_xtab_release(&t);
	return rc;
}

/* Figure 3: for the top ODs, the tokens they promote most (logit contribution). */
static int fig_tokens(struct report *r)
{
	struct ods_xtab t;
	int rc;
	if ((rc = query(r, "SELECT t.dim, t.rank, t.token, t.contribution FROM tokens t "
			   "JOIN ods o ON o.run_id = t.run_id AND o.dim = t.dim "
			   "WHERE t.run_id = ?1 AND t.kind = 'promoted' AND t.rank <= 10 AND o.rank <= 4 "
			   "ORDER BY o.rank, t.rank",
			&t)))
		return rc;
	for (int i = 0; i < t.n_rows && !rc;) {
		struct ods_sbuf svg = {0};
		struct ods_plot p;
		int j = i;
		double vmax = 0;
		char title[96], name[32], cap[160];
		while (j < t.n_rows && !strcmp(str(&t, j, 0), str(&t, i, 0)))
			vmax = fmax(vmax, fabs(num(&t, j++, 3)));
		snprintf(title, sizeof title, "Tokens promoted by dim %s", str(&t, i, 0));
		ods_plot_begin(&p, &svg, 420, 320, title, "logit contribution sigma_d m_d W_U[t,d]", "", 0,
			       vmax * 1.1, 0, 1, 0, 0, 0);
		/* replace the y ticks' meaning: one bar per token, top to bottom */
		double bh = (p.h - p.mt - p.mb) / (j - i);
		for (int k = i; k < j; k++) {
			double y = p.mt + (k - i) * bh, v = fabs(num(&t, k, 3));
			char *e = ods_html_escape(str(&t, k, 2));
			ods_sb_printf(&svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
					    "fill=\"#1f77b4\"/>\n",
				      p.ml, y + 2, ods_plot_x(&p, v) - p.ml, bh - 4);
			ods_sb_printf(&svg, "<text x=\"%.1f\" y=\"%.1f\" font-family=\"monospace\" "
					    "xml:space=\"preserve\" fill=\"white\">%s</text>\n",
				      p.ml + 4, y + bh / 2 + 4, e);
			free(e);
		}
		ods_plot_end(&p);
		snprintf(name, sizeof name, "tokens_%s", str(&t, i, 0));
		snprintf(cap, sizeof cap, "The ten tokens dimension %s promotes most at a typical input.",
			 str(&t, i, 0));
		rc = add_figure(r, name, &svg, cap);
		i = j;
	}
	ods_xtab_release(&t);
	return rc;
}

/* Figure 4: prediction frequency against corpus frequency, log-log. */
static int fig_predfreq(struct report *r)
{
	static const char *const conds[] = {"full", "ablate_ods", "ablate_random_1"};
	struct ods_xtab t;
	struct ods_sbuf svg = {0};
	struct ods_plot p;
	double lo = 1, hi = 0;
	int rc;
	if ((rc = query(r, "SELECT p.condition, CAST(p.n_top1 AS REAL) / a.n_inputs, "
			   "CAST(f.count AS REAL) / ru.n_tokens FROM ablation_top1 p "
			   "JOIN ablations a ON a.id = p.ablation_id JOIN runs ru ON ru.id = a.run_id "
			   "JOIN freq f ON f.run_id = a.run_id AND f.token_id = p.token_id "
			   "WHERE a.id = (SELECT max(id) FROM ablations WHERE run_id = ?1 AND status = 'complete') "
			   "AND p.condition IN ('full', 'ablate_ods', 'ablate_random_1') AND p.n_top1 > 0",
			&t)))
		return rc;
	if (!t.n_rows) {
		note(r, "No prediction frequencies for this run (no complete ablation).");
		ods_xtab_release(&t);
		return 0;
	}
	for (int i = 0; i < t.n_rows; i++)
		for (int c = 1; c <= 2; c++) {
			lo = fmin(lo, num(&t, i, c));
			hi = fmax(hi, num(&t, i, c));
		}
	lo = pow(10, floor(log10(lo)));
	hi = pow(10, ceil(log10(hi)));
	ods_plot_begin(&p, &svg, 520, 420, "Prediction vs corpus frequency", "corpus frequency p_corp",
		       "prediction frequency p_pred", lo, hi, lo, hi, 1, 1, 0);
	ods_sb_printf(&svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
			    "stroke-dasharray=\"3,3\"/>\n",
		      ods_plot_x(&p, lo), ods_plot_y(&p, lo), ods_plot_x(&p, hi), ods_plot_y(&p, hi));
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < t.n_rows; i++)
			if (!strcmp(str(&t, i, 0), conds[k]))
				ods_sb_printf(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\" "
						    "fill-opacity=\"0.6\"/>\n",
					      ods_plot_x(&p, num(&t, i, 2)), ods_plot_y(&p, num(&t, i, 1)),
					      palette[k]);
		ods_plot_legend(&p, k, palette[k], conds[k]);
	}
	ods_plot_end(&p);
	rc = add_figure(r, "predfreq", &svg,
			"Share of inputs whose top-1 prediction is token t against t's corpus share, for "
			"the full model, without the ODs and without a random set of as many dimensions "
			"(dashed: y = x).");
	ods_xtab_release(&t);
	return rc;
}

/* Figure 5: mean surprisal and KL per ablation condition. */
static int fig_ablation(struct report *r)
{
	struct ods_xtab t;
	int rc;
	if ((rc = query(r, "SELECT x.condition, x.mean_surprisal, x.mean_kl FROM ablation_results x "
			   "WHERE x.ablation_id = (SELECT max(id) FROM ablations WHERE run_id = ?1 AND "
			   "status = 'complete') AND x.condition NOT GLOB 'single_*' "
			   "AND x.condition NOT GLOB 'cumulative_*' ORDER BY " "length(x.condition), x.condition",
			&t)))
		return rc;
	for (int m = 1; m <= 2 && t.n_rows; m++) {
		struct ods_sbuf svg = {0};
		struct ods_plot p;
		double vmax = 0;
		for (int i = 0; i < t.n_rows; i++)
			if (isfinite(num(&t, i, m)))
				vmax = fmax(vmax, num(&t, i, m));
		ods_plot_begin(&p, &svg, 620, 340, m == 1 ? "Mean surprisal per condition" : "Mean KL(P||Q) per condition",
			       "condition", m == 1 ? "surprisal (nats)" : "KL (nats)", 0, t.n_rows, 0,
			       vmax > 0 ? vmax * 1.1 : 1, 0, 0, 1);
		for (int i = 0; i < t.n_rows; i++) {
			double v = isfinite(num(&t, i, m)) ? num(&t, i, m) : 0;
			double x0 = ods_plot_x(&p, i + 0.15), x1 = ods_plot_x(&p, i + 0.85);
			const char *c = str(&t, i, 0);
			const char *col = !strcmp(c, "full") ? palette[0]
					  : strstr(c, "random") ? "#999999"
					  : strstr(c, "_ods") ? palette[1] : palette[2];
			char *e = ods_html_escape(c);
			ods_sb_printf(&svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
				      x0, ods_plot_y(&p, v), x1 - x0, ods_plot_y(&p, 0) - ods_plot_y(&p, v), col);
			ods_sb_printf(&svg, "<text transform=\"translate(%.1f,%.1f) rotate(-45)\" "
					    "text-anchor=\"end\" font-size=\"9\">%s</text>\n",
				      (x0 + x1) / 2, p.h - p.mb + 12, e);
			free(e);
		}
		ods_plot_end(&p);
		if ((rc = add_figure(r, m == 1 ? "surprisal" : "kl", &svg,
				     m == 1 ? "Mean surprisal of the gold next token per ablation condition."
					    : "Mean KL divergence from the full model per ablation condition.")))
			break;
	}
	ods_xtab_release(&t);
	return rc;
}

static int section_table(struct report *r, const char *title, const char *table, const char *extra_note)
{
	struct ods_export_opts o = {0};
	struct ods_xtab t;
	char runs[32];
	int rc;
	snprintf(runs, sizeof runs, "%lld", (long long)r->run);
	o.table = table;
	o.runs = runs;
	o.digits = r->digits;
	o.dim = -1;
	ods_sb_printf(&r->html, "<h2>%s</h2>\n", title);
	rc = ods_export_build(r->db, &o, &t, r->err);
	if (rc == ODS_ENOTFOUND) { /* the database lacks the table: say so, go on */
		note(r, r->err->msg);
		ods_xtab_release(&t);
		return 0;
	}
	if (!rc) {
		if (extra_note)
			note(r, extra_note);
		html_table(r, &t);
	}
	ods_xtab_release(&t);
	return rc;
}

int ods_report_write(struct ods_db *db, int64_t run_id, const char *dir, int digits, int *n_figs,
		     struct ods_err *err)
{
	struct report r = {db, run_id, dir, digits, 0, {0}, err};
	struct ods_export_opts o = {0};
	struct ods_xtab meta;
	char runs[32], path[4096];
	double threshold = 0;
	int rc;

	*n_figs = 0;
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return ods_err_set(err, ODS_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
	snprintf(runs, sizeof runs, "%lld", (long long)run_id);
	o.table = "runs";
	o.runs = runs;
	o.digits = digits;
	o.dim = -1;
	if ((rc = ods_export_build(db, &o, &meta, err))) {
		ods_xtab_release(&meta);
		return rc;
	}
	ods_sb_printf(&r.html,
		      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		      "<title>odscope report: run %lld</title>\n<style>\n"
		      "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\n"
		      "table{border-collapse:collapse;margin:1em 0;font-size:13px}\n"
		      "th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}\n"
		      "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
		      "th{border-bottom:2px solid #444}\nfigure{margin:1.5em 0}\n"
		      "figcaption{font-size:13px;color:#555}\n.note{color:#a60;font-style:italic}\n"
		      "code{white-space:pre;background:#f4f4f4}\n</style>\n</head>\n<body>\n"
		      "<h1>odscope report: run %lld</h1>\n",
		      (long long)run_id, (long long)run_id);
	/* metadata as a two-column table */
	ods_sb_puts(&r.html, "<h2>Run</h2>\n<table class=\"meta\">\n");
	for (int c = 0; c < meta.n_cols && meta.n_rows; c++) {
		char *k = ods_html_escape(meta.names[c]), *v = ods_html_escape(str(&meta, 0, c));
		ods_sb_printf(&r.html, "<tr><th>%s</th><td>%s</td></tr>\n", k, v);
		if (!strcmp(meta.names[c], "threshold"))
			threshold = num(&meta, 0, c);
		free(k);
		free(v);
	}
	ods_sb_puts(&r.html, "</table>\n");
	ods_xtab_release(&meta);

	if ((rc = section_table(&r, "Outlier dimensions", "ods", NULL)))
		goto out;
	ods_sb_puts(&r.html, "<h2>Figures</h2>\n");
	if ((rc = fig_dims(&r, threshold)))
		goto out;
	if (ods_db_has_table(db, "tokens")) {
		if ((rc = fig_tokens(&r)))
			goto out;
	} else {
		note(&r, "No token tables in this database (run 'odscope scan' with a newer odscope): "
			 "token figures skipped.");
	}
	if (ods_db_has_table(db, "ablations") && ods_db_has_table(db, "ablation_top1") &&
	    ods_db_has_table(db, "ablation_results")) {
		if ((rc = fig_predfreq(&r)) || (rc = fig_ablation(&r)))
			goto out;
	} else {
		note(&r, "No ablation tables in this database (run 'odscope ablate' with a newer odscope): "
			 "ablation figures skipped.");
	}
	if (ods_db_has_table(db, "tokens")) {
		struct ods_xtab t;
		ods_sb_puts(&r.html, "<h2>Promoted and suppressed tokens</h2>\n");
		if ((rc = query(&r, "SELECT t.dim, t.kind, t.rank, t.token_id, t.token, t.weight, "
				    "t.contribution, t.count, t.freq_rank FROM tokens t "
				    "LEFT JOIN ods o ON o.run_id = t.run_id AND o.dim = t.dim "
				    "WHERE t.run_id = ?1 AND t.rank <= 10 "
				    "ORDER BY o.rank IS NULL, o.rank, t.dim, t.kind <> 'promoted', t.rank",
				&t)))
			goto out;
		for (int c = 0; c < t.n_cols; c++)
			if (!strcmp(t.names[c], "token"))
				t.kinds[c] = ODS_XK_TOKEN;
		note(&r, "The ten strongest tokens of each kind per dimension (all ranks: "
			 "odscope export --table tokens).");
		html_table(&r, &t);
		ods_xtab_release(&t);
	}
	if ((rc = section_table(&r, "Ablation", "ablation", NULL)))
		goto out;
	ods_sb_printf(&r.html, "<p class=\"foot\">Generated by odscope %s from %s.</p>\n</body>\n</html>\n",
		      ODS_VERSION, db->path);
	ods_path_join(path, sizeof path, dir, "index.html");
	rc = write_file(path, r.html.p, r.html.n, err);
out:
	free(r.html.p);
	*n_figs = r.n_figs;
	return rc;
}
