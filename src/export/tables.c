/* tables.c - the registry of exportable tables and the cross-run comparison
 * table (see include/odscope/export.h).
 *
 * A registry row is a table name, the database tables it needs, a SELECT and
 * its column formats. The SELECT filters runs with
 * `IN (SELECT value FROM json_each(?1))` (?1 = JSON array of run ids) and has
 * one %s where option filters (`AND ...`) go. */
#include "odscope/export.h"
#include "odscope/store.h"
#include "odscope/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* basename of a path column in plain SQL (works in the sqlite3 shell too). */
#define BASENAME(p) \
	"replace(rtrim(" p ",'/'), rtrim(rtrim(" p ",'/'), replace(rtrim(" p ",'/'), '/', '')), '')"
#define RUNS_IN "IN (SELECT value FROM json_each(?1))"
/* ablation conditions in reading order: full, ODs, unembedding ODs, random, cumulative, single */
#define COND_ORDER(c) \
	"CASE WHEN " c " = 'full' THEN 0 WHEN " c " = 'ablate_ods' THEN 1 WHEN " c " = 'only_ods' THEN 2 " \
	"WHEN " c " = 'ablate_out' THEN 3 WHEN " c " = 'only_out' THEN 4 " \
	"WHEN " c " GLOB 'ablate_random_*' THEN 5 WHEN " c " GLOB 'only_random_*' THEN 6 " \
	"WHEN " c " GLOB 'cumulative_*' THEN 7 WHEN " c " GLOB 'single_*' THEN 8 ELSE 9 END, " \
	"length(" c "), " c

struct xcol {
	const char *name;
	int kind;          /* enum ods_xkind */
	const char *latex; /* LaTeX header, NULL: the escaped name */
};

struct xspec {
	const char *name;
	const char *title;   /* first sentence of the caption */
	const char *needs;   /* database tables, comma-separated */
	const char *missing; /* completes "no X table: " */
	int all_runs;        /* default selection: 1 all complete runs, 0 the newest */
	const char *dim_col; /* column for --dim, NULL: not applicable */
	int has_rule;        /* --rule applies */
	const char *sql;
	const struct xcol *cols;
};

static const struct xcol cols_runs[] = {
	{"run", ODS_XK_INT, NULL}, {"q_loc", ODS_XK_REAL, "$q_\\mathrm{loc}$"},
	{"q_glob", ODS_XK_REAL, "$q_\\mathrm{glob}$"}, {"threshold", ODS_XK_REAL, "threshold"},
	{"n_ods", ODS_XK_INT, "$|\\mathrm{ODs}|$"}, {"kurtosis", ODS_XK_REAL, "Kurt."},
	{"mmr", ODS_XK_REAL, "MMR"}, {"rel_err", ODS_XK_REAL, NULL},
	{"rho_norm_freq", ODS_XK_REAL, "$\\rho(\\|W_U\\|, f)$"}, {0},
};
static const struct xcol cols_ods[] = {
	{"run", ODS_XK_INT, NULL}, {"dim", ODS_XK_INT, "dim"}, {"sign", ODS_XK_INT, "sign"},
	{"median_abs", ODS_XK_REAL, "$m_d$"}, {"q_loc_abs", ODS_XK_REAL, "$q_\\mathrm{loc}(|h_d|)$"},
	{"zscore", ODS_XK_REAL, "$z$"}, {"frac_above", ODS_XK_REAL, "frac.\\ above"}, {0},
};
static const struct xcol cols_tokens[] = {
	{"run", ODS_XK_INT, NULL}, {"token", ODS_XK_TOKEN, "token"},
	{"weight", ODS_XK_REAL, "$W_U[t,d]$"}, {"contribution", ODS_XK_REAL, "$\\sigma_d m_d W_U[t,d]$"},
	{"count", ODS_XK_INT, "count"}, {0},
};
static const struct xcol cols_ablation[] = {
	{"run", ODS_XK_INT, NULL}, {"dims", ODS_XK_TEXT, NULL}, {"kind", ODS_XK_TEXT, NULL},
	{"mean_surprisal", ODS_XK_REAL, "surprisal"}, {"mean_entropy", ODS_XK_REAL, "entropy"},
	{"mean_kl", ODS_XK_REAL, "KL"}, {"accuracy", ODS_XK_REAL, "acc."},
	{"n_distinct_top1", ODS_XK_INT, "distinct top-1"}, {"freq_slope", ODS_XK_REAL, "freq.\\ slope"},
	{"freq_spearman", ODS_XK_REAL, "freq.\\ $\\rho$"}, {0},
};
static const struct xcol cols_freq[] = {
	{"run", ODS_XK_INT, NULL}, {"token", ODS_XK_TOKEN, "token"}, {"count", ODS_XK_INT, "count"},
	{"share", ODS_XK_REAL, "share"}, {0},
};
static const struct xcol cols_dims[] = {
	{"run", ODS_XK_INT, NULL}, {"rules", ODS_XK_TEXT, NULL}, {0},
};
static const struct xcol cols_corr[] = {
	{"run", ODS_XK_INT, NULL}, {"rho_unemb_freq", ODS_XK_REAL, "$\\rho(\\sigma_d W_U[:,d], f)$"},
	{"rho_act_predfreq", ODS_XK_REAL, "$\\rho(h_d, f_\\mathrm{pred})$"}, {0},
};
static const struct xcol cols_top1[] = {
	{"run", ODS_XK_INT, NULL}, {"token", ODS_XK_TOKEN, "token"},
	{"p_pred", ODS_XK_REAL, "$p_\\mathrm{pred}$"}, {"p_corpus", ODS_XK_REAL, "$p_\\mathrm{corp}$"},
	{0},
};

