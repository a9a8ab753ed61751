/* ablate.c - ablation conditions by rank-|S| updates with online softmax
 * statistics (see include/odscope/ablate.h).
 *
 * Per input and condition Q the state over the vocabulary blocks seen so far:
 *   m   running max of z_Q,      s = sum exp(z_Q - m),   u = sum exp(z_Q - m) z_Q,
 *   a   sum exp(z_P - m_P) (z_P - z_Q)   (P = full, rescaled with P's max),
 *   top-1 and z_Q[gold].
 * Then log-sum-exp L = m + log s, entropy H = L - u / s, surprisal = L - z_Q[gold],
 * KL(P || Q) = a / s_P - L_P + L_Q.
 */
#include "odscope/ablate.h"
#include "odscope/fastmath.h"
#include "odscope/link.h"
#include "odscope/ops.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define VB 1024   /* vocabulary block */
#define LANES 16 /* accumulator lanes of the vectorized sums */

struct qstate {
	double s, u, a;
	float m, zgold, topv;
	int32_t top1;
};

struct ods_ablate {
	const struct ods_model *m;
	int D, V, n_cond;
	struct ods_cond *conds;
	float *base;       /* [D] replacement values (zeros or means) */
	float softcap;
	const float *bias; /* [V] or NULL */
	/* per batch */
	int cap;           /* rows per batch */
	float *wb;         /* [VB, D] block of W_U */
	float *z;          /* [cap, VB] full logits of the block */
	float *wbase;      /* [VB] W_U b for the block */
	float *e;          /* [cap, sum |S|] h_S - b_S per row and condition */
	int *e_off;        /* [n_cond] offsets into a row of e */
	int e_row;
	int n_union;       /* distinct dimensions over all conditions */
	int *uni;          /* [n_union] those dimensions */
	int **uidx;        /* [n_cond][n_dims] index of each condition dim in uni */
	float *cols;       /* [n_union, VB] W_U[t0.., uni] of the block, contiguous per dim */
	struct qstate *st; /* [cap, n_cond] */
	/* per input, per condition: [n_cond][n_in] */
	int64_t n_in, in_cap;
	float **surp, **ent, **kl;
	int32_t **top1;
	int32_t *gold;
	int64_t **n_top1;  /* [n_cond][V] */
};

int ods_ablate_open(struct ods_ablate **out, const struct ods_model *m, const struct ods_cond *conds,
		    int n_cond, const float *base, float softcap, const float *bias,
		    struct ods_err *err)
{
	struct ods_ablate *a;
	int D = m->cfg.d_out;

	for (int c = 0; c < n_cond; c++)
		for (int i = 0; i < conds[c].n_dims; i++)
			if (conds[c].dims[i] < 0 || conds[c].dims[i] >= D)
				return ods_err_set(err, ODS_EINVAL, "condition %s: dimension %d is outside [0, %d)",
						   conds[c].name, conds[c].dims[i], D);
	a = ods_xcalloc(1, sizeof *a);
	a->m = m;
	a->D = D;
	a->V = m->cfg.n_vocab;
	a->n_cond = n_cond;
	a->conds = ods_xmalloc((size_t)n_cond * sizeof *a->conds);
	a->e_off = ods_xmalloc((size_t)n_cond * sizeof *a->e_off);
	a->uidx = ods_xcalloc((size_t)n_cond, sizeof *a->uidx);
	a->uni = ods_xmalloc((size_t)D * sizeof *a->uni);
	{
		int *where = ods_xmalloc((size_t)D * sizeof *where);
		for (int d = 0; d < D; d++)
			where[d] = -1;
		for (int c = 0; c < n_cond; c++) {
			a->conds[c] = conds[c];
			a->conds[c].dims = ods_xmalloc((size_t)(conds[c].n_dims + 1) * sizeof(int));
			memcpy(a->conds[c].dims, conds[c].dims, (size_t)conds[c].n_dims * sizeof(int));
			a->uidx[c] = ods_xmalloc((size_t)(conds[c].n_dims + 1) * sizeof(int));
			for (int k = 0; k < conds[c].n_dims; k++) {
				int d = conds[c].dims[k];
				if (where[d] < 0) {
					where[d] = a->n_union;
					a->uni[a->n_union++] = d;
				}
				a->uidx[c][k] = where[d];
			}
			a->e_off[c] = a->e_row;
			a->e_row += conds[c].n_dims;
		}
		free(where);
	}
	a->cols = ods_xmalloc((size_t)(a->n_union ? a->n_union : 1) * VB * sizeof *a->cols);
	a->base = ods_xcalloc((size_t)D, sizeof *a->base);
	if (base)
		memcpy(a->base, base, (size_t)D * sizeof *a->base);
	a->softcap = softcap;
	a->bias = bias;
	a->wb = ods_xmalloc((size_t)VB * D * sizeof *a->wb);
	a->wbase = ods_xmalloc((size_t)VB * sizeof *a->wbase);
	a->surp = ods_xcalloc((size_t)n_cond, sizeof *a->surp);
	a->ent = ods_xcalloc((size_t)n_cond, sizeof *a->ent);
	a->kl = ods_xcalloc((size_t)n_cond, sizeof *a->kl);
	a->top1 = ods_xcalloc((size_t)n_cond, sizeof *a->top1);
	a->n_top1 = ods_xcalloc((size_t)n_cond, sizeof *a->n_top1);
	for (int c = 0; c < n_cond; c++)
		a->n_top1[c] = ods_xcalloc((size_t)a->V, sizeof **a->n_top1);
	*out = a;
	return 0;
}

