/* cmd_query.c - `odscope ods` and `odscope runs`: read the database. */
#include "cmd.h"
#include "odscope/store.h"

#include <string.h>

static const char *opt_db = ODS_DEFAULT_DB, *opt_format = "table", *opt_rule;
static int64_t opt_run;
static int opt_digits = 4;

const struct ods_opt opts_ods[] = {
	{"--run", OPT_I64, &opt_run, "ID", "run id (default: the newest complete run)"},
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{"--rule", OPT_STR, &opt_rule, "R", "quantile, fraction, zscore, int8, or any (default: the run's rule)"},
	{"--format", OPT_STR, &opt_format, "F", "table (default), csv, tsv, json"},
	{"--digits", OPT_INT, &opt_digits, "N", "significant digits of real numbers (default 4)"},
	{0},
};

const struct ods_opt opts_runs[] = {
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{"--format", OPT_STR, &opt_format, "F", "table (default), csv, tsv, json"},
	{"--digits", OPT_INT, &opt_digits, "N", "significant digits of real numbers (default 4)"},
	{0},
};

int ods_print_ods(struct ods_db *db, int64_t run_id, const char *rule, int fmt, int digits,
		  struct ods_err *err)
{
	static const struct {
		const char *rule, *where;
	} filters[] = {
		{"quantile", "o.quantile = 1"}, {"fraction", "o.fraction = 1"},
		{"zscore", "o.zscore_rule = 1"}, {"int8", "o.int8 = 1"}, {"any", "1"},
	};
	const char *where = NULL;
	char sql[1024];
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
		if (!strcmp(rule, filters[i].rule))
			where = filters[i].where;
	if (!where)
		return ods_err_set(err, ODS_EINVAL, "unknown rule '%s'", rule);
	snprintf(sql, sizeof sql,
		 "SELECT o.dim, o.rank, o.sign, o.median_abs, o.q_loc_abs, o.zscore, o.frac_above, "
		 "o.quantile, o.fraction, o.zscore_rule, o.int8, o.borderline, "
		 "c.rho_unemb_freq AS rho_unemb_freq, c.rho_act_predfreq AS rho_act_predfreq, "
		 "(SELECT group_concat(token, ' | ') FROM (SELECT t.token FROM tokens t "
		 " WHERE t.run_id = o.run_id AND t.dim = o.dim AND t.kind = 'promoted' AND t.rank <= 5 "
		 " ORDER BY t.rank)) AS top_promoted "
		 "FROM ods o LEFT JOIN dim_corr c ON c.run_id = o.run_id AND c.dim = o.dim "
		 "WHERE o.run_id = ? AND %s ORDER BY o.rank", where);
	if ((rc = ods_db_prepare(db, &st, sql, err)))
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	rc = ods_db_print(db, st, fmt, digits, stdout, err);
	sqlite3_finalize(st);
	if (rc == 0 && fmt == ODS_FMT_TABLE)
		printf("(no outlier dimensions under rule '%s')\n", rule);
	return rc < 0 ? rc : 0;
}

static int run_rule(struct ods_db *db, int64_t run_id, char *buf, size_t cap, struct ods_err *err)
{
	sqlite3_stmt *st;
	int rc = ods_db_prepare(db, &st, "SELECT rule FROM runs WHERE id = ?", err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

int cmd_ods(void)
{
	struct ods_err err = {0};
	struct ods_db *db;
	int fmt, rc;
	int64_t run = opt_run;
	char rule[32] = "quantile";

	if (ods_fmt_parse(opt_format, &fmt))
		return ods_cmd_usage_error("ods", "unknown format '%s'", opt_format);
	if (ods_db_open(&db, opt_db, 1, &err))
		return ods_cmd_fail(&err);
	if (!(rc = run ? ods_db_check_run(db, run, &err) : ods_db_latest_run(db, &run, &err)) &&
	    !(rc = run_rule(db, run, rule, sizeof rule, &err)))
		rc = ods_print_ods(db, run, opt_rule ? opt_rule : rule, fmt, opt_digits, &err);
	ods_db_close(db);
	return rc ? ods_cmd_fail(&err) : 0;
}

int cmd_runs(void)
{
	struct ods_err err = {0};
	struct ods_db *db;
	sqlite3_stmt *st;
	int fmt, rc;

	if (ods_fmt_parse(opt_format, &fmt))
		return ods_cmd_usage_error("runs", "unknown format '%s'", opt_format);
	if (ods_db_open(&db, opt_db, 1, &err))
		return ods_cmd_fail(&err);
	rc = ods_db_prepare(db, &st,
			    "SELECT r.id, r.status, m.model_type, r.model_path, r.corpus_path, r.n_docs, "
			    "r.n_tokens, r.n_inputs, r.rule, r.threshold, r.n_ods, r.kurtosis, r.exact, "
			    "r.started_at, r.finished_at FROM runs r JOIN models m ON m.hash = r.model_hash "
			    "ORDER BY r.id", &err);
	if (!rc) {
		rc = ods_db_print(db, st, fmt, opt_digits, stdout, &err);
		sqlite3_finalize(st);
		rc = rc < 0 ? rc : 0;
	}
	ods_db_close(db);
	return rc ? ods_cmd_fail(&err) : 0;
}
