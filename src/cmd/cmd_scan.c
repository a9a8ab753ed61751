/* cmd_scan.c - `odscope scan`: run a model over a corpus, collect the final
 * hidden states, compute per-dimension statistics and the OD rules, count
 * token frequencies, and store everything in one transaction.
 *
 * Inputs: every position of every window except the first position of each
 * document. Documents longer than --ctx are cut into windows starting every
 * --stride tokens; a position is collected once, in the first window that
 * reaches it. Windows from many documents are packed into one batch.
 */
#include "cmd.h"
#include "odscope/corpus.h"
#include "odscope/feed.h"
#include "odscope/link.h"
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/progress.h"
#include "odscope/stats.h"
#include "odscope/store.h"
#include "odscope/tok.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *opt_model, *opt_corpus, *opt_db = ODS_DEFAULT_DB, *opt_field,
		  *opt_positions = "all", *opt_rule = "quantile";
static int opt_special, opt_ctx, opt_stride, opt_threads, opt_batch = 512, opt_quiet, opt_top_tokens = 100;
static int opt_corr_sample = 20000;
static int64_t opt_max_tokens, opt_freq;
static double opt_q_loc = 0.5, opt_q_glob = 0.99, opt_frac = 0.5, opt_zk = 3.0;
static size_t opt_mem = (size_t)2 << 30;

const struct ods_opt opts_scan[] = {
	{"--model", OPT_STR, &opt_model, "DIR", "Hugging Face model directory"},
	{"--corpus", OPT_STR, &opt_corpus, "F", "text file (a document per line), .jsonl, or directory of .txt"},
	{"--field", OPT_STR, &opt_field, "NAME", "JSONL field holding the text (default: text)"},
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{"--ctx", OPT_INT, &opt_ctx, "N", "window length (default: the model's maximum, at most 2048)"},
	{"--special", OPT_FLAG, &opt_special, NULL, "prepend the tokenizer's BOS (post_processor) to each document"},
	{"--stride", OPT_INT, &opt_stride, "N", "window start every N tokens (default: --ctx)"},
	{"--max-tokens", OPT_I64, &opt_max_tokens, "N", "stop after N corpus tokens"},
	{"--positions", OPT_STR, &opt_positions, "P", "inputs: all (default) or word:N (last token of word N)"},
	{"--rule", OPT_STR, &opt_rule, "R", "primary rule: quantile (default), fraction, zscore, int8"},
	{"--q-loc", OPT_DBL, &opt_q_loc, "Q", "per-dimension quantile of |x| (default 0.5)"},
	{"--q-glob", OPT_DBL, &opt_q_glob, "Q", "global quantile of |X| (default 0.99)"},
	{"--frac", OPT_DBL, &opt_frac, "F", "fraction rule: share of inputs above threshold (default 0.5)"},
	{"--zk", OPT_DBL, &opt_zk, "K", "zscore rule threshold (default 3)"},
	{"--mem", OPT_SIZE, &opt_mem, "SIZE", "memory for exact quantiles, e.g. 512M, 4G (default 2G)"},
	{"--freq", OPT_I64, &opt_freq, "ID", "link ODs to counts table ID (odscope freq) instead of the corpus"},
	{"--top-tokens", OPT_INT, &opt_top_tokens, "K", "promoted/suppressed tokens stored per OD (default 100)"},
	{"--corr-sample", OPT_INT, &opt_corr_sample, "N", "inputs sampled for rho(h_d, freq of top-1) (default 20000)"},
	{"--batch", OPT_INT, &opt_batch, "N", "tokens per forward batch (default 512, at least --ctx)"},
	{"--threads", OPT_INT, &opt_threads, "N", "threads (default: all cores)"},
	{"--quiet", OPT_FLAG, &opt_quiet, NULL, "do not print the OD table"},
	{0},
};

static const char *const rule_names[] = {"quantile", "fraction", "zscore", "int8"};

/* State of one scan. */
struct scan {
	struct ods_model *m;
	struct ods_tok *tok;
	struct ods_corpus *corpus;
	struct ods_db *db;
	struct ods_stats *stats;
	struct ods_feed_opts fo;
	int D;
	int64_t *freq;   /* [V] corpus counts */
	float *logits;   /* [LOGIT_ROWS, V] */
	/* uniform sample (reservoir) of inputs for rho(h_d, freq of top-1) */
	float *smp_h;    /* [corr_sample, D] */
	int32_t *smp_top1; /* [corr_sample] */
	int64_t n_smp;   /* inputs offered to the sample */
	uint64_t rng;
	struct ods_feed_count cnt;
	int64_t run_id;
	struct ods_progress prog;
	int64_t *link_counts; /* [V] counts table --freq, or NULL: the corpus's own */
};