static const struct xspec specs[] = {
	{"runs", "Runs", "runs,models", NULL, 1, NULL, 0,
	 "SELECT r.id AS run, " BASENAME("r.model_path") " AS model, m.model_type AS arch, "
	 BASENAME("r.corpus_path") " AS corpus, r.n_docs, r.n_tokens, r.n_inputs, r.rule, r.q_loc, "
	 "r.q_glob, r.threshold, r.n_ods, r.kurtosis, r.mmr, r.exact, r.rel_err, r.rho_norm_freq, "
	 "r.n_unemb_ods, r.n_overlap, r.tool_version, "
	 "r.started_at, r.finished_at, r.model_path, r.corpus_path "
	 "FROM runs r JOIN models m ON m.hash = r.model_hash WHERE r.id " RUNS_IN "%s ORDER BY r.id",
	 cols_runs},
	{"ods", "Outlier dimensions", "ods", NULL, 0, "o.dim", 1,
	 "SELECT o.run_id AS run, o.dim, o.rank, o.sign, o.median_abs, o.q_loc_abs, o.zscore, "
	 "o.frac_above, o.quantile, o.fraction, o.zscore_rule, o.int8, o.borderline "
	 "FROM ods o WHERE o.run_id " RUNS_IN "%s ORDER BY o.run_id, o.rank",
	 cols_ods},
	{"tokens", "Tokens promoted and suppressed by the outlier dimensions", "tokens",
	 "run 'odscope scan' with a newer odscope", 0, "t.dim", 0,
	 "SELECT t.run_id AS run, t.dim, t.kind, t.rank, t.token_id, t.token, t.weight, t.contribution, "
	 "t.count, t.freq_rank FROM tokens t LEFT JOIN ods o ON o.run_id = t.run_id AND o.dim = t.dim "
	 "WHERE t.run_id " RUNS_IN "%s "
	 "ORDER BY t.run_id, o.rank IS NULL, o.rank, t.dim, t.kind <> 'promoted', t.rank",
	 cols_tokens},
	{"ablation", "Ablation of the outlier dimensions", "ablations,ablation_results",
	 "run 'odscope ablate' with a newer odscope", 0, NULL, 0,
	 "SELECT a.run_id AS run, a.id AS ablation, x.condition, x.kind, x.only, x.n_dims, x.dims, "
	 "x.seed, x.mean_surprisal, "
	 "x.median_surprisal, x.mean_entropy, x.median_entropy, x.mean_kl, x.median_kl, x.accuracy, "
	 "x.n_distinct_top1, x.freq_slope, x.freq_spearman "
	 "FROM ablation_results x JOIN ablations a ON a.id = x.ablation_id "
	 "WHERE a.status = 'complete' AND a.run_id " RUNS_IN "%s "
	 "ORDER BY a.run_id, a.id, " COND_ORDER("x.condition"),
	 cols_ablation},
	{"freq", "Token frequencies of the corpus", "freq,runs", NULL, 0, NULL, 0,
	 "SELECT f.run_id AS run, f.token_id, v.text AS token, f.count, "
	 "CAST(f.count AS REAL) / r.n_tokens AS share, "
	 "rank() OVER (PARTITION BY f.run_id ORDER BY f.count DESC) AS freq_rank "
	 "FROM freq f JOIN runs r ON r.id = f.run_id "
	 "LEFT JOIN vocab v ON v.model_hash = r.model_hash AND v.token_id = f.token_id "
	 "WHERE f.run_id " RUNS_IN "%s ORDER BY f.run_id, f.count DESC, f.token_id",
	 cols_freq},
	{"dims", "Per-dimension statistics of the final hidden state", "dims", NULL, 0, "d.dim", 0,
	 "SELECT d.run_id AS run, d.dim, d.count, d.mean, d.std, d.min, d.max, d.mean_abs, d.rms, "
	 "d.q01, d.q05, d.q25, d.q50, d.q75, d.q95, d.q99, d.aq01, d.aq05, d.aq25, d.aq50, d.aq75, "
	 "d.aq95, d.aq99, d.q_loc_abs, d.frac_above, d.zscore, d.sign, d.rules, d.borderline "
	 "FROM dims d WHERE d.run_id " RUNS_IN "%s ORDER BY d.run_id, d.dim",
	 cols_dims},
	{"corr", "Spearman correlations of each dimension with token frequency", "dim_corr",
	 "run 'odscope scan' with a newer odscope", 0, "c.dim", 0,
	 "SELECT c.run_id AS run, c.dim, o.rank AS od_rank, c.rho_unemb_freq, c.rho_act_predfreq "
	 "FROM dim_corr c LEFT JOIN ods o ON o.run_id = c.run_id AND o.dim = c.dim "
	 "WHERE c.run_id " RUNS_IN "%s ORDER BY c.run_id, o.rank IS NULL, o.rank, c.dim",
	 cols_corr},
	{"top1", "Prediction frequency against corpus frequency", "ablations,ablation_top1",
	 "run 'odscope ablate' with a newer odscope", 0, NULL, 0,
	 "SELECT a.run_id AS run, p.condition, p.token_id, v.text AS token, p.n_top1, "
	 "CAST(p.n_top1 AS REAL) / a.n_inputs AS p_pred, f.count AS corpus_count, "
	 "CAST(f.count AS REAL) / r.n_tokens AS p_corpus "
	 "FROM ablation_top1 p JOIN ablations a ON a.id = p.ablation_id JOIN runs r ON r.id = a.run_id "
	 "LEFT JOIN freq f ON f.run_id = a.run_id AND f.token_id = p.token_id "
	 "LEFT JOIN vocab v ON v.model_hash = r.model_hash AND v.token_id = p.token_id "
	 "WHERE a.status = 'complete' AND a.run_id " RUNS_IN "%s "
	 "ORDER BY a.run_id, a.id, " COND_ORDER("p.condition") ", p.n_top1 DESC, p.token_id",
	 cols_top1},
	{"compare", "Outlier dimensions across runs", "runs,models,dims", NULL, 1, NULL, 0, NULL, NULL},
	{0},
};

