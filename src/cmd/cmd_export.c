/* cmd_export.c - `odscope export`: paper-ready tables from the database. */
#include "cmd.h"
#include "odscope/export.h"
#include "odscope/store.h"

#include <errno.h>
#include <string.h>

static const char *opt_db = ODS_DEFAULT_DB, *opt_table, *opt_format = "csv", *opt_run, *opt_out,
		  *opt_by, *opt_conditions, *opt_rule, *opt_caption;
static int opt_digits = 4;
static int64_t opt_dim = -1, opt_limit;

const struct ods_opt opts_export[] = {
	{"--table", OPT_STR, &opt_table, "T",
	 "runs, ods, tokens, ablation, freq, dims, corr, top1, or compare (runs side by side)"},
	{"--format", OPT_STR, &opt_format, "F", "csv (default), tsv, latex, markdown, json, html"},
	{"--run", OPT_STR, &opt_run, "ID[,ID...]",
	 "runs to export, or 'all' (default: the newest complete run; all for runs and compare)"},
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{"--out", OPT_STR, &opt_out, "F", "write to F instead of standard output"},
	{"--digits", OPT_INT, &opt_digits, "N", "significant digits of real numbers (default 4)"},
	{"--by", OPT_STR, &opt_by, "L", "compare: row label model (default), checkpoint, corpus, run"},
	{"--conditions", OPT_STR, &opt_conditions, "LIST",
	 "compare: ablation condition groups (full, ablate_ods, only_ods, ablate_out, only_out, "
	 "ablate_random, only_random)"},
	{"--rule", OPT_STR, &opt_rule, "R", "ods: only dimensions flagged by quantile, fraction, zscore or int8"},
	{"--dim", OPT_I64, &opt_dim, "D", "ods, tokens, dims, corr: only this dimension"},
	{"--limit", OPT_I64, &opt_limit, "N", "at most N rows"},
	{"--caption", OPT_STR, &opt_caption, "TEXT", "LaTeX caption (default: title, model, corpus, rule)"},
	{0},
};

int cmd_export(void)
{
	struct ods_err err = {0};
	struct ods_export_opts o = {0};
	struct ods_xtab t;
	struct ods_db *db;
	FILE *out = stdout;
	int fmt, rc;

	if (!opt_table)
		return ods_cmd_usage_error("export", "--table is required");
	if (ods_xfmt_parse(opt_format, &fmt))
		return ods_cmd_usage_error("export", "unknown format '%s'", opt_format);
	if (opt_digits < 1 || opt_digits > 17)
		return ods_cmd_usage_error("export", "--digits must be between 1 and 17");
	o.table = opt_table;
	o.runs = opt_run;
	o.digits = opt_digits;
	o.by = opt_by;
	o.conditions = opt_conditions;
	o.rule = opt_rule;
	o.dim = opt_dim;
	o.limit = opt_limit;
	o.caption = opt_caption;
	if (ods_db_open(&db, opt_db, 1, &err))
		return ods_cmd_fail(&err);
	rc = ods_export_build(db, &o, &t, &err);
	ods_db_close(db);
	if (rc) {
		ods_xtab_release(&t);
		return rc == ODS_EINVAL ? ods_cmd_usage_error("export", "%s", err.msg) : ods_cmd_fail(&err);
	}
	if (opt_out && !(out = fopen(opt_out, "w"))) {
		ods_err_set(&err, ODS_EIO, "%s: cannot write: %s", opt_out, strerror(errno));
		ods_xtab_release(&t);
		return ods_cmd_fail(&err);
	}
	rc = ods_xtab_write(&t, fmt, out);
	if (opt_out && fclose(out) != 0)
		rc = ODS_EIO;
	ods_xtab_release(&t);
	if (rc) {
		ods_err_set(&err, ODS_EIO, "%s: write failed", opt_out ? opt_out : "standard output");
		return ods_cmd_fail(&err);
	}
	return 0;
}