/* rho(h_d, count of the top-1 prediction) over the sampled inputs, for every d. */
static double *rho_act_predfreq(const struct scan *s, const int64_t *counts)
{
	size_t ns = (size_t)(s->n_smp < opt_corr_sample ? s->n_smp : opt_corr_sample);
	double *rho = ods_xmalloc((size_t)s->D * sizeof *rho);
	double *y = ods_xmalloc((ns ? ns : 1) * sizeof *y), *ry = ods_xmalloc((ns ? ns : 1) * sizeof *ry);

	for (size_t i = 0; i < ns; i++)
		y[i] = (double)counts[s->smp_top1[i]];
	ods_rank_avg(y, ns, ry);
#pragma omp parallel
	{
		double *x = ods_xmalloc((ns ? ns : 1) * sizeof *x), *rx = ods_xmalloc((ns ? ns : 1) * sizeof *rx);
#pragma omp for schedule(dynamic, 8)
		for (int d = 0; d < s->D; d++) {
			for (size_t i = 0; i < ns; i++)
				x[i] = s->smp_h[i * (size_t)s->D + d];
			ods_rank_avg(x, ns, rx);
			rho[d] = ods_pearson(rx, ry, ns);
		}
		free(x);
		free(rx);
	}
	free(y);
	free(ry);
	return rho;
}

/* tokens, dim_corr and unemb_ods rows of the links. */
static int store_links(struct scan *s, const struct ods_stats_result *r,
		       const struct ods_link_result *lr, const double *rho_act, const int64_t *counts,
		       struct ods_err *err)
{
	sqlite3_stmt *st = NULL;
	int V = s->m->cfg.n_vocab, rc = 0;
	int32_t *frank = ods_xmalloc((size_t)V * sizeof *frank);

	ods_freq_ranks(counts, V, frank);
	for (int l = 0; l < lr->n_link && !rc; l++)
		rc = ods_db_store_token_lists(s->db, "tokens", s->run_id, r->ods[l],
					      lr->promoted + (size_t)l * lr->top_k,
					      lr->suppressed + (size_t)l * lr->top_k, lr->top_k, s->tok, counts,
					      frank, err);
	if (rc)
		goto out;
	if ((rc = ods_db_prepare(s->db, &st, "INSERT INTO dim_corr VALUES (?,?,?,?)", err)))
		goto out;
	for (int d = 0; d < s->D; d++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, s->run_id);
		sqlite3_bind_int(st, 2, d);
		ods_db_bind_real(st, 3, lr->rho_unemb_freq[d]);
		ods_db_bind_real(st, 4, rho_act[d]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(s->db, "cannot store correlations", err);
			goto out;
		}
	}
	sqlite3_finalize(st);
	if ((rc = ods_db_prepare(s->db, &st, "INSERT INTO unemb_ods VALUES (?,?,?,?,?,?,?,?)", err)))
		goto out;
	for (int i = 0, rank = 0; i < lr->unemb.n_ods; i++) {
		int d = lr->unemb.ods[i];
		const struct ods_dim_stats *x = &lr->unemb.dims[d];
		if (!(x->rules & ODS_RULE_QUANTILE))
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, s->run_id);
		sqlite3_bind_int(st, 2, d);
		sqlite3_bind_int(st, 3, ++rank);
		sqlite3_bind_int(st, 4, x->sign);
		sqlite3_bind_double(st, 5, x->median_abs);
		sqlite3_bind_double(st, 6, x->q_loc_abs);
		sqlite3_bind_double(st, 7, x->zscore);
		sqlite3_bind_int(st, 8, r->dims[d].rules != 0);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(s->db, "cannot store unembedding ODs", err);
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	free(frank);
	return rc;
}

#define LOGIT_ROWS 64

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Offer each input to the uniform sample (reservoir sampling, algorithm R). */
static void sample_rows(struct scan *s, const float *rows, int n)
{
	for (int i = 0; i < n; i++) {
		int64_t slot = s->n_smp < opt_corr_sample
				       ? s->n_smp
				       : (int64_t)(rng_next(&s->rng) % (uint64_t)(s->n_smp + 1));
		s->n_smp++;
		if (slot < opt_corr_sample)
			memcpy(s->smp_h + (size_t)slot * s->D, rows + (size_t)i * s->D,
			       (size_t)s->D * sizeof(float));
	}
}