const char *const ods_export_tables[] = {"runs", "ods",  "tokens", "ablation", "freq",
					 "dims", "corr", "top1",   "compare",  NULL};

int ods_db_has_table(struct ods_db *db, const char *name)
{
	sqlite3_stmt *st;
	int found = 0;
	if (sqlite3_prepare_v2(db->h,
			       "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* "…/pythia-160m/step143000" -> 143000: the number after the last "step" or
 * "checkpoint-" in the path; NULL if none. */
static void sql_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = (const char *)sqlite3_value_text(argv[0]), *best = NULL;
	(void)argc;
	if (!s) {
		sqlite3_result_null(ctx);
		return;
	}
	for (const char *p = s; *p; p++) {
		const char *q = NULL;
		if (!strncasecmp(p, "step", 4))
			q = p + 4;
		else if (!strncasecmp(p, "checkpoint", 10))
			q = p + 10;
		if (!q)
			continue;
		while (*q == '-' || *q == '_' || *q == '=')
			q++;
		if (isdigit((unsigned char)*q))
			best = q;
	}
	if (best)
		sqlite3_result_int64(ctx, strtoll(best, NULL, 10));
	else
		sqlite3_result_null(ctx);
}

/* Parse the run selection into a JSON array of ids ("[1,2]"). */
static int select_runs(struct ods_db *db, const char *spec, int all_default, char **json, int *n_runs,
		       struct ods_err *err)
{
	struct { char *p; size_t n, cap; } b = {0};
	char num[32];
	int rc = 0, n = 0;

	*json = NULL;
	b.cap = 64;
	b.p = ods_xmalloc(b.cap);
	strcpy(b.p, "[");
	b.n = 1;
#define PUT_ID(id)                                                                         \
	do {                                                                               \
		int k_ = snprintf(num, sizeof num, "%s%lld", n ? "," : "", (long long)(id)); \
		if (b.n + (size_t)k_ + 2 > b.cap)                                          \
			b.p = ods_xrealloc(b.p, b.cap *= 2);                               \
		memcpy(b.p + b.n, num, (size_t)k_ + 1);                                    \
		b.n += (size_t)k_;                                                         \
		n++;                                                                       \
	} while (0)
	if ((!spec && all_default) || (spec && !strcmp(spec, "all"))) {
		sqlite3_stmt *st;
		if ((rc = ods_db_prepare(db, &st, "SELECT id FROM runs WHERE status = 'complete' ORDER BY id",
					 err)))
			goto out;
		while (sqlite3_step(st) == SQLITE_ROW)
			PUT_ID(sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
		if (!n) {
			rc = ods_err_set(err, ODS_ENOTFOUND, "%s: no complete run", db->path);
			goto out;
		}
	} else if (!spec) {
		int64_t id;
		if ((rc = ods_db_latest_run(db, &id, err)))
			goto out;
		PUT_ID(id);
	} else {
		const char *p = spec;
		while (*p) {
			char *end;
			long long id = strtoll(p, &end, 10);
			if (end == p || id <= 0 || (*end && *end != ',')) {
				rc = ods_err_set(err, ODS_EINVAL, "bad run list '%s' (expected IDs like 1,2,5 or 'all')",
						 spec);
				goto out;
			}
			if ((rc = ods_db_check_run(db, id, err)))
				goto out;
			PUT_ID(id);
			p = *end ? end + 1 : end;
		}
		if (!n) {
			rc = ods_err_set(err, ODS_EINVAL, "empty run list");
			goto out;
		}
	}
#undef PUT_ID
	strcat(b.p, "]");
	*json = b.p;
	*n_runs = n;
	return 0;
out:
	free(b.p);
	return rc;
}

/* The caption: title, then the models, corpora and rules of the selected runs. */
static char *make_caption(struct ods_db *db, const char *title, const char *runs_json)
{
	sqlite3_stmt *st;
	char *cap = NULL;
	const char *sql =
		"SELECT replace(group_concat(DISTINCT " BASENAME("model_path") "), ',', ', '), "
		"replace(group_concat(DISTINCT " BASENAME("corpus_path") "), ',', ', '), "
		"replace(group_concat(DISTINCT rule), ',', ', '), replace(group_concat(DISTINCT q_loc), ',', ', '), "
		"replace(group_concat(DISTINCT q_glob), ',', ', '), "
		"count(*) FROM runs WHERE id " RUNS_IN;
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, runs_json, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *f[5];
		char *e[5];
		for (int i = 0; i < 5; i++) {
			f[i] = (const char *)sqlite3_column_text(st, i);
			e[i] = ods_latex_escape(f[i] ? f[i] : "?", 0);
		}
		size_t n = strlen(title) + strlen(e[0]) + strlen(e[1]) + strlen(e[2]) + strlen(e[3]) +
			   strlen(e[4]) + 256;
		cap = ods_xmalloc(n);
		snprintf(cap, n,
			 "%s. Model%s \\texttt{%s}, corpus%s \\texttt{%s}, rule %s "
			 "($q_\\mathrm{loc}=%s$, $q_\\mathrm{glob}=%s$).",
			 title, f[0] && strchr(f[0], ',') ? "s" : "", e[0],
			 f[1] && strchr(f[1], ',') ? "s" : "", e[1], e[2], e[3], e[4]);
		for (int i = 0; i < 5; i++)
			free(e[i]);
	}
	sqlite3_finalize(st);
	return cap;
}

/* Give each column of a prepared statement its format from the spec. */
static void apply_cols(struct ods_xtab *t, sqlite3_stmt *st, const struct xcol *cols)
{
	int nc = sqlite3_column_count(st);
	t->kinds = ods_xcalloc((size_t)nc, sizeof *t->kinds);
	t->labels = ods_xcalloc((size_t)nc, sizeof *t->labels);
	for (int c = 0; c < nc; c++)
		for (const struct xcol *x = cols; x && x->name; x++)
			if (!strcmp(x->name, sqlite3_column_name(st, c))) {
				t->kinds[c] = x->kind;
				t->labels[c] = x->latex ? ods_xstrdup(x->latex) : NULL;
			}
}

/* ---- the cross-run comparison table ---- */

struct metric {
	const char *col, *name, *latex;
};
static const struct metric metrics[] = {
	{"mean_surprisal", "surprisal", "surpr."}, {"mean_entropy", "entropy", "entr."},
	{"mean_kl", "kl", "KL"},                   {"accuracy", "acc", "acc."},
	{"freq_slope", "slope", "slope"},
};
/* condition groups: a name and the GLOB of the conditions averaged into it */
static const struct {
	const char *name, *glob;
} cgroups[] = {
	{"full", "full"},
	{"ablate_ods", "ablate_ods"},
	{"only_ods", "only_ods"},
	{"ablate_out", "ablate_out"},
	{"only_out", "only_out"},
	{"ablate_random", "ablate_random_*"},
	{"only_random", "only_random_*"},
};

static void sb_cat(char **s, size_t *cap, const char *add)
{
	size_t n = strlen(*s), k = strlen(add);
	if (n + k + 1 > *cap) {
		*cap = (n + k + 1) * 2;
		*s = ods_xrealloc(*s, *cap);
	}
	memcpy(*s + n, add, k + 1);
}

static int in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		if (k == n && !strncmp(p, name, n))
			return 1;
		p = e ? e + 1 : p + k;
	}
	return 0;
}

