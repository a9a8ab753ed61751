/* cmd_ablate.c - `odscope ablate`: the frequent-token test of DESIGN §4 on a
 * scan run's inputs. The inputs are recomputed by re-running the model over
 * the run's corpus with the run's window options (no hidden states are kept
 * on disk: N x D floats would dwarf the database, and one forward pass costs
 * less than reading them back for most corpora). */
#include "cmd.h"
#include "odscope/ablate.h"
#include "odscope/corpus.h"
#include "odscope/feed.h"
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/progress.h"
#include "odscope/store.h"
#include "odscope/tok.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *opt_db = ODS_DEFAULT_DB, *opt_dims, *opt_rule, *opt_positions = "all";
static int64_t opt_run;
static int opt_random = 10, opt_mean, opt_faithful, opt_per_input, opt_threads, opt_batch = 512;
static int64_t opt_seed = 1;

const struct ods_opt opts_ablate[] = {
	{"--run", OPT_I64, &opt_run, "ID", "scan run (default: the newest complete run)"},
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{"--rule", OPT_STR, &opt_rule, "R", "OD set: quantile, fraction, zscore, int8, any (default: the run's rule)"},
	{"--random", OPT_INT, &opt_random, "R", "random control sets (default 10)"},
	{"--seed", OPT_I64, &opt_seed, "S", "seed of the first random set (set r uses S + r - 1; default 1)"},
	{"--dims", OPT_STR, &opt_dims, "12,345", "also ablate / keep this set of dimensions"},
	{"--mean", OPT_FLAG, &opt_mean, NULL, "replace ablated dimensions by their corpus mean, not zero"},
	{"--faithful", OPT_FLAG, &opt_faithful, NULL, "apply the model's own logit bias / final soft-cap"},
	{"--positions", OPT_STR, &opt_positions, "P", "inputs: all (every position, gold = next token) or word:N"},
	{"--per-input", OPT_FLAG, &opt_per_input, NULL, "store per-input values (large)"},
	{"--batch", OPT_INT, &opt_batch, "N", "tokens per forward batch (default 512)"},
	{"--threads", OPT_INT, &opt_threads, "N", "threads (default: all cores)"},
	{0},
};

struct run_info {
	char model_path[4096], corpus_path[4096], model_hash[17], corpus_hash[17], rule[32], field[256];
	int ctx, stride, special;
	int64_t max_tokens, counts_id;
};

struct conds {
	struct ods_cond *v;
	int n;
};

static void add_cond(struct conds *cs, const char *name, const char *kind, int only, const int *dims,
		     int n, uint64_t seed)
{
	struct ods_cond *c;
	cs->v = ods_xrealloc(cs->v, (size_t)(cs->n + 1) * sizeof *cs->v);
	c = &cs->v[cs->n++];
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	snprintf(c->kind, sizeof c->kind, "%s", kind);
	c->only = only;
	c->n_dims = n;
	c->dims = ods_xmalloc((size_t)(n + 1) * sizeof *c->dims);
	memcpy(c->dims, dims, (size_t)n * sizeof *dims);
	c->seed = seed;
}

static void free_conds(struct conds *cs)
{
	for (int i = 0; i < cs->n; i++)
		free(cs->v[i].dims);
	free(cs->v);
}

static int read_run(struct ods_db *db, int64_t run, struct run_info *ri, struct ods_err *err)
{
	sqlite3_stmt *st;
	cJSON *o;
	int rc = ods_db_prepare(db, &st,
				"SELECT model_path, corpus_path, model_hash, corpus_hash, rule, options, "
				"coalesce(counts_id, 0) FROM runs WHERE id = ?", err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return ods_db_error(db, "cannot read the run", err);
	}
	snprintf(ri->model_path, sizeof ri->model_path, "%s", sqlite3_column_text(st, 0));
	snprintf(ri->corpus_path, sizeof ri->corpus_path, "%s", sqlite3_column_text(st, 1));
	snprintf(ri->model_hash, sizeof ri->model_hash, "%s", sqlite3_column_text(st, 2));
	snprintf(ri->corpus_hash, sizeof ri->corpus_hash, "%s", sqlite3_column_text(st, 3));
	snprintf(ri->rule, sizeof ri->rule, "%s", sqlite3_column_text(st, 4));
	o = cJSON_Parse((const char *)sqlite3_column_text(st, 5));
	ri->counts_id = sqlite3_column_int64(st, 6);
	sqlite3_finalize(st);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return ods_err_set(err, ODS_EFORMAT, "%s: run %lld has malformed options", db->path, (long long)run);
	}
	ri->ctx = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ctx")) > 0
			  ? (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ctx")) : 0;
	ri->special = cJSON_IsTrue(cJSON_GetObjectItem(o, "special"));
	ri->stride = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "stride")) > 0
			     ? (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "stride")) : 0;
	ri->max_tokens = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "max_tokens")) > 0
				 ? (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "max_tokens")) : 0;
	snprintf(ri->field, sizeof ri->field, "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(o, "field")) ? cJSON_GetStringValue(cJSON_GetObjectItem(o, "field")) : "");
	cJSON_Delete(o);
	return 0;
}

