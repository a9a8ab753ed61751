/* link.c - ODs and the unembedding, Spearman correlations (see include/odscope/link.h). */
#include "odscope/link.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ROW_CHUNK 256 /* rows of W_U fetched at a time */

struct idx_val {
	double v;
	size_t i;
};

static int cmp_iv(const void *a, const void *b)
{
	const struct idx_val *x = a, *y = b;
	return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

void ods_rank_avg(const double *x, size_t n, double *ranks)
{
	struct idx_val *iv = ods_xmalloc((n ? n : 1) * sizeof *iv);
	for (size_t i = 0; i < n; i++) {
		iv[i].v = x[i];
		iv[i].i = i;
	}
	qsort(iv, n, sizeof *iv, cmp_iv);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && iv[j].v == iv[i].v)
			j++;
		double r = 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
		for (size_t k = i; k < j; k++)
			ranks[iv[k].i] = r;
		i = j;
	}
	free(iv);
}

double ods_pearson(const double *x, const double *y, size_t n)
{
	double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
	if (n < 2)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double a = x[i] - mx, b = y[i] - my;
		sxy += a * b;
		sxx += a * a;
		syy += b * b;
	}
	if (sxx <= 0 || syy <= 0)
		return NAN;
	return sxy / sqrt(sxx * syy);
}

double ods_spearman(const double *x, const double *y, size_t n)
{
	double *rx = ods_xmalloc((n ? n : 1) * sizeof *rx), *ry = ods_xmalloc((n ? n : 1) * sizeof *ry);
	double r;
	ods_rank_avg(x, n, rx);
	ods_rank_avg(y, n, ry);
	r = ods_pearson(rx, ry, n);
	free(rx);
	free(ry);
	return r;
}

void ods_freq_ranks(const int64_t *counts, int V, int32_t *rank)
{
	struct idx_val *iv = ods_xmalloc((size_t)V * sizeof *iv);
	for (int t = 0; t < V; t++) {
		iv[t].v = -(double)counts[t];
		iv[t].i = (size_t)t;
	}
	qsort(iv, (size_t)V, sizeof *iv, cmp_iv);
	for (int i = 0; i < V; i++) {
		int j = i;
		while (j > 0 && iv[j - 1].v == iv[i].v)
			j--;
		rank[iv[i].i] = j + 1;
	}
	free(iv);
}

/* Keep the top_k largest (sign +1) or smallest (sign -1) contributions: a sorted insertion list. */
static void topk_insert(struct ods_tok_entry *list, int *n, int k, int dir, int32_t t, float w,
			double c)
{
	int pos = *n;
	if (*n == k && !(dir * c > dir * list[k - 1].contribution))
		return;
	if (*n < k)
		(*n)++;
	pos = *n - 1;
	while (pos > 0 && dir * c > dir * list[pos - 1].contribution) {
		list[pos] = list[pos - 1];
		pos--;
	}
	list[pos].token_id = t;
	list[pos].weight = w;
	list[pos].contribution = c;
}

int ods_link_unemb(const struct ods_model *m, const int64_t *counts, const struct ods_link_dim *dims,
		   int n_link, const struct ods_link_opts *opts, struct ods_link_result *res,
		   struct ods_err *err)
{
	int V = m->cfg.n_vocab, D = m->cfg.d_out, rc = 0;
	int K = opts->top_k < V ? opts->top_k : V;
	int n_counted = 0, *counted;              /* token ids with count > 0 */
	float *chunk = ods_xmalloc((size_t)ROW_CHUNK * D * sizeof *chunk); /* [ROW_CHUNK, D] */
	double *norms, *cnt_ranks;
	struct ods_stats *us = NULL;
	int *n_pro, *n_sup;
	int bd;                                   /* dims per pass */
	float *cols;                              /* [bd, n_counted] column block */