static void grow(struct ods_ablate *a, int n)
{
	if (n > a->cap) {
		a->cap = n;
		a->z = ods_xrealloc(a->z, (size_t)n * VB * sizeof *a->z);
		a->e = ods_xrealloc(a->e, (size_t)n * (size_t)(a->e_row + 1) * sizeof *a->e);
		a->st = ods_xrealloc(a->st, (size_t)n * (size_t)a->n_cond * sizeof *a->st);
	}
	if (a->n_in + n > a->in_cap) {
		a->in_cap = a->in_cap ? 2 * a->in_cap : 4096;
		while (a->in_cap < a->n_in + n)
			a->in_cap *= 2;
		for (int c = 0; c < a->n_cond; c++) {
			a->surp[c] = ods_xrealloc(a->surp[c], (size_t)a->in_cap * sizeof **a->surp);
			a->ent[c] = ods_xrealloc(a->ent[c], (size_t)a->in_cap * sizeof **a->ent);
			a->kl[c] = ods_xrealloc(a->kl[c], (size_t)a->in_cap * sizeof **a->kl);
			a->top1[c] = ods_xrealloc(a->top1[c], (size_t)a->in_cap * sizeof **a->top1);
		}
		a->gold = ods_xrealloc(a->gold, (size_t)a->in_cap * sizeof *a->gold);
	}
}

/* The model's own output transform (--faithful): bias, then soft-cap. */
static inline float post(const struct ods_ablate *a, float z, int t)
{
	if (a->bias)
		z += a->bias[t];
	if (a->softcap > 0)
		z = a->softcap * tanhf(z / a->softcap);
	return z;
}

/* The rank-|S| update of one vocabulary block in one pass:
 * zq[j] = z0[j] + sg sum_k e[k] W[t0 + j, S_k] (columns from cols by uidx);
 * returns max_j zq[j]. */
static float rank_update(float *zq, const float *z0, const float *cols, const int *uidx,
			 const float *e, int n_dims, float sg, int nb)
{
	enum { KMAX = 8 };
	const float *col[KMAX];
	float coef[KMAX], bm = -INFINITY;
	int k0 = 0;
	/* at most KMAX columns per pass (|S| is small: ODs, random sets of the same size) */
	do {
		int nk = n_dims - k0 < KMAX ? n_dims - k0 : KMAX;
		const float *src = k0 ? zq : z0;
		for (int k = 0; k < nk; k++) {
			col[k] = cols + (size_t)uidx[k0 + k] * VB;
			coef[k] = sg * e[k0 + k];
		}
		bm = -INFINITY;
		switch (nk) {
#define UPD(N)                                                                  \
	case N:                                                                 \
		_Pragma("omp simd reduction(max : bm)") for (int j = 0; j < nb; j++) \
		{                                                               \
			float v = src[j];                                       \
			for (int k = 0; k < N; k++)                             \
				v += coef[k] * col[k][j];                       \
			zq[j] = v;                                              \
			bm = v > bm ? v : bm;                                   \
		}                                                               \
		break;
			UPD(0) UPD(1) UPD(2) UPD(3) UPD(4) UPD(5) UPD(6) UPD(7) UPD(8)
#undef UPD
		}
		k0 += nk;
	} while (k0 < n_dims);
	return bm;
}

