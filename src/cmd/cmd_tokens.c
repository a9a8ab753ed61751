/* cmd_tokens.c - `odscope tokens`: the tokens a dimension promotes and
 * suppresses through the unembedding. ODs are read from the run's stored
 * tables; any other dimension is computed on demand from the model. */
#include "cmd.h"
#include "odscope/link.h"
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/store.h"
#include "odscope/tok.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *opt_db = ODS_DEFAULT_DB, *opt_format = "table";
static int64_t opt_run;
static int opt_dim = -1, opt_top = 20, opt_digits = 4;

const struct ods_opt opts_tokens[] = {
	{"--dim", OPT_INT, &opt_dim, "D", "dimension (an OD or any other)"},
	{"--run", OPT_I64, &opt_run, "ID", "run id (default: the newest complete run)"},
	{"--top", OPT_INT, &opt_top, "K", "tokens per list (default 20)"},
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{"--format", OPT_STR, &opt_format, "F", "table (default), csv, tsv, json"},
	{"--digits", OPT_INT, &opt_digits, "N", "significant digits of real numbers (default 4)"},
	{0},
};

struct dim_info {
	int d_model, sign, is_od, stored_k;
	double mag, rho_w, rho_h;
	char rules[64], model_path[4096];
	int64_t counts_id;
};

static double col_real(sqlite3_stmt *st, int c)
{
	return sqlite3_column_type(st, c) == SQLITE_NULL ? NAN : sqlite3_column_double(st, c);
}

static int dim_info(struct ods_db *db, int64_t run, int d, struct dim_info *x, struct ods_err *err)
{
	sqlite3_stmt *st;
	int rc = ods_db_prepare(db, &st,
				"SELECT m.d_model, r.model_path, coalesce(r.counts_id, 0), di.sign, di.aq50, "
				"di.rules, c.rho_unemb_freq, c.rho_act_predfreq, "
				"(SELECT count(*) FROM ods o WHERE o.run_id = r.id AND o.dim = di.dim), "
				"(SELECT count(*) FROM tokens t WHERE t.run_id = r.id AND t.dim = di.dim AND "
				"t.kind = 'promoted') "
				"FROM runs r JOIN models m ON m.hash = r.model_hash "
				"LEFT JOIN dims di ON di.run_id = r.id AND di.dim = ? "
				"LEFT JOIN dim_corr c ON c.run_id = r.id AND c.dim = ? WHERE r.id = ?", err);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, d);
	sqlite3_bind_int(st, 2, d);
	sqlite3_bind_int64(st, 3, run);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return ods_db_error(db, "cannot read the run", err);
	}
	x->d_model = sqlite3_column_int(st, 0);
	snprintf(x->model_path, sizeof x->model_path, "%s", (const char *)sqlite3_column_text(st, 1));
	x->counts_id = sqlite3_column_int64(st, 2);
	x->sign = sqlite3_column_int(st, 3);
	x->mag = sqlite3_column_double(st, 4);
	snprintf(x->rules, sizeof x->rules, "%s",
		 sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "");
	x->rho_w = col_real(st, 6);
	x->rho_h = col_real(st, 7);
	x->is_od = sqlite3_column_int(st, 8) > 0;
	x->stored_k = sqlite3_column_int(st, 9);
	sqlite3_finalize(st);
	if (d < 0 || d >= x->d_model)
		return ods_err_set(err, ODS_EINVAL, "--dim %d is outside the model's %d dimensions", d,
				   x->d_model);
	return 0;
}

/* Compute the lists of a dimension into the temp table tokens_q. */
static int compute(struct ods_db *db, int64_t run, int d, const struct dim_info *x,
		   struct ods_err *err)
{
	struct ods_model *m = NULL;
	struct ods_tok *tok = NULL;
	struct ods_link_result lr = {0};
	struct ods_link_opts lo = {0};
	struct ods_link_dim ld = {d, x->sign, x->mag};
	int64_t *counts = NULL;
	int32_t *frank = NULL;
	int rc, V;