static int build_compare(struct ods_db *db, const struct ods_export_opts *o, const char *runs_json,
			 struct ods_xtab *t, struct ods_err *err)
{
	const char *by = o->by ? o->by : "model", *label, *order = "r.id";
	int ablation = ods_db_has_table(db, "ablations") && ods_db_has_table(db, "ablation_results");
	size_t cap = 4096;
	char *sql = ods_xmalloc(cap), buf[1024];
	sqlite3_stmt *st;
	int rc;

	if (!strcmp(by, "model"))
		label = BASENAME("r.model_path") " AS model";
	else if (!strcmp(by, "checkpoint")) {
		label = "ods_step(r.model_path) AS step";
		order = "ods_step(r.model_path), r.id";
	} else if (!strcmp(by, "corpus"))
		label = BASENAME("r.corpus_path") " AS corpus";
	else if (!strcmp(by, "run"))
		label = "r.id AS run";
	else {
		free(sql);
		return ods_err_set(err, ODS_EINVAL, "unknown --by '%s' (model, checkpoint, corpus, run)", by);
	}
	if (o->conditions) { /* every named condition group must exist */
		for (const char *p = o->conditions; *p;) {
			const char *e = strchr(p, ',');
			size_t k = e ? (size_t)(e - p) : strlen(p), i;
			for (i = 0; i < sizeof cgroups / sizeof cgroups[0]; i++)
				if (strlen(cgroups[i].name) == k && !strncmp(cgroups[i].name, p, k))
					break;
			if (i == sizeof cgroups / sizeof cgroups[0]) {
				free(sql);
				return ods_err_set(err, ODS_EINVAL,
						   "unknown condition '%.*s' (full, ablate_ods, only_ods, "
						   "ablate_out, only_out, ablate_random, only_random)",
						   (int)k, p);
			}
			p = e ? e + 1 : p + k;
		}
	}
	sqlite3_create_function(db->h, "ods_step", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_step,
				NULL, NULL);
	snprintf(sql, cap,
		 "WITH last AS (SELECT run_id, max(id) AS aid FROM %s GROUP BY run_id) "
		 "SELECT %s, r.n_ods AS n_ods, "
		 "(SELECT max(zscore) FROM dims d WHERE d.run_id = r.id) AS max_zscore, "
		 "r.kurtosis AS kurtosis",
		 ablation ? "ablations WHERE status = 'complete'" : "(SELECT 0 AS run_id, 0 AS id)", label);
	for (size_t g = 0; ablation && g < sizeof cgroups / sizeof cgroups[0]; g++) {
		if (o->conditions && !in_list(o->conditions, cgroups[g].name))
			continue;
		for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
			if (!strcmp(cgroups[g].name, "full") && !strcmp(metrics[m].name, "kl"))
				continue; /* KL(P||P) = 0 */
			snprintf(buf, sizeof buf,
				 ", (SELECT avg(x.%s) FROM ablation_results x WHERE x.ablation_id = l.aid "
				 "AND x.condition GLOB '%s') AS \"%s.%s\"",
				 metrics[m].col, cgroups[g].glob, cgroups[g].name, metrics[m].name);
			sb_cat(&sql, &cap, buf);
		}
	}
	snprintf(buf, sizeof buf,
		 " FROM runs r LEFT JOIN last l ON l.run_id = r.id WHERE r.id " RUNS_IN " ORDER BY %s",
		 order);
	sb_cat(&sql, &cap, buf);
	if (o->limit > 0) {
		snprintf(buf, sizeof buf, " LIMIT %lld", (long long)o->limit);
		sb_cat(&sql, &cap, buf);
	}
	rc = ods_db_prepare(db, &st, sql, err);
	free(sql);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, runs_json, -1, SQLITE_TRANSIENT);
	{
		int nc = sqlite3_column_count(st);
		t->kinds = ods_xcalloc((size_t)nc, sizeof *t->kinds);
		t->labels = ods_xcalloc((size_t)nc, sizeof *t->labels);
		for (int c = 0; c < nc; c++) {
			const char *nm = sqlite3_column_name(st, c), *dot = strchr(nm, '.');
			t->kinds[c] = c == 0 && strcmp(by, "checkpoint") && strcmp(by, "run") ? ODS_XK_TEXT
				      : c == 0 || !strcmp(nm, "n_ods") ? ODS_XK_INT : ODS_XK_REAL;
			if (!strcmp(nm, "n_ods"))
				t->labels[c] = ods_xstrdup("$|\\mathrm{ODs}|$");
			else if (!strcmp(nm, "max_zscore"))
				t->labels[c] = ods_xstrdup("max $z$");
			else if (!strcmp(nm, "kurtosis"))
				t->labels[c] = ods_xstrdup("Kurt.");
			for (size_t m = 0; dot && m < sizeof metrics / sizeof metrics[0]; m++)
				if (!strcmp(dot + 1, metrics[m].name))
					t->labels[c] = ods_xstrdup(metrics[m].latex);
		}
	}
	rc = ods_xtab_fill(db, st, o->digits, t, err);
	sqlite3_finalize(st);
	if (!rc)
		ods_xtab_drop_empty(t);
	return rc;
}