/* Fold one block of condition logits zq[nb] (tokens t0..), whose maximum is
 * bm, into state q. pw/zp (may be NULL when kl_block is given): the KL term sum pw (zp - zq). */
static void fold(struct qstate *q, const float *zq, float bm, const float *zp, const float *pw,
		 int nb, int t0, int gold, int have_kl, double kl_block)
{
	float s = 0, u = 0, aa = 0;
	if (bm > q->topv) {
		int bi = 0;
		while (zq[bi] != bm)
			bi++;
		q->topv = bm;
		q->top1 = t0 + bi;
	}
	float mn = bm > q->m ? bm : q->m;
	double r = exp((double)q->m - mn);
	q->s *= r;
	q->u *= r;
	q->m = mn;
	/* 16 independent lanes: GCC vectorizes this form (it does not the reductions) */
	float sv[LANES] = {0}, uv[LANES] = {0}, av[LANES] = {0};
	int j = 0;
	/* (the two loops keep the masked KL store out of the common case) */
	if (have_kl) {
		for (; j + LANES <= nb; j += LANES)
			for (int l = 0; l < LANES; l++) {
				float z = zq[j + l], e = ods_expf(z - mn);
				sv[l] += e;
				uv[l] += e * z;
			}
	} else {
		for (; j + LANES <= nb; j += LANES)
			for (int l = 0; l < LANES; l++) {
				float z = zq[j + l], e = ods_expf(z - mn);
				sv[l] += e;
				uv[l] += e * z;
				av[l] += pw[j + l] * (zp[j + l] - z);
			}
	}
	for (int l = 0; j < nb; j++, l++) {
		float z = zq[j], e = ods_expf(z - mn);
		sv[l] += e;
		uv[l] += e * z;
		if (!have_kl)
			av[l] += pw[j] * (zp[j] - z);
	}
	for (int l = 0; l < LANES; l++) {
		s += sv[l];
		u += uv[l];
		aa += av[l];
	}
	q->a += have_kl ? kl_block : aa;
	q->s += s;
	q->u += u;
	if (gold >= t0 && gold < t0 + nb)
		q->zgold = zq[gold - t0];
}