/* Top-1 prediction (raw W_U h) of every sampled input: only the sample needs it. */
static void sample_top1(struct scan *s)
{
	int V = s->m->cfg.n_vocab;
	int64_t ns = s->n_smp < opt_corr_sample ? s->n_smp : opt_corr_sample;
	for (int64_t r0 = 0; r0 < ns; r0 += LOGIT_ROWS) {
		int nr = ns - r0 < LOGIT_ROWS ? (int)(ns - r0) : LOGIT_ROWS;
		ods_model_logits(s->m, s->smp_h + (size_t)r0 * s->D, nr, s->logits);
#pragma omp parallel for schedule(static)
		for (int i = 0; i < nr; i++) {
			const float *z = s->logits + (size_t)i * V;
			int best = 0;
			for (int t = 1; t < V; t++)
				if (z[t] > z[best])
					best = t;
			s->smp_top1[r0 + i] = best;
		}
	}
}

/* The feed's consumer: statistics and the sample. */
static int take_rows(void *ctx, const float *rows, const int32_t *gold, int n, struct ods_err *err)
{
	struct scan *s = ctx;
	(void)gold;
	(void)err;
	ods_stats_add(s->stats, rows, (size_t)n);
	if (opt_corr_sample > 0)
		sample_rows(s, rows, n);
	return 0;
}

static char *options_json(void)
{
	cJSON *o = cJSON_CreateObject();
	char *s;
	cJSON_AddStringToObject(o, "field", opt_field ? opt_field : "");
	cJSON_AddNumberToObject(o, "ctx", opt_ctx);
	cJSON_AddNumberToObject(o, "stride", opt_stride);
	cJSON_AddNumberToObject(o, "max_tokens", (double)opt_max_tokens);
	cJSON_AddStringToObject(o, "positions", opt_positions);
	cJSON_AddBoolToObject(o, "special", opt_special);
	cJSON_AddStringToObject(o, "rule", opt_rule);
	cJSON_AddNumberToObject(o, "q_loc", opt_q_loc);
	cJSON_AddNumberToObject(o, "q_glob", opt_q_glob);
	cJSON_AddNumberToObject(o, "frac", opt_frac);
	cJSON_AddNumberToObject(o, "zk", opt_zk);
	cJSON_AddNumberToObject(o, "int8_mag", 6.0);
	cJSON_AddNumberToObject(o, "int8_frac", 0.06);
	cJSON_AddNumberToObject(o, "mem", (double)opt_mem);
	cJSON_AddNumberToObject(o, "batch", opt_batch);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* models + vocab rows (once per model hash) and the run row, committed, status 'running'. */
static int store_begin(struct scan *s, struct ods_err *err)
{
	char mh[17], ch[17], now[32], *opts = options_json();
	sqlite3_stmt *st = NULL;
	int rc;

	ods_hex64(mh, s->m->hash);
	ods_hex64(ch, ods_corpus_hash(s->corpus));
	ods_iso_time(now, sizeof now);
	if ((rc = ods_db_begin(s->db, err)))
		goto out;
	if ((rc = ods_db_store_model(s->db, s->m, s->tok, opt_model, err)))
		goto out;
	if ((rc = ods_db_prepare(s->db, &st,
				 "INSERT INTO runs (status, model_hash, model_path, corpus_path, corpus_hash, "
				 "options, tool_version, started_at, rule, q_loc, q_glob) "
				 "VALUES ('running',?,?,?,?,?,?,?,?,?,?)", err)))
		goto out;
	sqlite3_bind_text(st, 1, mh, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, opt_model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, opt_corpus, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ch, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, opts, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ODS_VERSION, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, opt_rule, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 9, opt_q_loc);
	sqlite3_bind_double(st, 10, opt_q_glob);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ods_db_error(s->db, "cannot store the run", err);
		goto out;
	}
	s->run_id = sqlite3_last_insert_rowid(s->db->h);
	sqlite3_finalize(st);
	st = NULL;
	rc = ods_db_commit(s->db, err);
out:
	sqlite3_finalize(st);
	if (rc)
		ods_db_rollback(s->db);
	free(opts);
	return rc;
}

static void rules_str(char *buf, size_t cap, unsigned rules)
{
	size_t o = 0;
	buf[0] = 0;
	for (int r = 0; r < 4; r++)
		if (rules & (1u << r))
			o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? "," : "", rule_names[r]);
}