int ods_export_build(struct ods_db *db, const struct ods_export_opts *o, struct ods_xtab *t,
		     struct ods_err *err)
{
	const struct xspec *x = NULL;
	char *runs_json = NULL, filter[256] = "", *sql = NULL;
	sqlite3_stmt *st = NULL;
	int rc, n_runs = 0;

	memset(t, 0, sizeof *t);
	for (const struct xspec *s = specs; s->name; s++)
		if (!strcmp(s->name, o->table))
			x = s;
	if (!x)
		return ods_err_set(err, ODS_EINVAL,
				   "unknown table '%s' (runs, ods, tokens, ablation, freq, dims, corr, top1, "
				   "compare)",
				   o->table);
	for (const char *p = x->needs; *p;) {
		char name[64];
		const char *e = strchr(p, ',');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		snprintf(name, sizeof name, "%.*s", (int)k, p);
		if (!ods_db_has_table(db, name))
			return ods_err_set(err, ODS_ENOTFOUND, "%s: no %s table%s%s%s", db->path, name,
					   x->missing ? " (" : "", x->missing ? x->missing : "",
					   x->missing ? ")" : "");
		p = e ? e + 1 : p + k;
	}
	if (o->dim >= 0 && !x->dim_col)
		return ods_err_set(err, ODS_EINVAL, "--dim does not apply to table '%s'", x->name);
	if (o->rule && !x->has_rule)
		return ods_err_set(err, ODS_EINVAL, "--rule does not apply to table '%s'", x->name);
	if ((o->by || o->conditions) && strcmp(x->name, "compare"))
		return ods_err_set(err, ODS_EINVAL, "--by and --conditions apply only to table 'compare'");
	if ((rc = select_runs(db, o->runs, x->all_runs, &runs_json, &n_runs, err)))
		return rc;