	memset(res, 0, sizeof *res);
	res->n_dim = D;
	res->top_k = K;
	res->n_link = n_link;
	res->rho_unemb_freq = ods_xmalloc((size_t)D * sizeof *res->rho_unemb_freq);
	res->promoted = ods_xcalloc((size_t)(n_link ? n_link : 1) * (size_t)(K ? K : 1), sizeof *res->promoted);
	res->suppressed = ods_xcalloc((size_t)(n_link ? n_link : 1) * (size_t)(K ? K : 1), sizeof *res->suppressed);
	n_pro = ods_xcalloc((size_t)(n_link ? n_link : 1), sizeof *n_pro);
	n_sup = ods_xcalloc((size_t)(n_link ? n_link : 1), sizeof *n_sup);
	counted = ods_xmalloc((size_t)V * sizeof *counted);
	for (int t = 0; t < V; t++)
		if (counts[t] > 0)
			counted[n_counted++] = t;
	norms = ods_xmalloc((size_t)(n_counted ? n_counted : 1) * sizeof *norms);
	cnt_ranks = ods_xmalloc((size_t)(n_counted ? n_counted : 1) * sizeof *cnt_ranks);
	{
		double *c = ods_xmalloc((size_t)(n_counted ? n_counted : 1) * sizeof *c);
		for (int i = 0; i < n_counted; i++)
			c[i] = (double)counts[counted[i]];
		ods_rank_avg(c, (size_t)n_counted, cnt_ranks);
		free(c);
	}
	if (opts->want_unemb_ods && (rc = ods_stats_open(&us, D, &opts->unemb, err)))
		goto out;
	/* as many dimensions per pass as the budget holds (at least 1) */
	bd = n_counted ? (int)(opts->mem_bytes / ((size_t)n_counted * sizeof(float))) : D;
	bd = bd < 1 ? 1 : bd > D ? D : bd;
	if (!opts->want_rho) /* one pass, no column blocks */
		bd = D;
	cols = ods_xmalloc((opts->want_rho ? (size_t)bd : 1) * (size_t)(n_counted ? n_counted : 1) * sizeof *cols);

	for (int d0 = 0; d0 < D; d0 += bd) {
		int d1 = d0 + bd < D ? d0 + bd : D, ci = 0;
		res->n_passes++;
		for (int t0 = 0; t0 < V; t0 += ROW_CHUNK) {
			int t1 = t0 + ROW_CHUNK < V ? t0 + ROW_CHUNK : V;
			ods_model_unemb_rows(m, t0, t1, chunk);
			if (d0 == 0) {
				if (us)
					ods_stats_add(us, chunk, (size_t)(t1 - t0));
				for (int l = 0; l < n_link; l++) {
					int d = dims[l].dim;
					double sm = (dims[l].sign < 0 ? -1.0 : 1.0) * dims[l].mag;
					for (int t = t0; t < t1; t++) {
						float w = chunk[(size_t)(t - t0) * D + d];
						topk_insert(res->promoted + (size_t)l * K, &n_pro[l], K, 1, t, w, sm * w);
						topk_insert(res->suppressed + (size_t)l * K, &n_sup[l], K, -1, t, w, sm * w);
					}
				}
			}
			/* columns d0..d1 of the counted tokens in this chunk (and their row norms) */
			for (; ci < n_counted && counted[ci] < t1; ci++) {
				const float *row = chunk + (size_t)(counted[ci] - t0) * D;
				if (d0 == 0) {
					double s = 0;
					for (int j = 0; j < D; j++)
						s += (double)row[j] * row[j];
					norms[ci] = sqrt(s);
				}
				for (int d = d0; d < d1 && opts->want_rho; d++)
					cols[(size_t)(d - d0) * n_counted + ci] = row[d];
			}
		}
		if (!opts->want_rho) {
			for (int d = 0; d < D; d++)
				res->rho_unemb_freq[d] = NAN;
			break;
		}
#pragma omp parallel
		{
			double *x = ods_xmalloc((size_t)(n_counted ? n_counted : 1) * sizeof *x);
			double *rx = ods_xmalloc((size_t)(n_counted ? n_counted : 1) * sizeof *rx);
#pragma omp for schedule(dynamic, 4)
			for (int d = d0; d < d1; d++) {
				double sg = opts->signs && opts->signs[d] < 0 ? -1.0 : 1.0;
				for (int i = 0; i < n_counted; i++)
					x[i] = sg * cols[(size_t)(d - d0) * n_counted + i];
				ods_rank_avg(x, (size_t)n_counted, rx);
				res->rho_unemb_freq[d] = ods_pearson(rx, cnt_ranks, (size_t)n_counted);
			}
			free(x);
			free(rx);
		}
	}
	free(cols);
	{
		double *rn = ods_xmalloc((size_t)(n_counted ? n_counted : 1) * sizeof *rn);
		ods_rank_avg(norms, (size_t)n_counted, rn);
		res->rho_norm_freq = ods_pearson(rn, cnt_ranks, (size_t)n_counted);
		free(rn);
	}
	if (us && (rc = ods_stats_finish(us, &res->unemb, err)))
		ods_err_prefix(err, "unembedding statistics");
out:
	ods_stats_free(us);
	free(chunk);
	free(norms);
	free(cnt_ranks);
	free(counted);
	free(n_pro);
	free(n_sup);
	if (rc)
		ods_link_result_release(res);
	return rc;
}

void ods_link_result_release(struct ods_link_result *res)
{
	free(res->rho_unemb_freq);
	free(res->promoted);
	free(res->suppressed);
	ods_stats_result_release(&res->unemb);
	memset(res, 0, sizeof *res);
}