/* Dimensions of a query with one integer column. */
static int query_dims(struct ods_db *db, const char *sql, int64_t run, int **out, int *n,
		      struct ods_err *err)
{
	sqlite3_stmt *st;
	int rc = ods_db_prepare(db, &st, sql, err), step;
	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		*out = ods_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
		(*out)[(*n)++] = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : ods_db_error(db, "cannot read dimensions", err);
}

static int parse_dims(const char *s, int D, int **out, int *n, struct ods_err *err)
{
	*out = NULL;
	*n = 0;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || (*end && *end != ','))
			return ods_err_set(err, ODS_EINVAL, "--dims: expected comma-separated integers at '%s'", s);
		if (v < 0 || v >= D)
			return ods_err_set(err, ODS_EINVAL, "--dims: dimension %ld is outside [0, %d)", v, D);
		*out = ods_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
		(*out)[(*n)++] = (int)v;
		s = *end ? end + 1 : end;
	}
	if (!*n)
		return ods_err_set(err, ODS_EINVAL, "--dims: empty set");
	return 0;
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* k dimensions drawn without replacement from pool[n] with seed. */
static void draw(const int *pool, int n, int k, uint64_t seed, int *out)
{
	int *p = ods_xmalloc((size_t)(n ? n : 1) * sizeof *p);
	uint64_t x = seed;
	memcpy(p, pool, (size_t)n * sizeof *p);
	for (int i = 0; i < k; i++) {
		int j = i + (int)(splitmix(&x) % (uint64_t)(n - i)), t = p[i];
		p[i] = p[j];
		p[j] = t;
		out[i] = p[i];
	}
	free(p);
}