	if (!x->sql) {
		rc = build_compare(db, o, runs_json, t, err);
	} else {
		size_t n;
		if (o->dim >= 0)
			snprintf(filter, sizeof filter, " AND %s = %lld", x->dim_col, (long long)o->dim);
		if (o->rule && strcmp(o->rule, "any")) {
			static const char *const rules[][2] = {{"quantile", "quantile"},
							       {"fraction", "fraction"},
							       {"zscore", "zscore_rule"},
							       {"int8", "int8"}};
			size_t i;
			for (i = 0; i < 4; i++)
				if (!strcmp(o->rule, rules[i][0]))
					break;
			if (i == 4) {
				rc = ods_err_set(err, ODS_EINVAL, "unknown rule '%s'", o->rule);
				goto out;
			}
			snprintf(filter + strlen(filter), sizeof filter - strlen(filter), " AND o.%s = 1",
				 rules[i][1]);
		}
		{ /* the option filters go where the SELECT has %s */
			const char *at = strstr(x->sql, "%s");
			ODS_ASSERT(at);
			n = strlen(x->sql) + strlen(filter) + 64;
			sql = ods_xmalloc(n);
			snprintf(sql, n, "%.*s%s%s", (int)(at - x->sql), x->sql, filter, at + 2);
		}
		if (o->limit > 0)
			snprintf(sql + strlen(sql), n - strlen(sql), " LIMIT %lld", (long long)o->limit);
		if ((rc = ods_db_prepare(db, &st, sql, err)))
			goto out;
		sqlite3_bind_text(st, 1, runs_json, -1, SQLITE_TRANSIENT);
		apply_cols(t, st, x->cols);
		rc = ods_xtab_fill(db, st, o->digits, t, err);
	}
	if (!rc) {
		char src[512];
		t->title = ods_xstrdup(x->title);
		t->caption = o->caption ? ods_latex_escape(o->caption, 0) : make_caption(db, x->title, runs_json);
		snprintf(src, sizeof src, "tab:odscope-%s", x->name);
		t->label = ods_xstrdup(src);
		snprintf(src, sizeof src, "odscope %s: export --table %s, runs %s", ODS_VERSION, x->name,
			 runs_json);
		t->source = ods_xstrdup(src);
	}
out:
	sqlite3_finalize(st);
	free(sql);
	free(runs_json);
	return rc;
}
