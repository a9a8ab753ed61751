/* export.h - paper-ready tables (CSV, TSV, LaTeX, Markdown, JSON, HTML),
 * cross-run comparison tables, SVG figures and the HTML report of a run.
 *
 * Every exported table is one row of a registry (src/export/tables.c): a
 * name, the tables it needs, a SELECT filtered by the selected runs and the
 * column formats. The SELECT runs into an in-memory struct ods_xtab that each
 * writer prints; so a new table needs only a registry row.
 *
 * Ownership: struct ods_xtab is filled by ods_xtab_query / ods_export_build
 * and released with ods_xtab_release; strings in struct ods_export_opts are
 * borrowed.
 */
#ifndef ODS_EXPORT_H
#define ODS_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "odscope/err.h"

struct ods_db;

enum ods_xfmt { ODS_XFMT_CSV, ODS_XFMT_TSV, ODS_XFMT_LATEX, ODS_XFMT_MARKDOWN, ODS_XFMT_JSON,
		ODS_XFMT_HTML };
int ods_xfmt_parse(const char *s, int *fmt);

/* Column kinds: integer, real (printed with `digits` significant digits),
 * text, token (a vocabulary string: monospace, visible spaces in LaTeX). */
enum ods_xkind { ODS_XK_AUTO, ODS_XK_INT, ODS_XK_REAL, ODS_XK_TEXT, ODS_XK_TOKEN };

/* A query result held in memory. Cell text is NULL for SQL NULL; numbers
 * are already formatted with the table's digits, num[] keeps their values
 * (NaN for text and NULL). A column name "GROUP.metric" puts the column
 * under a spanning GROUP header in LaTeX. */
struct ods_xtab {
	int n_cols, n_rows, cap_rows;
	char **names;   /* [n_cols] */
	char **labels;  /* [n_cols] LaTeX header (NULL: the escaped name) */
	int *kinds;     /* [n_cols] enum ods_xkind, resolved (never AUTO after a query) */
	char **cells;   /* [n_rows * n_cols] */
	double *num;    /* [n_rows * n_cols] */
	char *title;    /* "Outlier dimensions" */
	char *caption;  /* LaTeX caption (already LaTeX), NULL for none */
	char *label;    /* LaTeX \label, NULL for none */
	char *source;   /* "odscope export --table ods --run 1" for a comment line */
};

void ods_xtab_release(struct ods_xtab *t);
/* Run a prepared statement into t (t zeroed by the caller). */
struct sqlite3_stmt;
int ods_xtab_fill(struct ods_db *db, struct sqlite3_stmt *st, int digits, struct ods_xtab *t,
		  struct ods_err *err);
/* Drop the columns whose every cell is NULL. */
void ods_xtab_drop_empty(struct ods_xtab *t);
/* Write t in fmt. Returns 0 or ODS_EIO (err names `what`). */
int ods_xtab_write(const struct ods_xtab *t, int fmt, FILE *out);
/* Escape text for LaTeX (_ % & # $ { } ~ ^ \ and characters outside Latin-1
 * as U+XXXX); token: monospace with visible spaces. Returns a malloc'd string. */
char *ods_latex_escape(const char *s, int token);
/* Escape text for HTML (& < > " '). Returns a malloc'd string. */
char *ods_html_escape(const char *s);

struct ods_export_opts {
	const char *table;   /* runs, ods, tokens, ablation, freq, dims, corr, compare */
	const char *runs;    /* "3", "1,2,5", "all" or NULL: the table's default */
	int digits;          /* significant digits of reals (default 4) */
	const char *by;      /* compare: row label model|checkpoint|corpus|run (default model) */
	const char *conditions; /* compare: ablation condition groups, comma-separated, or NULL */
	const char *rule;    /* ods: quantile|fraction|zscore|int8|any (default any) */
	int64_t dim;         /* tokens: only this dimension (-1: all) */
	int64_t limit;       /* at most this many rows (0: all) */
	const char *caption; /* overrides the generated caption */
};

/* Names of the exportable tables, NULL-terminated. */
extern const char *const ods_export_tables[];

/* Build the table o->table into t. Fails with a clear message when the
 * database lacks a table the export needs. */
int ods_export_build(struct ods_db *db, const struct ods_export_opts *o, struct ods_xtab *t,
		     struct ods_err *err);

/* Write the HTML report of a run into dir (created if missing):
 * dir/index.html (self-contained: inline SVG figures) and the figures
 * as dir/fig_*.svg. *n_figs receives the number of figures drawn. */
int ods_report_write(struct ods_db *db, int64_t run_id, const char *dir, int digits, int *n_figs,
		     struct ods_err *err);

/* Does the database have this table or view? */
int ods_db_has_table(struct ods_db *db, const char *name);

#endif