/* All results and status 'complete' in one transaction. */
static int store_results(struct scan *s, const struct ods_stats_result *r, unsigned primary,
			 const struct ods_link_result *lr, const double *rho_act, const int64_t *counts,
			 struct ods_err *err)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc, n_primary = 0, rank = 0, n_unemb = 0, n_overlap = 0;

	if ((rc = ods_db_begin(s->db, err)))
		return rc;
	if ((rc = ods_db_prepare(s->db, &st,
				 "INSERT INTO dims VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
				 "?,?,?,?,?)", err)))
		goto out;
	for (int d = 0; d < r->n_dim; d++) {
		const struct ods_dim_stats *x = &r->dims[d];
		char rules[64];
		int k = 1;
		rules_str(rules, sizeof rules, x->rules);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, k++, s->run_id);
		sqlite3_bind_int(st, k++, d);
		sqlite3_bind_int64(st, k++, x->count);
		sqlite3_bind_double(st, k++, x->mean);
		sqlite3_bind_double(st, k++, x->std);
		sqlite3_bind_double(st, k++, x->min);
		sqlite3_bind_double(st, k++, x->max);
		sqlite3_bind_double(st, k++, x->mean_abs);
		sqlite3_bind_double(st, k++, x->rms);
		for (int q = 0; q < ODS_N_QUANTS; q++)
			sqlite3_bind_double(st, k++, x->q[q]);
		for (int q = 0; q < ODS_N_QUANTS; q++)
			sqlite3_bind_double(st, k++, x->aq[q]);
		sqlite3_bind_double(st, k++, x->q_loc_abs);
		sqlite3_bind_double(st, k++, x->frac_above);
		sqlite3_bind_double(st, k++, x->zscore);
		sqlite3_bind_int(st, k++, x->sign);
		sqlite3_bind_text(st, k++, rules, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, k++, x->borderline);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(s->db, "cannot store dimension statistics", err);
			goto out;
		}
	}
	sqlite3_finalize(st);
	if ((rc = ods_db_prepare(s->db, &st, "INSERT INTO ods VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", err)))
		goto out;
	for (int i = 0; i < r->n_ods; i++) {
		int d = r->ods[i], k = 1;
		const struct ods_dim_stats *x = &r->dims[d];
		n_primary += (x->rules & primary) != 0;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, k++, s->run_id);
		sqlite3_bind_int(st, k++, d);
		sqlite3_bind_int(st, k++, ++rank);
		sqlite3_bind_int(st, k++, x->sign);
		sqlite3_bind_double(st, k++, x->median_abs);
		sqlite3_bind_double(st, k++, x->q_loc_abs);
		sqlite3_bind_double(st, k++, x->zscore);
		sqlite3_bind_double(st, k++, x->frac_above);
		for (int b = 0; b < 4; b++)
			sqlite3_bind_int(st, k++, (x->rules >> b) & 1);
		sqlite3_bind_int(st, k++, x->borderline);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(s->db, "cannot store outlier dimensions", err);
			goto out;
		}
	}
	sqlite3_finalize(st);
	if ((rc = ods_db_prepare(s->db, &st, "INSERT INTO freq VALUES (?,?,?)", err)))
		goto out;
	for (int t = 0; t < s->m->cfg.n_vocab; t++) {
		if (!s->freq[t])
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, s->run_id);
		sqlite3_bind_int(st, 2, t);
		sqlite3_bind_int64(st, 3, s->freq[t]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(s->db, "cannot store token frequencies", err);
			goto out;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = store_links(s, r, lr, rho_act, counts, err)))
		goto out;
	for (int i = 0; i < lr->unemb.n_ods; i++) {
		int d = lr->unemb.ods[i];
		if (lr->unemb.dims[d].rules & ODS_RULE_QUANTILE) {
			n_unemb++;
			n_overlap += r->dims[d].rules != 0;
		}
	}
	ods_iso_time(now, sizeof now);
	if ((rc = ods_db_prepare(s->db, &st,
				 "UPDATE runs SET status = 'complete', finished_at = ?, n_docs = ?, "
				 "n_tokens = ?, n_inputs = ?, threshold = ?, exact = ?, rel_err = ?, "
				 "kurtosis = ?, mmr = ?, n_ods = ?, counts_id = ?, rho_norm_freq = ?, "
				 "n_unemb_ods = ?, n_overlap = ?, corr_sample = ? WHERE id = ?", err)))
		goto out;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, s->cnt.n_docs);
	sqlite3_bind_int64(st, 3, s->cnt.n_tokens);
	sqlite3_bind_int64(st, 4, r->n);
	sqlite3_bind_double(st, 5, r->threshold);
	sqlite3_bind_int(st, 6, r->exact);
	sqlite3_bind_double(st, 7, r->rel_err);
	sqlite3_bind_double(st, 8, r->kurtosis);
	sqlite3_bind_double(st, 9, r->mmr);
	sqlite3_bind_int(st, 10, n_primary);
	if (opt_freq)
		sqlite3_bind_int64(st, 11, opt_freq);
	ods_db_bind_real(st, 12, lr->rho_norm_freq);
	sqlite3_bind_int(st, 13, n_unemb);
	sqlite3_bind_int(st, 14, n_overlap);
	sqlite3_bind_int64(st, 15, s->n_smp < opt_corr_sample ? s->n_smp : opt_corr_sample);
	sqlite3_bind_int64(st, 16, s->run_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ods_db_error(s->db, "cannot finish the run", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = ods_db_commit(s->db, err);
out:
	sqlite3_finalize(st);
	if (rc)
		ods_db_rollback(s->db);
	return rc;
}

static void store_failed(struct scan *s, const char *msg)
{
	sqlite3_stmt *st;
	if (!s->db || !s->run_id)
		return;
	ods_db_rollback(s->db);
	if (sqlite3_prepare_v2(s->db->h, "UPDATE runs SET status = 'failed', error = ? WHERE id = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, msg, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, s->run_id);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/* ODs to the unembedding and frequencies (DESIGN §3). */
static int link_ods(struct scan *s, const struct ods_stats_result *r, struct ods_link_result *lr,
		double **rho_act, struct ods_err *err)
{
	const int64_t *counts = s->link_counts ? s->link_counts : s->freq;
	struct ods_link_dim *dims = ods_xmalloc((size_t)(r->n_ods ? r->n_ods : 1) * sizeof *dims);
	int *signs = ods_xmalloc((size_t)s->D * sizeof *signs), rc;
	struct ods_link_opts lo = {0};

	for (int i = 0; i < r->n_ods; i++) {
		dims[i].dim = r->ods[i];
		dims[i].sign = r->dims[r->ods[i]].sign;
		dims[i].mag = r->dims[r->ods[i]].median_abs;
	}
	for (int d = 0; d < s->D; d++)
		signs[d] = r->dims[d].sign;
	lo.top_k = opt_top_tokens;
	lo.mem_bytes = opt_mem;
	lo.signs = signs;
	ods_stats_opts_default(&lo.unemb);
	lo.unemb.q_loc = opt_q_loc;
	lo.unemb.q_glob = opt_q_glob;
	lo.unemb.mem_bytes = opt_mem;
	lo.want_unemb_ods = 1;
	lo.want_rho = 1;
	rc = ods_link_unemb(s->m, counts, dims, r->n_ods, &lo, lr, err);
	if (!rc) {
		sample_top1(s);
		*rho_act = rho_act_predfreq(s, counts);
	}
	free(dims);
	free(signs);
	return rc;
}

int cmd_scan(void)
{
	struct ods_err err = {0};
	struct scan s = {0};
	struct ods_stats_opts so;
	struct ods_stats_result res = {0};
	struct ods_link_result lr = {0};
	double *rho_act = NULL;
	unsigned primary = 0;
	int word_n = 0;
	int rc;

	if (!opt_model || !opt_corpus)
		return ods_cmd_usage_error("scan", "--model and --corpus are required");
	for (int r = 0; r < 4; r++)
		if (!strcmp(opt_rule, rule_names[r]))
			primary = 1u << r;
	if (!primary)
		return ods_cmd_usage_error("scan", "unknown rule '%s' (quantile, fraction, zscore, int8)",
					   opt_rule);
	if (ods_feed_parse_positions(opt_positions, &word_n))
		return ods_cmd_usage_error("scan", "--positions must be 'all' or 'word:N', not '%s'",
					   opt_positions);
	if (opt_ctx < 0 || opt_stride < 0 || opt_batch <= 0 || opt_max_tokens < 0 ||
	    opt_top_tokens < 1 || opt_corr_sample < 0)
		return ods_cmd_usage_error("scan", "--ctx, --stride, --batch, --max-tokens, --top-tokens and "
					   "--corr-sample must be positive");
	ods_ops_init(opt_threads);
	ods_stats_opts_default(&so);
	so.q_loc = opt_q_loc;
	so.q_glob = opt_q_glob;
	so.frac = opt_frac;
	so.zk = opt_zk;
	so.mem_bytes = opt_mem;

	if ((rc = ods_model_open(&s.m, opt_model, &err)) || (rc = ods_tok_open(&s.tok, opt_model, &err)))
		goto out;
	s.D = s.m->cfg.d_out;
	s.fo.ctx = opt_ctx ? opt_ctx : ods_feed_default_ctx(s.m);
	if (s.fo.ctx > s.m->cfg.n_ctx) {
		rc = ods_err_set(&err, ODS_EINVAL, "--ctx %d exceeds the model's %d positions", s.fo.ctx,
				 s.m->cfg.n_ctx);
		goto out;
	}
	s.fo.stride = opt_stride ? opt_stride : s.fo.ctx;
	if (s.fo.stride > s.fo.ctx) {
		rc = ods_err_set(&err, ODS_EINVAL, "--stride %d exceeds --ctx %d", s.fo.stride, s.fo.ctx);
		goto out;
	}
	s.fo.batch = opt_batch;
	s.fo.max_tokens = opt_max_tokens;
	s.fo.word_n = word_n;
	s.fo.special = opt_special;
	if ((rc = ods_stats_open(&s.stats, s.D, &so, &err)) ||
	    (rc = ods_corpus_open(&s.corpus, opt_corpus, opt_field, &err)) ||
	    (rc = ods_db_open(&s.db, opt_db, 0, &err)))
		goto out;
	if (opt_freq) {
		s.link_counts = ods_xmalloc((size_t)s.m->cfg.n_vocab * sizeof *s.link_counts);
		if ((rc = ods_db_load_counts(s.db, "counts", opt_freq, s.m->cfg.n_vocab, s.link_counts, &err)))
			goto out;
	}
	if ((rc = store_begin(&s, &err)))
		goto out;
	s.freq = ods_xcalloc((size_t)s.m->cfg.n_vocab, sizeof *s.freq);
	s.logits = ods_xmalloc((size_t)LOGIT_ROWS * s.m->cfg.n_vocab * sizeof *s.logits);
	s.smp_h = ods_xmalloc((size_t)(opt_corr_sample ? opt_corr_sample : 1) * s.D * sizeof *s.smp_h);
	s.smp_top1 = ods_xmalloc((size_t)(opt_corr_sample ? opt_corr_sample : 1) * sizeof *s.smp_top1);
	s.rng = 0x9e3779b97f4a7c15ULL;

	ods_progress_init(&s.prog, "scan");
	rc = ods_feed_run(s.m, s.tok, s.corpus, &s.fo, take_rows, &s, s.freq, &s.cnt, &s.prog, &err);
	if (rc) {
		if (s.prog.tty)
			fprintf(stderr, "\n");
		goto out;
	}
	if (s.cnt.n_inputs == 0) {
		rc = ods_err_set(&err, ODS_EINVAL, "%s: empty corpus: no inputs collected (%lld documents)",
				 opt_corpus, (long long)s.cnt.n_docs);
		goto out;
	}
	if ((rc = ods_stats_finish(s.stats, &res, &err)))
		goto out;
	if ((rc = link_ods(&s, &res, &lr, &rho_act, &err)))
		goto out;
	if ((rc = store_results(&s, &res, primary, &lr, rho_act,
				s.link_counts ? s.link_counts : s.freq, &err)))
		goto out;
	ods_progress_end(&s.prog, s.cnt.n_tokens);
	printf("run %lld: %lld documents, %lld tokens, %lld inputs, %d dimensions, threshold %.4g (%s)\n",
	       (long long)s.run_id, (long long)s.cnt.n_docs, (long long)s.cnt.n_tokens, (long long)res.n, s.D,
	       res.threshold, res.exact ? "exact" : "sketch");
	if (!opt_quiet)
		rc = ods_print_ods(s.db, s.run_id, opt_rule, ODS_FMT_TABLE, 4, &err);
out:
	if (rc)
		store_failed(&s, err.msg);
	ods_stats_result_release(&res);
	ods_link_result_release(&lr);
	free(rho_act);
	free(s.link_counts);
	free(s.logits);
	free(s.smp_h);
	free(s.smp_top1);
	ods_stats_free(s.stats);
	ods_corpus_free(s.corpus);
	ods_db_close(s.db);
	ods_tok_free(s.tok);
	ods_model_free(s.m);
	free(s.freq);
	return rc ? ods_cmd_fail(&err) : 0;
}