	ods_ops_init(0);
	if ((rc = ods_model_open(&m, x->model_path, err))) {
		ods_err_prefix(err, "dimension %d is not an OD of run %lld, so its tokens are computed from "
				    "the model", d, (long long)run);
		goto out;
	}
	if ((rc = ods_tok_open(&tok, x->model_path, err)))
		goto out;
	V = m->cfg.n_vocab;
	counts = ods_xmalloc((size_t)V * sizeof *counts);
	frank = ods_xmalloc((size_t)V * sizeof *frank);
	if ((rc = x->counts_id ? ods_db_load_counts(db, "counts", x->counts_id, V, counts, err)
			       : ods_db_load_counts(db, "freq", run, V, counts, err)))
		goto out;
	ods_freq_ranks(counts, V, frank);
	lo.top_k = opt_top;
	lo.mem_bytes = (size_t)1 << 30;
	if ((rc = ods_link_unemb(m, counts, &ld, 1, &lo, &lr, err)))
		goto out;
	rc = ods_db_store_token_lists(db, "temp.tokens_q", run, d, lr.promoted, lr.suppressed, lr.top_k,
				      tok, counts, frank, err);
out:
	ods_link_result_release(&lr);
	ods_model_free(m);
	ods_tok_free(tok);
	free(counts);
	free(frank);
	return rc;
}

int cmd_tokens(void)
{
	struct ods_err err = {0};
	struct ods_db *db;
	struct dim_info x = {0};
	sqlite3_stmt *st = NULL;
	int fmt, rc;
	int64_t run = opt_run;
	const char *src;
	char sql[512];

	if (opt_dim < 0)
		return ods_cmd_usage_error("tokens", "--dim D is required (D >= 0)");
	if (opt_top < 1)
		return ods_cmd_usage_error("tokens", "--top must be positive");
	if (ods_fmt_parse(opt_format, &fmt))
		return ods_cmd_usage_error("tokens", "unknown format '%s'", opt_format);
	if (ods_db_open(&db, opt_db, 1, &err))
		return ods_cmd_fail(&err);
	if ((rc = run ? ods_db_check_run(db, run, &err) : ods_db_latest_run(db, &run, &err)) ||
	    (rc = dim_info(db, run, opt_dim, &x, &err)))
		goto out;
	if (x.is_od && x.stored_k >= opt_top) {
		src = "main.tokens";
	} else {
		src = "temp.tokens_q";
		if ((rc = ods_db_exec(db, "CREATE TEMP TABLE tokens_q AS SELECT * FROM main.tokens WHERE 0",
				      &err)) ||
		    (rc = compute(db, run, opt_dim, &x, &err)))
			goto out;
	}
	if (fmt == ODS_FMT_TABLE) {
		printf("dim %d (run %lld): sign %+d, m_d %.*g, rho(sigma W_U[:,d], freq) %.3f, "
		       "rho(h_d, freq of top-1) %.3f, %s%s\n",
		       opt_dim, (long long)run, x.sign ? x.sign : 1, opt_digits, x.mag, x.rho_w, x.rho_h,
		       x.is_od ? "OD under: " : "not an OD", x.is_od ? x.rules : "");
	}
	snprintf(sql, sizeof sql,
		 "SELECT dim, kind, rank, token_id, token, weight, contribution, count, freq_rank "
		 "FROM %s WHERE run_id = ? AND dim = ? AND rank <= ? "
		 "ORDER BY kind = 'suppressed', rank", src);
	if ((rc = ods_db_prepare(db, &st, sql, &err)))
		goto out;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int(st, 2, opt_dim);
	sqlite3_bind_int(st, 3, opt_top);
	rc = ods_db_print(db, st, fmt, opt_digits, stdout, &err);
	rc = rc < 0 ? rc : 0;
out:
	sqlite3_finalize(st);
	ods_db_close(db);
	return rc ? ods_cmd_fail(&err) : 0;
}