void ods_ablate_add(struct ods_ablate *a, const float *h, const int32_t *gold, int n)
{
	int D = a->D, V = a->V, nc = a->n_cond;
	int has_base = 0;

	grow(a, n);
	for (int j = 0; j < D; j++)
		has_base |= a->base[j] != 0.0f;
	/* e[i][k] = h_S - b_S for every condition's dims */
	for (int i = 0; i < n; i++) {
		float *e = a->e + (size_t)i * a->e_row;
		for (int c = 0; c < nc; c++)
			for (int k = 0; k < a->conds[c].n_dims; k++) {
				int d = a->conds[c].dims[k];
				e[a->e_off[c] + k] = h[(size_t)i * D + d] - a->base[d];
			}
		for (int c = 0; c < nc; c++) {
			struct qstate *q = &a->st[(size_t)i * nc + c];
			q->s = q->u = q->a = 0;
			q->m = -INFINITY;
			q->topv = -INFINITY;
			q->top1 = 0;
			q->zgold = 0;
		}
	}
	for (int t0 = 0; t0 < V; t0 += VB) {
		int nb = V - t0 < VB ? V - t0 : VB;
		ods_model_unemb_rows(a->m, t0, t0 + nb, a->wb);
		ods_matmul(a->z, h, a->wb, ODS_W_OUT_IN, NULL, n, D, nb); /* z[n, nb] */
		for (int u = 0; u < a->n_union; u++)
			for (int j = 0; j < nb; j++)
				a->cols[(size_t)u * VB + j] = a->wb[(size_t)j * D + a->uni[u]];
		if (has_base)
			ods_matmul(a->wbase, a->base, a->wb, ODS_W_OUT_IN, NULL, 1, D, nb);
		else
			memset(a->wbase, 0, (size_t)nb * sizeof *a->wbase);
#pragma omp parallel
		{
			float *zq = ods_xmalloc((size_t)nb * sizeof *zq), *pw = ods_xmalloc((size_t)nb * sizeof *pw);
			float *zp = ods_xmalloc((size_t)nb * sizeof *zp);
			double *g = ods_xmalloc((size_t)(a->n_union + 1) * sizeof *g); /* [n_union] */
			int raw = !a->bias && a->softcap <= 0; /* logits are linear in h: KL terms by columns */
#pragma omp for schedule(static)
			for (int i = 0; i < n; i++) {
				const float *zi = a->z + (size_t)i * nb;
				const float *e = a->e + (size_t)i * a->e_row;
				struct qstate *qs = &a->st[(size_t)i * nc];
				/* P = full (condition 0): its weights exp(z_P - m_P) for the KL terms */
				for (int j = 0; j < nb; j++)
					zp[j] = post(a, zi[j], t0 + j);
				float bm = zp[0];
				for (int j = 1; j < nb; j++)
					bm = zp[j] > bm ? zp[j] : bm;
				float mp = bm > qs[0].m ? bm : qs[0].m;
				double r = exp((double)qs[0].m - mp);
				/* rescale every condition's a (accumulated with P's old max) */
				for (int c = 0; c < nc; c++)
					qs[c].a *= r;
#pragma omp simd
				for (int j = 0; j < nb; j++)
					pw[j] = ods_expf(zp[j] - mp);
				/* raw logits: z_P - z_Q = -sg sum_k e_k W[:, S_k] (+ z - W b for "only"), so
				 * sum pw (z_P - z_Q) needs only g_u = sum pw W[:, u] and two more sums */
				double pz = 0, pb = 0;
				if (raw) {
					/* double sums: the "only" terms are differences of large sums */
					for (int u = 0; u < a->n_union; u++) {
						const float *col = a->cols + (size_t)u * VB;
						double acc = 0;
#pragma omp simd reduction(+ : acc)
						for (int j = 0; j < nb; j++)
							acc += pw[j] * col[j];
						g[u] = acc;
					}
					double az = 0, ab = 0;
#pragma omp simd reduction(+ : az, ab)
					for (int j = 0; j < nb; j++) {
						az += pw[j] * zp[j];
						ab += pw[j] * a->wbase[j];
					}
					pz = az;
					pb = ab;
				}
				for (int c = 0; c < nc; c++) {
					const struct ods_cond *cd = &a->conds[c];
					const float *ec = e + a->e_off[c];
					const float *zc = zq;
					float cm = -INFINITY;
					if (cd->n_dims == 0 && !cd->only) {
						zc = zp;
						for (int j = 0; j < nb; j++)
							cm = zp[j] > cm ? zp[j] : cm;
					} else if (a->bias || a->softcap > 0) {
						rank_update(zq, cd->only ? a->wbase : zi, a->cols, a->uidx[c], ec,
							    cd->n_dims, cd->only ? 1.0f : -1.0f, nb);
						for (int j = 0; j < nb; j++) {
							zq[j] = post(a, zq[j], t0 + j);
							cm = zq[j] > cm ? zq[j] : cm;
						}
					} else {
						cm = rank_update(zq, cd->only ? a->wbase : zi, a->cols, a->uidx[c], ec,
								 cd->n_dims, cd->only ? 1.0f : -1.0f, nb);
					}
					double klb = 0;
					if (raw) {
						/* ablate: z_P - z_Q = sum_k e_k col_k; only: z_P - z_Q = z - Wb - sum_k e_k col_k */
						for (int k = 0; k < cd->n_dims; k++)
							klb += ec[k] * g[a->uidx[c][k]];
						if (cd->only)
							klb = pz - pb - klb;
					}
					fold(&qs[c], zc, cm, zp, pw, nb, t0, gold[i], raw, klb);
				}
			}
			free(zq);
			free(pw);
			free(zp);
			free(g);
		}
	}
	/* finalize this batch's inputs */
	for (int i = 0; i < n; i++) {
		const struct qstate *qs = &a->st[(size_t)i * nc];
		double lp = qs[0].m + log(qs[0].s);
		int64_t k = a->n_in + i;
		for (int c = 0; c < nc; c++) {
			const struct qstate *q = &qs[c];
			double l = q->m + log(q->s);
			a->surp[c][k] = (float)(l - q->zgold);
			a->ent[c][k] = (float)(l - q->u / q->s);
			a->kl[c][k] = (float)(q->a / qs[0].s - lp + l);
			a->top1[c][k] = q->top1;
			a->n_top1[c][q->top1]++;
		}
		a->gold[k] = gold[i];
	}
	a->n_in += n;
}

