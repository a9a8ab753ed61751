/* cmd_report.c - `odscope report`: one self-contained HTML page of a run. */
#include "cmd.h"
#include "odscope/export.h"
#include "odscope/store.h"

static const char *opt_db = ODS_DEFAULT_DB, *opt_out;
static int64_t opt_run;
static int opt_digits = 4;

const struct ods_opt opts_report[] = {
	{"--run", OPT_I64, &opt_run, "ID", "run id (default: the newest complete run)"},
	{"--out", OPT_STR, &opt_out, "DIR", "output directory (index.html and fig_*.svg)"},
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{"--digits", OPT_INT, &opt_digits, "N", "significant digits of real numbers (default 4)"},
	{0},
};

int cmd_report(void)
{
	struct ods_err err = {0};
	struct ods_db *db;
	int64_t run = opt_run;
	int rc, n_figs = 0;

	if (!opt_out)
		return ods_cmd_usage_error("report", "--out is required");
	if (opt_digits < 1 || opt_digits > 17)
		return ods_cmd_usage_error("report", "--digits must be between 1 and 17");
	if (ods_db_open(&db, opt_db, 1, &err))
		return ods_cmd_fail(&err);
	if (!(rc = run ? ods_db_check_run(db, run, &err) : ods_db_latest_run(db, &run, &err)))
		rc = ods_report_write(db, run, opt_out, opt_digits, &n_figs, &err);
	ods_db_close(db);
	if (rc)
		return ods_cmd_fail(&err);
	printf("%s/index.html: run %lld, %d figures\n", opt_out, (long long)run, n_figs);
	return 0;
}