static int build_conds(struct ods_db *db, int64_t run, const char *rule, int D, struct conds *cs,
		       struct ods_err *err)
{
	static const struct {
		const char *rule, *col;
	} cols[] = {{"quantile", "quantile"}, {"fraction", "fraction"}, {"zscore", "zscore_rule"},
		    {"int8", "int8"}, {"any", "1"}};
	const char *col = NULL;
	char sql[256], name[48];
	int *ods = NULL, n_ods, *out = NULL, n_out, *any = NULL, n_any, *user = NULL, n_user = 0, rc;
	int *pool = NULL, n_pool = 0, *set = NULL;

	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		if (!strcmp(cols[i].rule, rule))
			col = cols[i].col;
	if (!col)
		return ods_err_set(err, ODS_EINVAL, "unknown rule '%s'", rule);
	snprintf(sql, sizeof sql, "SELECT dim FROM ods WHERE run_id = ? AND %s = 1 ORDER BY rank", col);
	if ((rc = query_dims(db, sql, run, &ods, &n_ods, err)) ||
	    (rc = query_dims(db, "SELECT dim FROM unemb_ods WHERE run_id = ? ORDER BY rank", run, &out,
			     &n_out, err)) ||
	    (rc = query_dims(db, "SELECT dim FROM ods WHERE run_id = ?", run, &any, &n_any, err)))
		goto out;
	if (opt_dims && (rc = parse_dims(opt_dims, D, &user, &n_user, err)))
		goto out;
	if (!n_ods && !n_user) {
		rc = ods_err_set(err, ODS_EINVAL,
				 "run %lld has no outlier dimensions under rule '%s': nothing to ablate "
				 "(give --dims or another --rule)", (long long)run, rule);
		goto out;
	}
	add_cond(cs, "full", "full", 0, NULL, 0, 0);
	if (n_ods) {
		add_cond(cs, "ablate_ods", "ods", 0, ods, n_ods, 0);
		add_cond(cs, "only_ods", "ods", 1, ods, n_ods, 0);
	}
	if (n_out) {
		add_cond(cs, "ablate_out", "out", 0, out, n_out, 0);
		add_cond(cs, "only_out", "out", 1, out, n_out, 0);
	}
	if (n_user) {
		add_cond(cs, "ablate_dims", "dims", 0, user, n_user, 0);
		add_cond(cs, "only_dims", "dims", 1, user, n_user, 0);
	}
	/* random controls: |ODs| dims from those that are neither kind of OD */
	pool = ods_xmalloc((size_t)D * sizeof *pool);
	for (int d = 0; d < D; d++) {
		int is = 0;
		for (int i = 0; i < n_any && !is; i++)
			is = any[i] == d;
		for (int i = 0; i < n_out && !is; i++)
			is = out[i] == d;
		if (!is)
			pool[n_pool++] = d;
	}
	{
		int k = n_ods ? n_ods : n_user;
		set = ods_xmalloc((size_t)(k + 1) * sizeof *set);
		for (int r = 1; r <= opt_random && k <= n_pool; r++) {
			uint64_t seed = (uint64_t)opt_seed + (uint64_t)(r - 1);
			draw(pool, n_pool, k, seed, set);
			snprintf(name, sizeof name, "ablate_random_%d", r);
			add_cond(cs, name, "random", 0, set, k, seed);
			snprintf(name, sizeof name, "only_random_%d", r);
			add_cond(cs, name, "random", 1, set, k, seed);
		}
	}
	for (int n = 1; n <= n_ods; n++) {
		snprintf(name, sizeof name, "cumulative_%d", n);
		add_cond(cs, name, "cumulative", 0, ods, n, 0);
	}
	for (int i = 0; i < n_ods; i++) {
		snprintf(name, sizeof name, "single_%d", ods[i]);
		add_cond(cs, name, "single", 0, &ods[i], 1, 0);
	}
out:
	free(ods);
	free(out);
	free(any);
	free(user);
	free(pool);
	free(set);
	return rc;
}

struct ablate_ctx {
	struct ods_ablate *a;
	int D;
};

/* The feed's consumer: inputs with a gold next token, in runs. */
static int take(void *ctx, const float *rows, const int32_t *gold, int n, struct ods_err *err)
{
	struct ablate_ctx *c = ctx;
	(void)err;
	for (int i = 0; i < n;) {
		int j = i;
		while (j < n && gold[j] >= 0)
			j++;
		if (j > i)
			ods_ablate_add(c->a, rows + (size_t)i * c->D, gold + i, j - i);
		i = j + 1;
	}
	return 0;
}