int64_t ods_ablate_count(const struct ods_ablate *a)
{
	return a->n_in;
}

static int cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return a < b ? -1 : a > b;
}

static void mean_median(const float *v, int64_t n, double *mean, double *median)
{
	float *c = ods_xmalloc((size_t)(n ? n : 1) * sizeof *c);
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += v[i];
	memcpy(c, v, (size_t)n * sizeof *c);
	qsort(c, (size_t)n, sizeof *c, cmp_float);
	*mean = n ? s / (double)n : NAN;
	*median = !n ? NAN : n % 2 ? c[n / 2] : 0.5 * ((double)c[n / 2 - 1] + c[n / 2]);
	free(c);
}

void ods_ablate_finish(struct ods_ablate *a, const int64_t *corpus, struct ods_cond_result *res)
{
	int64_t n = a->n_in, total = 0;
	double *x = ods_xmalloc((size_t)a->V * sizeof *x), *y = ods_xmalloc((size_t)a->V * sizeof *y);

	for (int t = 0; t < a->V; t++)
		total += corpus[t];
	for (int c = 0; c < a->n_cond; c++) {
		struct ods_cond_result *r = &res[c];
		int64_t hit = 0;
		size_t k = 0;
		double mx = 0, my = 0, sxy = 0, sxx = 0;
		mean_median(a->surp[c], n, &r->mean_surprisal, &r->median_surprisal);
		mean_median(a->ent[c], n, &r->mean_entropy, &r->median_entropy);
		mean_median(a->kl[c], n, &r->mean_kl, &r->median_kl);
		for (int64_t i = 0; i < n; i++)
			hit += a->top1[c][i] == a->gold[i];
		r->accuracy = n ? (double)hit / (double)n : NAN;
		r->n_distinct_top1 = 0;
		for (int t = 0; t < a->V; t++) {
			r->n_distinct_top1 += a->n_top1[c][t] > 0;
			if (a->n_top1[c][t] > 0 && corpus[t] > 0) {
				x[k] = (double)corpus[t] / (double)total;
				y[k] = (double)a->n_top1[c][t] / (double)n;
				mx += x[k];
				my += y[k];
				k++;
			}
		}
		if (k >= 2) {
			mx /= (double)k;
			my /= (double)k;
			for (size_t i = 0; i < k; i++) {
				sxy += (x[i] - mx) * (y[i] - my);
				sxx += (x[i] - mx) * (x[i] - mx);
			}
			r->freq_slope = sxx > 0 ? sxy / sxx : NAN;
			r->freq_spearman = ods_spearman(x, y, k);
		} else {
			r->freq_slope = r->freq_spearman = NAN;
		}
		r->n_top1 = a->n_top1[c];
	}
	free(x);
	free(y);
}

void ods_ablate_inputs(const struct ods_ablate *a, int c, const float **surprisal,
		       const float **entropy, const float **kl, const int32_t **top1,
		       const int32_t **gold)
{
	*surprisal = a->surp[c];
	*entropy = a->ent[c];
	*kl = a->kl[c];
	*top1 = a->top1[c];
	*gold = a->gold;
}

void ods_ablate_free(struct ods_ablate *a)
{
	if (!a)
		return;
	for (int c = 0; c < a->n_cond; c++) {
		free(a->conds[c].dims);
		free(a->uidx[c]);
		free(a->surp[c]);
		free(a->ent[c]);
		free(a->kl[c]);
		free(a->top1[c]);
		free(a->n_top1[c]);
	}
	free(a->conds);
	free(a->uidx);
	free(a->uni);
	free(a->cols);
	free(a->e_off);
	free(a->base);
	free(a->wb);
	free(a->wbase);
	free(a->z);
	free(a->e);
	free(a->st);
	free(a->surp);
	free(a->ent);
	free(a->kl);
	free(a->top1);
	free(a->n_top1);
	free(a->gold);
	free(a);
}