static char *options_json(const char *rule)
{
	cJSON *o = cJSON_CreateObject();
	char *s;
	cJSON_AddStringToObject(o, "rule", rule);
	cJSON_AddNumberToObject(o, "random", opt_random);
	cJSON_AddNumberToObject(o, "seed", (double)opt_seed);
	cJSON_AddBoolToObject(o, "mean", opt_mean);
	cJSON_AddBoolToObject(o, "faithful", opt_faithful);
	cJSON_AddStringToObject(o, "dims", opt_dims ? opt_dims : "");
	cJSON_AddStringToObject(o, "positions", opt_positions);
	cJSON_AddBoolToObject(o, "per_input", opt_per_input);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static int store(struct ods_db *db, int64_t id, const struct conds *cs, struct ods_ablate *a,
		 const struct ods_cond_result *res, struct ods_err *err)
{
	sqlite3_stmt *st = NULL;
	char now[32], dims[8192];
	int rc;

	if ((rc = ods_db_begin(db, err)))
		return rc;
	if ((rc = ods_db_prepare(db, &st,
				 "INSERT INTO ablation_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", err)))
		goto out;
	for (int c = 0; c < cs->n; c++) {
		const struct ods_cond *cd = &cs->v[c];
		const struct ods_cond_result *r = &res[c];
		size_t o = 0;
		int k = 1;
		dims[0] = 0;
		for (int i = 0; i < cd->n_dims && o + 16 < sizeof dims; i++)
			o += (size_t)snprintf(dims + o, sizeof dims - o, "%s%d", i ? "," : "", cd->dims[i]);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, k++, id);
		sqlite3_bind_text(st, k++, cd->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, k++, cd->kind, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, k++, cd->only);
		sqlite3_bind_text(st, k++, dims, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, k++, cd->n_dims);
		if (cd->seed)
			sqlite3_bind_int64(st, k++, (int64_t)cd->seed);
		else
			sqlite3_bind_null(st, k++);
		ods_db_bind_real(st, k++, r->mean_surprisal);
		ods_db_bind_real(st, k++, r->median_surprisal);
		ods_db_bind_real(st, k++, r->mean_entropy);
		ods_db_bind_real(st, k++, r->median_entropy);
		ods_db_bind_real(st, k++, r->mean_kl);
		ods_db_bind_real(st, k++, r->median_kl);
		ods_db_bind_real(st, k++, r->accuracy);
		sqlite3_bind_int(st, k++, r->n_distinct_top1);
		ods_db_bind_real(st, k++, r->freq_slope);
		ods_db_bind_real(st, k++, r->freq_spearman);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(db, "cannot store ablation results", err);
			goto out;
		}
	}
	sqlite3_finalize(st);
	if ((rc = ods_db_prepare(db, &st, "INSERT INTO ablation_top1 VALUES (?,?,?,?)", err)))
		goto out;
	for (int c = 0; c < cs->n; c++)
		for (int j = 0; j < res[c].n_distinct_top1; j++) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_text(st, 2, cs->v[c].name, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 3, res[c].top1_tok[j]);
			sqlite3_bind_int64(st, 4, res[c].top1_cnt[j]);
			if (sqlite3_step(st) != SQLITE_DONE) {
				rc = ods_db_error(db, "cannot store ablation predictions", err);
				goto out;
			}
		}
	sqlite3_finalize(st);
	st = NULL;
	if (opt_per_input) {
		if ((rc = ods_db_prepare(db, &st, "INSERT INTO ablation_inputs VALUES (?,?,?,?,?,?,?,?)", err)))
			goto out;
		for (int c = 0; c < cs->n; c++) {
			const float *su, *en, *kl;
			const int32_t *t1, *gold;
			ods_ablate_inputs(a, c, &su, &en, &kl, &t1, &gold);
			for (int64_t i = 0; i < ods_ablate_count(a); i++) {
				sqlite3_reset(st);
				sqlite3_bind_int64(st, 1, id);
				sqlite3_bind_text(st, 2, cs->v[c].name, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 3, i);
				sqlite3_bind_int(st, 4, gold[i]);
				sqlite3_bind_int(st, 5, t1[i]);
				sqlite3_bind_double(st, 6, su[i]);
				sqlite3_bind_double(st, 7, en[i]);
				sqlite3_bind_double(st, 8, kl[i]);
				if (sqlite3_step(st) != SQLITE_DONE) {
					rc = ods_db_error(db, "cannot store per-input values", err);
					goto out;
				}
			}
		}
		sqlite3_finalize(st);
	}
	ods_iso_time(now, sizeof now);
	if ((rc = ods_db_prepare(db, &st, "UPDATE ablations SET status = 'complete', finished_at = ?, "
				 "n_inputs = ? WHERE id = ?", err)))
		goto out;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, ods_ablate_count(a));
	sqlite3_bind_int64(st, 3, id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ods_db_error(db, "cannot finish the ablation", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = ods_db_commit(db, err);
out:
	sqlite3_finalize(st);
	if (rc)
		ods_db_rollback(db);
	return rc;
}

/* The summary: one row per condition; random sets also as mean +- std over r. */
static void print_summary(const struct conds *cs, const struct ods_cond_result *res)
{
	printf("%-18s %5s %9s %9s %9s %9s %7s %8s %9s %7s\n", "condition", "|S|", "surprisal",
	       "median", "entropy", "KL", "acc", "distinct", "slope", "rho");
	for (int c = 0; c < cs->n; c++) {
		const struct ods_cond_result *r = &res[c];
		printf("%-18s %5d %9.4f %9.4f %9.4f %9.4f %7.4f %8d %9.4f %7.3f\n", cs->v[c].name,
		       cs->v[c].n_dims, r->mean_surprisal, r->median_surprisal, r->mean_entropy, r->mean_kl,
		       r->accuracy, r->n_distinct_top1, r->freq_slope, r->freq_spearman);
	}
	for (int only = 0; only < 2; only++) {
		double s[6] = {0}, ss[6] = {0};
		int n = 0;
		for (int c = 0; c < cs->n; c++) {
			const struct ods_cond_result *r = &res[c];
			double v[6] = {r->mean_surprisal, r->mean_entropy, r->mean_kl, r->accuracy,
				       r->freq_slope, r->freq_spearman};
			if (strcmp(cs->v[c].kind, "random") || cs->v[c].only != only)
				continue;
			n++;
			for (int k = 0; k < 6; k++) {
				s[k] += v[k];
				ss[k] += v[k] * v[k];
			}
		}
		if (!n)
			continue;
		printf("%s_random (mean ± std over %d):", only ? "only" : "ablate", n);
		static const char *names[] = {"surprisal", "entropy", "KL", "acc", "slope", "rho"};
		for (int k = 0; k < 6; k++) {
			double m = s[k] / n, var = ss[k] / n - m * m;
			printf(" %s %.4f±%.4f", names[k], m, var > 0 ? sqrt(var) : 0.0);
		}
		printf("\n");
	}
}

static int64_t begin(struct ods_db *db, int64_t run, const char *rule, struct ods_err *err)
{
	sqlite3_stmt *st;
	char now[32], *opts = options_json(rule);
	int64_t id = 0;
	ods_iso_time(now, sizeof now);
	if (ods_db_prepare(db, &st, "INSERT INTO ablations (run_id, status, options, rule, faithful, mean, "
			   "positions, started_at) VALUES (?, 'running', ?, ?, ?, ?, ?, ?)", err) == 0) {
		sqlite3_bind_int64(st, 1, run);
		sqlite3_bind_text(st, 2, opts, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, rule, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 4, opt_faithful);
		sqlite3_bind_int(st, 5, opt_mean);
		sqlite3_bind_text(st, 6, opt_positions, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(db->h);
		else
			ods_db_error(db, "cannot store the ablation", err);
		sqlite3_finalize(st);
	}
	free(opts);
	return id;
}

static void mark_failed(struct ods_db *db, int64_t id, const char *msg)
{
	sqlite3_stmt *st;
	ods_db_rollback(db);
	if (sqlite3_prepare_v2(db->h, "UPDATE ablations SET status = 'failed', error = ? WHERE id = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, msg, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

int cmd_ablate(void)
{
	struct ods_err err = {0};
	struct ods_db *db = NULL;
	struct ods_model *m = NULL;
	struct ods_tok *tok = NULL;
	struct ods_corpus *corpus = NULL;
	struct ods_ablate *a = NULL;
	struct ods_cond_result *res = NULL;
	struct conds cs = {0};
	struct run_info ri = {0};
	struct ods_feed_opts fo = {0};
	struct ods_feed_count cnt;
	struct ods_progress prog;
	struct ablate_ctx ctx;
	int64_t run = opt_run, id = 0, *counts = NULL;
	float *base = NULL;
	char mh[17], ch[17];
	const char *rule;
	int rc;

	if (opt_random < 0 || opt_batch < 1)
		return ods_cmd_usage_error("ablate", "--random and --batch must not be negative");
	if (ods_feed_parse_positions(opt_positions, &fo.word_n))
		return ods_cmd_usage_error("ablate", "--positions must be 'all' or 'word:N', not '%s'",
					   opt_positions);
	ods_ops_init(opt_threads);
	if ((rc = ods_db_open(&db, opt_db, 0, &err)) ||
	    (rc = run ? ods_db_check_run(db, run, &err) : ods_db_latest_run(db, &run, &err)) ||
	    (rc = read_run(db, run, &ri, &err)))
		goto out;
	rule = opt_rule ? opt_rule : ri.rule;
	if ((rc = ods_model_open(&m, ri.model_path, &err)) || (rc = ods_tok_open(&tok, ri.model_path, &err)))
		goto out;
	ods_hex64(mh, m->hash);
	if (strcmp(mh, ri.model_hash)) {
		rc = ods_err_set(&err, ODS_EINVAL, "%s: the model changed since run %lld was scanned",
				 ri.model_path, (long long)run);
		goto out;
	}
	if ((rc = ods_corpus_open(&corpus, ri.corpus_path, ri.field[0] ? ri.field : NULL, &err)))
		goto out;
	ods_hex64(ch, ods_corpus_hash(corpus));
	if (strcmp(ch, ri.corpus_hash)) {
		rc = ods_err_set(&err, ODS_EINVAL, "%s: the corpus changed since run %lld was scanned",
				 ri.corpus_path, (long long)run);
		goto out;
	}
	if ((rc = build_conds(db, run, rule, m->cfg.d_out, &cs, &err)))
		goto out;
	if (opt_mean) {
		int *d = NULL, n = 0;
		sqlite3_stmt *st;
		base = ods_xcalloc((size_t)m->cfg.d_out, sizeof *base);
		if ((rc = ods_db_prepare(db, &st, "SELECT dim, mean FROM dims WHERE run_id = ?", &err)))
			goto out;
		sqlite3_bind_int64(st, 1, run);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int k = sqlite3_column_int(st, 0);
			if (k >= 0 && k < m->cfg.d_out)
				base[k] = (float)sqlite3_column_double(st, 1);
			n++;
		}
		sqlite3_finalize(st);
		free(d);
		if (n != m->cfg.d_out) {
			rc = ods_err_set(&err, ODS_EFORMAT, "%s: run %lld lacks the means of its dimensions", opt_db,
					 (long long)run);
			goto out;
		}
	}
	counts = ods_xmalloc((size_t)m->cfg.n_vocab * sizeof *counts);
	if ((rc = ri.counts_id ? ods_db_load_counts(db, "counts", ri.counts_id, m->cfg.n_vocab, counts, &err)
			       : ods_db_load_counts(db, "freq", run, m->cfg.n_vocab, counts, &err)))
		goto out;
	if ((rc = ods_ablate_open(&a, m, cs.v, cs.n, base,
				   opt_faithful ? (float)m->cfg.final_softcap : 0.0f, NULL, &err)))
		goto out;
	if (!(id = begin(db, run, rule, &err))) {
		rc = err.code ? err.code : ODS_EDB;
		goto out;
	}
	fo.ctx = ri.ctx ? ri.ctx : ods_feed_default_ctx(m);
	fo.stride = ri.stride ? ri.stride : fo.ctx;
	fo.batch = opt_batch;
	fo.special = ri.special; /* as the run was scanned */
	fo.max_tokens = ri.max_tokens;
	ctx.a = a;
	ctx.D = m->cfg.d_out;
	ods_progress_init(&prog, "ablate");
	if ((rc = ods_feed_run(m, tok, corpus, &fo, take, &ctx, NULL, &cnt, &prog, &err)))
		goto out;
	if (!ods_ablate_count(a)) {
		rc = ods_err_set(&err, ODS_EINVAL, "%s: no inputs with a gold next token", ri.corpus_path);
		goto out;
	}
	res = ods_xcalloc((size_t)cs.n, sizeof *res);
	ods_ablate_finish(a, counts, res);
	if ((rc = store(db, id, &cs, a, res, &err)))
		goto out;
	ods_progress_end(&prog, cnt.n_tokens);
	printf("ablation %lld of run %lld: %lld inputs, rule %s, %s ablation, %s logits\n", (long long)id,
	       (long long)run, (long long)ods_ablate_count(a), rule, opt_mean ? "mean" : "zero",
	       opt_faithful ? "faithful" : "raw W_U h");
	print_summary(&cs, res);
out:
	if (rc && db && id)
		mark_failed(db, id, err.msg);
	free(res);
	ods_ablate_free(a);
	free_conds(&cs);
	free(base);
	free(counts);
	ods_corpus_free(corpus);
	ods_tok_free(tok);
	ods_model_free(m);
	ods_db_close(db);
	return rc ? ods_cmd_fail(&err) : 0;
}
