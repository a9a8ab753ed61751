/* ablate.c - ablation conditions by rank-|S| updates with online softmax
 * statistics (see include/odscope/ablate.h).
 *
 * Per input and condition Q the state over the vocabulary blocks seen so far,
 * in base-2 units (every logit is scaled by log2 e: h is, before the product):
 *   m   running max of z_Q,      s = sum 2^(z_Q - m),   u = sum 2^(z_Q - m) (z_Q - m),
 *   a   sum 2^(z_P - m_P) (z_P - z_Q)   (P = full, rescaled with P's max),
 *   top-1 and z_Q[gold].
 * Then, in nats, log-sum-exp L = ln2 (m + log2 s), entropy H = ln2 (log2 s - u / s),
 * surprisal = L - ln2 z_Q[gold], KL(P || Q) = ln2 a / s_P - L_P + L_Q.
 *
 * Sharing: every distinct dimension set S is one "node" whose correction
 * d_S = W_U[:, S] (h_S - b_S) is computed once per input and block, from the
 * largest set that is a subset of S (cumulative sets cost one column each);
 * "ablate S" is z - d_S and "only S" is W_U b + d_S. Conditions that are the
 * same computation (cumulative_|ODs| = ablate_ods, ablating nothing = full)
 * are computed once and copied.
 */
#include "odscope/ablate.h"
#include "odscope/fastmath.h"
#include "odscope/link.h"
#include "odscope/ops.h"
#include "odscope/smx.h"
#include "odscope/st.h"

#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SB 4096  /* vocabulary block: one product, then each input's conditions
		  * over it (one input's share stays in L2) */
#define AHEAD 2   /* blocks whose products are handed out before a block's
		   * conditions (see run_pending) */
#define SLICE_MIN 256 /* tokens in a slice of a product, at least (narrower
		       * sgemms run slower) */
#define NRING 3  /* blocks whose logits are held at once (see run_pending) */
_Static_assert(NRING > AHEAD, "a product's ring slot is freed by conditions handed out before it");
#define CHUNK 8  /* inputs per work item of the conditions */
#define PEND 512 /* inputs buffered before a pass over W_U */
#define LN2 0.69314718055994530942
#define LOG2E 1.44269504088896340736

struct qstate {
	double s, u, a;
	float m, zgold, topv;
	int32_t top1;
};

/* A distinct dimension set: d = d_parent + sum over the extra dims. */
struct node {
	int parent; /* node index or -1 */
	int n_extra;
	int *xu;    /* [n_extra] union indices of the extra dims */
	int *xd;    /* [n_extra] the extra dims */
	int e_off;  /* offset of this node's coefficients in a row of e */
	int cond[2]; /* the conditions computed on it: ablate, only (-1: none) */
	int slot;    /* where its d lives in a pass: its own for a parent, one
		      * shared by all leaves (read only right after) */
};

#define SAME_AS_FULL -2

struct ods_ablate {
	const struct ods_model *m;
	int D, V, n_cond;
	struct ods_cond *conds;
	int *node;          /* [n_cond] node of each condition (-1: empty set) */
	int *same;          /* [n_cond] -1, SAME_AS_FULL or an earlier identical condition */
	int n_node, n_slot; /* n_slot: d buffers a pass needs (see node.slot) */
	struct node *nodes; /* [n_node], parents before children */
	float *base;        /* [D] replacement values (zeros or means) */
	float *base2;       /* [D] base * log2 e */
	int has_base;
	float softcap;
	const float *bias;  /* [V] or NULL */
	int n_union;        /* distinct dimensions over all conditions */
	int *uni;           /* [n_union] those dimensions */
	/* inputs waiting for a pass over W_U */
	float *pend;        /* [PEND, D] */
	int32_t *pend_gold; /* [PEND] */
	int n_pend;
	/* one pass; per ring slot (block b in slot b % NRING): */
	float *h2;          /* [PEND, D] inputs * log2 e */
	float *z;           /* [NRING][n, nb] logits of the block (base 2), nb <= SB */
	/* what depends on W_U only, made by the first pass's products (n_in
	 * still 0) and kept: W_U b, the union's columns and their maxima */
	float *wbase;       /* [V] W_U b (base 2) */
	int n_blk;          /* blocks of SB tokens */
	int col_slots;      /* blocks whose columns cols holds: n_blk (kept), or a ring */
	float *cols;        /* [n_union, col_slots * SB] W_U[t0.., uni], block b at (b % col_slots) SB */
	float *cmax;        /* [n_blk, n_union] max |W_U[t, uni]| over each block */
	float *e;           /* [PEND, e_row] (h_S - b_S) log2 e per row and node extra dim */
	int e_row;
	struct qstate *st;  /* [PEND, n_cond + 1]: P first, then the conditions */
	/* per input, per condition: [n_cond][n_in] */
	int64_t n_in, in_cap;
	float **surp, **ent, **kl;
	int32_t **top1;
	int32_t *gold;
	int32_t **top1_tok; /* [n_cond][distinct top-1 tokens], made at finish */
	int64_t **top1_cnt; /* [n_cond][the same] */
};

static int cmp_int(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;
	return a < b ? -1 : a > b;
}

/* Sorted distinct dims of condition c into out; returns the count. */
static int dim_set(const struct ods_cond *c, int *out)
{
	int n = 0;
	if (!c->n_dims)
		return 0;
	memcpy(out, c->dims, (size_t)c->n_dims * sizeof *out);
	qsort(out, (size_t)c->n_dims, sizeof *out, cmp_int);
	for (int k = 0; k < c->n_dims; k++)
		if (!n || out[k] != out[n - 1])
			out[n++] = out[k];
	return n;
}

/* The distinct sets of the conditions as nodes (smallest first, each built
 * from its largest subset), the union of their dimensions, and which
 * conditions repeat another. */
static void plan(struct ods_ablate *a)
{
	int nc = a->n_cond, D = a->D;
	int **sets = ods_xcalloc((size_t)nc, sizeof *sets), *size = ods_xcalloc((size_t)nc, sizeof *size);
	int *order = ods_xmalloc((size_t)nc * sizeof *order), *where = ods_xmalloc((size_t)D * sizeof *where);
	int *mark = ods_xcalloc((size_t)D, sizeof *mark), n_set = 0;
	/* distinct sets, in condition order */
	for (int c = 0; c < nc; c++) {
		int *s = ods_xmalloc((size_t)(a->conds[c].n_dims + 1) * sizeof *s), n = dim_set(&a->conds[c], s), f = -1;
		for (int k = 0; k < n_set && f < 0; k++)
			if (size[k] == n && !memcmp(sets[k], s, (size_t)n * sizeof *s))
				f = k;
		if (n == 0) {
			a->node[c] = -1;
			free(s);
		} else if (f >= 0) {
			a->node[c] = f;
			free(s);
		} else {
			sets[n_set] = s;
			size[n_set] = n;
			a->node[c] = n_set++;
		}
	}
	/* order by size; node index = rank in that order */
	for (int k = 0; k < n_set; k++)
		order[k] = k;
	for (int i = 1; i < n_set; i++)
		for (int j = i; j > 0 && size[order[j - 1]] > size[order[j]]; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	int *rank = ods_xmalloc((size_t)(n_set + 1) * sizeof *rank);
	for (int k = 0; k < n_set; k++)
		rank[order[k]] = k;
	for (int c = 0; c < nc; c++)
		if (a->node[c] >= 0)
			a->node[c] = rank[a->node[c]];
	for (int d = 0; d < D; d++)
		where[d] = -1;
	a->n_node = n_set;
	a->nodes = ods_xcalloc((size_t)(n_set + 1), sizeof *a->nodes);
	for (int k = 0; k < n_set; k++) {
		struct node *nd = &a->nodes[k];
		int *s = sets[order[k]], n = size[order[k]], best = -1;
		for (int i = 0; i < n; i++)
			mark[s[i]] = k + 1;
		/* the largest earlier node that is a strict subset */
		for (int p = 0; p < k; p++) {
			int *ps = sets[order[p]], pn = size[order[p]], sub = pn < n;
			for (int i = 0; i < pn && sub; i++)
				sub = mark[ps[i]] == k + 1;
			if (sub && (best < 0 || pn > size[order[best]]))
				best = p;
		}
		nd->parent = best;
		if (best >= 0)
			for (int i = 0; i < size[order[best]]; i++)
				mark[sets[order[best]][i]] = 0;
		nd->xu = ods_xmalloc((size_t)n * sizeof *nd->xu);
		nd->xd = ods_xmalloc((size_t)n * sizeof *nd->xd);
		for (int i = 0; i < n; i++) {
			int d = s[i];
			if (mark[d] != k + 1)
				continue;
			if (where[d] < 0) {
				where[d] = a->n_union;
				a->uni[a->n_union++] = d;
			}
			nd->xd[nd->n_extra] = d;
			nd->xu[nd->n_extra++] = where[d];
		}
		nd->e_off = a->e_row;
		a->e_row += nd->n_extra;
	}
	/* d slots: the parents' own, then one for every leaf (a thread's
	 * working set stays in L2) */
	for (int k = 0; k < n_set; k++)
		a->nodes[k].slot = -1;
	for (int k = 0; k < n_set; k++) {
		struct node *par = a->nodes[k].parent >= 0 ? &a->nodes[a->nodes[k].parent] : NULL;
		if (par && par->slot < 0)
			par->slot = a->n_slot++;
	}
	for (int k = 0; k < n_set; k++)
		if (a->nodes[k].slot < 0)
			a->nodes[k].slot = a->n_slot;
	a->n_slot++;
	/* repeated computations; what is left is at most one ablate and one
	 * only condition per node */
	for (int k = 0; k < n_set; k++)
		a->nodes[k].cond[0] = a->nodes[k].cond[1] = -1;
	for (int c = 0; c < nc; c++) {
		a->same[c] = -1;
		if (a->node[c] < 0 && !a->conds[c].only)
			a->same[c] = SAME_AS_FULL;
		for (int p = 0; p < c && a->same[c] == -1; p++)
			if (a->same[p] == -1 && a->node[p] == a->node[c] && a->conds[p].only == a->conds[c].only)
				a->same[c] = p;
		if (a->same[c] == -1 && a->node[c] >= 0)
			a->nodes[a->node[c]].cond[a->conds[c].only ? 1 : 0] = c;
	}
	for (int k = 0; k < n_set; k++)
		free(sets[k]);
	free(sets);
	free(size);
	free(order);
	free(rank);
	free(where);
	free(mark);
}

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
	ods_smx_init();
	a = ods_xcalloc(1, sizeof *a);
	a->m = m;
	a->D = D;
	a->V = m->cfg.n_vocab;
	a->n_cond = n_cond;
	a->conds = ods_xmalloc((size_t)(n_cond + 1) * sizeof *a->conds);
	for (int c = 0; c < n_cond; c++) {
		a->conds[c] = conds[c];
		a->conds[c].dims = ods_xmalloc((size_t)(conds[c].n_dims + 1) * sizeof(int));
		if (conds[c].n_dims)
			memcpy(a->conds[c].dims, conds[c].dims, (size_t)conds[c].n_dims * sizeof(int));
	}
	a->node = ods_xmalloc((size_t)(n_cond + 1) * sizeof *a->node);
	a->same = ods_xmalloc((size_t)(n_cond + 1) * sizeof *a->same);
	a->uni = ods_xmalloc((size_t)D * sizeof *a->uni);
	plan(a);
	a->base = ods_xcalloc((size_t)D, sizeof *a->base);
	a->base2 = ods_xcalloc((size_t)D, sizeof *a->base2);
	if (base)
		memcpy(a->base, base, (size_t)D * sizeof *a->base);
	for (int j = 0; j < D; j++) {
		a->has_base |= a->base[j] != 0.0f;
		a->base2[j] = (float)(a->base[j] * LOG2E);
	}
	a->softcap = softcap;
	a->bias = bias;
	a->pend = ods_xmalloc((size_t)PEND * D * sizeof *a->pend);
	a->pend_gold = ods_xmalloc((size_t)PEND * sizeof *a->pend_gold);
	a->h2 = ods_xmalloc((size_t)PEND * D * sizeof *a->h2);
	a->z = ods_xmalloc_huge((size_t)NRING * PEND * SB * sizeof *a->z);
	/* faulted in here, by one thread and one write per page (2.5-3 ms for
	 * the 24 MiB of 512 inputs, the kernel's zeroing): left to the
	 * products' threads, or zeroed by both threads at once, the faults
	 * contend (no gain, spikes of 15-28 ms measured) */
	for (size_t j = 0; j < (size_t)NRING * PEND * SB; j += 1024)
		a->z[j] = 0.0f;
	a->wbase = ods_xcalloc((size_t)a->V, sizeof *a->wbase);
	/* the union's columns for the whole vocabulary when they fit in
	 * ODS_ABLATE_COLS_MIB (default 256): every pass after the first reads
	 * them instead of gathering them from W_U's rows again; else a ring of
	 * blocks, gathered on every pass */
	const char *lim = getenv("ODS_ABLATE_COLS_MIB");
	a->n_blk = (a->V + SB - 1) / SB;
	a->col_slots = (double)a->n_union * a->n_blk * SB * sizeof(float) <=
				       (lim && *lim ? atof(lim) : 256.0) * 1048576.0
			       ? a->n_blk
			       : NRING < a->n_blk ? NRING : a->n_blk;
	a->cols = ods_xmalloc((size_t)a->col_slots * SB * (a->n_union + 1) * sizeof *a->cols);
	a->cmax = ods_xmalloc((size_t)a->n_blk * (a->n_union + 1) * sizeof *a->cmax);
	a->e = ods_xmalloc((size_t)PEND * (size_t)(a->e_row + 1) * sizeof *a->e);
	a->st = ods_xmalloc((size_t)PEND * (size_t)(n_cond + 1) * sizeof *a->st);
	a->surp = ods_xcalloc((size_t)n_cond, sizeof *a->surp);
	a->ent = ods_xcalloc((size_t)n_cond, sizeof *a->ent);
	a->kl = ods_xcalloc((size_t)n_cond, sizeof *a->kl);
	a->top1 = ods_xcalloc((size_t)n_cond, sizeof *a->top1);
	a->top1_tok = ods_xcalloc((size_t)n_cond, sizeof *a->top1_tok);
	a->top1_cnt = ods_xcalloc((size_t)n_cond, sizeof *a->top1_cnt);
	*out = a;
	return 0;
}

static void grow(struct ods_ablate *a, int n)
{
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

/* The model's own output transform (--faithful) on base-2 logits z[nb]
 * (tokens t0..): bias, then soft-cap, in nats. Returns the maximum. */
static inline float post_(float *z, const float *bias, float cap, int nb, const int has_b,
			  const int has_c)
{
	float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
	for (int j = 0; j < nb; j++) {
		float v = z[j] * (float)LN2;
		if (has_b)
			v += bias[j];
		if (has_c)
			v = cap * ods_tanhf(v / cap);
		z[j] = v * (float)LOG2E;
		mx = z[j] > mx ? z[j] : mx;
	}
	return mx;
}

static float post(const struct ods_ablate *a, float *z, int t0, int nb)
{
	const float *b = a->bias ? a->bias + t0 : NULL;
	float cap = a->softcap;
	/* one loop per case (a branch inside keeps it from vectorizing) */
	return b && cap > 0 ? post_(z, b, cap, nb, 1, 1)
	       : b	   ? post_(z, b, cap, nb, 1, 0)
	       : cap > 0   ? post_(z, b, cap, nb, 0, 1)
			   : post_(z, b, cap, nb, 0, 0);
}

/* Move q's sums to the reference m (>= q->m, or any m while s = 0):
 * s' = r s, u' = r (u + (m_old - m) s), r = 2^(m_old - m). */
static void rebase(struct qstate *q, float m)
{
	if (q->s > 0) {
		double r = exp2((double)q->m - m);
		q->u = r * (q->u + ((double)q->m - m) * q->s);
		q->s *= r;
	}
	q->m = m;
}

/* Top-1 and gold logit of q from a block v = b + sg d (tokens t0 .. t0 + nb)
 * whose max is bm. */
static void top_gold(struct qstate *q, float bm, const float *b, const float *d, float sg, int nb,
		     int t0, int gold)
{
	if (bm > q->topv) {
		int j = ods_smx_find(b, d, sg, nb, bm);
		q->topv = bm;
		q->top1 = t0 + (j < 0 ? 0 : j);
	}
	if (gold >= t0 && gold < t0 + nb)
		q->zgold = ods_smx_at(b, d, sg, gold - t0);
}

/* Move P to the reference m (>= its own) with every condition's a, which is
 * accumulated against P's reference. */
static void rebase_p(struct qstate *ps, struct qstate *qs, int nc, float m)
{
	double r = exp2((double)ps->m - m);
	for (int c = 0; c < nc; c++)
		qs[c].a *= r;
	rebase(ps, m);
}

/* A block's sums acc, taken against r, into q (whose reference may differ:
 * they move to the larger of the two). */
static void merge(struct qstate *q, const double acc[3], float r)
{
	double s = acc[0], u = acc[1];
	if (q->s == 0) {
		q->m = r;
	} else if (r != q->m) {
		float to = r > q->m ? r : q->m;
		double f = exp2((double)r - to);
		rebase(q, to);
		u = f * (u + ((double)r - to) * s);
		s *= f;
	}
	q->s += s;
	q->u += u;
	q->a += acc[2];
}

/* A block's sums acc against r and its max bm (see fold) into q; the block is
 * v = b + sg d (tokens t0 .. t0 + nb), kept for a redo, top-1 and gold. The
 * block is redone against its max when bm is more than 16 above r, or, for a
 * first block summed against a guess, more than 64 below it. */
static void fold_end(struct qstate *q, double acc[3], float r, float bm, const float *b,
		     const float *d, float sg, int nb, int t0, int gold, int kl, const float *x,
		     const float *zp)
{
	if (bm > r + 16.0f || (q->s == 0 && bm < r - 64.0f)) {
		/* the largest terms were far from r (2^(v - r) may even have
		 * overflowed past 100, or underflowed): again against this
		 * block's max (or q's, if higher) */
		rebase(q, q->s == 0 || bm > q->m ? bm : q->m);
		acc[0] = acc[1] = acc[2] = 0;
		ods_smx_fold(b, d, sg, q->m, nb, kl, x, zp, NULL, acc);
		r = q->m;
	}
	merge(q, acc, r);
	if (bm > q->m)
		rebase(q, bm);
	top_gold(q, bm, b, d, sg, nb, t0, gold);
}

static void fold(struct qstate *q, const float *b, const float *d, float sg, int nb, int t0,
		 int gold, int kl, const float *x, const float *zp);

/* An ablate condition's block summed by the node kernel as t = zm - d against
 * 0, zm = z - r (so against r, in the units of v = z - d, up to the rounding
 * of zm), with max tm: into q, whose reference may differ from r. Redone as a
 * plain fold when its terms were far from r (see fold_end). Top-1 is found in
 * t and kept with its value in v; the gold logit is read in v. */
static void fold_rel(struct qstate *q, const double acc[2], float r, float tm, const float *zm,
		     const float *z, const float *d, int nb, int t0, int gold)
{
	if (tm > 16.0f || (q->s == 0 && tm < -64.0f)) {
		if (q->s == 0)
			q->m = -INFINITY;
		else if (tm + r > q->m)
			rebase(q, tm + r);
		fold(q, z, d, -1.0f, nb, t0, gold, ODS_SMX_KL_NONE, NULL, NULL);
		return;
	}
	merge(q, (const double[3]){acc[0], acc[1], 0}, r);
	float bm = tm + r;
	if (bm > q->m)
		rebase(q, bm);
	/* bm is v's max up to a rounding: find the token in t, compare in v */
	if (bm >= q->topv - fabsf(q->topv) * 1e-6f) {
		int j = ods_smx_find(zm, d, -1.0f, nb, tm);
		float v = ods_smx_at(z, d, -1.0f, j < 0 ? 0 : j);
		if (v > q->topv) {
			q->topv = v;
			q->top1 = t0 + (j < 0 ? 0 : j);
		}
	}
	if (gold >= t0 && gold < t0 + nb)
		q->zgold = ods_smx_at(z, d, -1.0f, gold - t0);
}

/* Fold one block of logits v = b + sg d (tokens t0 .. t0 + nb) into q:
 * top-1, gold logit, sums (kl, x, zp: see ods_smx_fold). The sums
 * are taken against q's reference when there is one (one pass), else
 * against the block's max. */
static void fold(struct qstate *q, const float *b, const float *d, float sg, int nb, int t0,
		 int gold, int kl, const float *x, const float *zp)
{
	double acc[3] = {0, 0, 0};
	if (q->m == -INFINITY)
		q->m = ods_smx_vmax(b, d, sg, nb);
	float bm = ods_smx_fold(b, d, sg, q->m, nb, kl, x, zp, NULL, acc);
	fold_end(q, acc, q->m, bm, b, d, sg, nb, t0, gold, kl, x, zp);
}

/* Per-thread scratch of one pass. */
struct scratch {
	float *zp, *pw, *zq, *delta; /* [SB] each, delta [n_slot, SB] */
	const float **col;           /* [n_union] */
	float *bound;                /* [n_node] a bound on |d| over the block */
};

/* Input i over the block of tokens t0 .. t0 + nb: zi its logits, cols
 * (row stride col_slots SB), cmax and wbase the block's columns, their
 * maxima and W_U b. */
static void input_block(struct ods_ablate *a, struct scratch *w, int i, int t0, int nb,
			const float *zi, const float *cols, const float *cmax, const float *wbase,
			int32_t gold)
{
	int nc = a->n_cond, raw = !a->bias && a->softcap <= 0;
	const float *e = a->e + (size_t)i * a->e_row;
	struct qstate *ps = &a->st[(size_t)i * (nc + 1)], *qs = ps + 1;
	const float *zp = zi;
	double pb[3] = {0, 0, 0}, pz;
	int pkl = raw && a->has_base ? ODS_SMX_KL_EX : ODS_SMX_KL_NONE;
	float bm;
	/* P = full; its weights pw = 2^(z_P - m_P) for the KL terms, against P's
	 * reference m_P, which every condition's a shares: it stays for the
	 * whole block (moved first only if the block's max is more than 16
	 * above it), and P and the a's move to the block's max after it */
	if (!raw) {
		memcpy(w->zp, zi, (size_t)nb * sizeof *w->zp);
		bm = post(a, w->zp, t0, nb);
		zp = w->zp;
		if (ps->m == -INFINITY)
			ps->m = bm;
	} else if (ps->m == -INFINITY) {
		ps->m = ods_smx_vmax(zp, NULL, 1.0f, nb);
	}
	bm = ods_smx_fold(zp, NULL, 1.0f, ps->m, nb, pkl, wbase, NULL, w->pw, pb);
	if (bm > ps->m + 16.0f) {
		rebase_p(ps, qs, nc, bm);
		pb[0] = pb[1] = pb[2] = 0;
		ods_smx_fold(zp, NULL, 1.0f, ps->m, nb, pkl, wbase, NULL, w->pw, pb);
	}
	ps->s += pb[0];
	ps->u += pb[1];
	top_gold(ps, bm, zp, NULL, 1.0f, nb, t0, gold);
	/* pb: this block's sum pw, sum pw (z_P - m_P) and sum pw W b, for the KL
	 * terms of raw conditions: z_P - z_Q = d_S (ablate) or z - W b - d_S (only) */
	pz = pb[1] + (double)ps->m * pb[0]; /* sum pw z_P */
	/* zq = z - m_P: an ablate condition whose reference is near P's sums
	 * zq - d against 0 (one subtraction less per term) */
	if (raw)
		for (int j = 0; j < nb; j++)
			w->zq[j] = zi[j] - ps->m;
	/* d_S of every node, from its parent's and its extra columns, with
	 * sum pw d_S; then the conditions on it: ablate z - d_S, only W b + d_S */
	for (int k = -1; k < a->n_node; k++) {
		const float *d = NULL;
		double pd = 0;
		if (k >= 0) {
			const struct node *nd = &a->nodes[k];
			const float *par =
				nd->parent >= 0 ? w->delta + (size_t)a->nodes[nd->parent].slot * SB : NULL;
			float *dk = w->delta + (size_t)nd->slot * SB;
			int ca = nd->cond[0], co = nd->cond[1];
			const float *ek = e + nd->e_off;
			w->bound[k] = nd->parent >= 0 ? w->bound[nd->parent] : 0.0f;
			for (int x = 0; x < nd->n_extra; x++) {
				w->col[x] = cols + (size_t)nd->xu[x] * a->col_slots * SB;
				w->bound[k] += fabsf(ek[x]) * cmax[nd->xu[x]];
			}
			if (raw) {
				/* the node and its conditions in one pass; a condition's
				 * first block is summed against a guess of its max (P's
				 * for ablate and for only with a base, 0 for only d_S),
				 * redone by fold_end if the guess was far off */
				int on[2] = {ca >= 0, co >= 0};
				if (ca >= 0 && qs[ca].m == -INFINITY)
					qs[ca].m = ps->m;
				if (co >= 0 && qs[co].m == -INFINITY)
					qs[co].m = a->has_base ? ps->m : 0.0f;
				/* rel: the ablate condition against P's reference, rel1:
				 * the only condition without a base against 0, when their
				 * own are near (one subtraction less per term; sums far
				 * from their values would cost the entropy precision) */
				int rel = ca >= 0 && fabsf(qs[ca].m - ps->m) <= 4.0f;
				int rel1 = co >= 0 && !a->has_base && fabsf(qs[co].m) <= 4.0f;
				float m2[2] = {ca >= 0 && !rel ? qs[ca].m : 0.0f,
					       co >= 0 && !rel1 ? qs[co].m : 0.0f}, mx[2];
				double acc[2][3] = {{0, 0, 0}, {0, 0, 0}};
				/* both near their references and |d| <= 32 (no 2^-d overflows,
				 * no term pw 2^-d that matters underflows): paired */
				if (rel && rel1 && w->bound[k] <= 32.0f)
					pd = ods_smx_node_pair(dk, par, w->col, ek, nd->n_extra, w->pw, w->zq, mx, acc,
							       nb);
				else
					pd = ods_smx_node(dk, par, w->col, ek, nd->n_extra, w->pw, rel ? w->zq : zi,
							  a->has_base ? wbase : NULL, on, m2, mx, acc, nb);
				if (rel)
					fold_rel(&qs[ca], acc[0], ps->m, mx[0], w->zq, zi, dk, nb, t0, gold);
				else if (ca >= 0)
					fold_end(&qs[ca], acc[0], m2[0], mx[0], zi, dk, -1.0f, nb, t0, gold,
						 ODS_SMX_KL_NONE, NULL, NULL);
				if (ca >= 0)
					qs[ca].a += pd;
				if (co >= 0) {
					fold_end(&qs[co], acc[1], m2[1], mx[1], wbase, dk, 1.0f, nb, t0, gold,
						 ODS_SMX_KL_NONE, NULL, NULL);
					qs[co].a += pz - pb[2] - pd;
				}
				continue;
			}
			/* the faithful path: its KL terms come from its folds */
			ods_smx_axpy(dk, par, w->col, ek, nd->n_extra, NULL, nb);
			d = dk;
		}
		for (int c = 0; c < nc; c++) {
			const struct ods_cond *cd = &a->conds[c];
			const float *b = cd->only ? wbase : zi;
			float sg = cd->only ? 1.0f : -1.0f;
			if (a->node[c] != k || a->same[c] != -1)
				continue;
			if (raw) {
				fold(&qs[c], b, d, sg, nb, t0, gold, ODS_SMX_KL_NONE, NULL, NULL);
				qs[c].a += cd->only ? pz - pb[2] - pd : pd;
			} else {
				ods_smx_combine(w->zq, b, d, sg, nb);
				post(a, w->zq, t0, nb);
				fold(&qs[c], w->zq, NULL, 1.0f, nb, t0, gold, ODS_SMX_KL_DIFF, w->pw, zp);
			}
		}
	}
	if (bm > ps->m)
		rebase_p(ps, qs, nc, bm);
}

/* Block b's columns of the union (row stride col_slots SB). */
static float *block_cols(const struct ods_ablate *a, int b)
{
	return a->cols + (size_t)(b % a->col_slots) * SB;
}

/* Slice sl of nsl of block b's product for the n inputs into its ring slot
 * (the slices: tokens [j0, j1) of the block, j0 a multiple of 16); in the
 * first pass also the slice's columns and W_U b, later only its columns when
 * they are not kept. */
static void product(struct ods_ablate *a, int b, int sl, int nsl, int n)
{
	const struct ods_mat *W = &a->m->unemb;
	int D = a->D, t0 = b * SB, nb = a->V - t0 < SB ? a->V - t0 : SB, r = b % NRING;
	int per = ((nb + nsl - 1) / nsl + 15) & ~15, j0 = sl * per < nb ? sl * per : nb;
	int j1 = j0 + per < nb ? j0 + per : nb;
	size_t ld = (size_t)a->col_slots * SB;
	int first = a->n_in == 0; /* the first pass makes the tables */
	const char *w0 = (const char *)W->data + (size_t)t0 * D * ods_dtype_size(W->dtype); /* W_U[t0.., :] */
	float *cols = block_cols(a, b);

	ods_matmul_cols(a->z + (size_t)r * PEND * SB, a->h2, w0, W->dtype, ODS_W_OUT_IN, NULL, n, D, nb,
			j0, j1); /* z[n, nb], columns j0..j1 */
	if (!first && a->col_slots == a->n_blk)
		return;
	/* the columns read row by row (W_U is row-major) 16 rows at a time,
	 * written a whole cache line per column (element by element, the
	 * columns' rows far apart collide in the cache) */
	for (int q0 = j0; q0 < j1; q0 += 16) {
		float tile[16];
		int nr = j1 - q0 < 16 ? j1 - q0 : 16;
		for (int u = 0; u < a->n_union; u++) {
			for (int q = 0; q < nr; q++) {
				size_t at = (size_t)(q0 + q) * D + a->uni[u];
				if (W->dtype == ODS_DT_F32)
					tile[q] = ((const float *)w0)[at];
				else
					ods_cvt_f32(&tile[q], w0, W->dtype, at, 1);
			}
			memcpy(&cols[u * ld + q0], tile, (size_t)nr * sizeof *tile);
		}
	}
	if (first && a->has_base)
		ods_matmul_cols(a->wbase + t0, a->base2, w0, W->dtype, ODS_W_OUT_IN, NULL, 1, D, nb, j0, j1);
}

/* Block b's max |column| (bounds on |d|: paired nodes), once all its slices
 * are in (first pass). */
static void block_max(struct ods_ablate *a, int b)
{
	int nb = a->V - b * SB < SB ? a->V - b * SB : SB;
	const float *cols = block_cols(a, b);
	size_t ld = (size_t)a->col_slots * SB;
	for (int u = 0; u < a->n_union; u++) {
		const float *cu = cols + u * ld;
		float mx = 0;
#pragma omp simd reduction(max : mx)
		for (int j = 0; j < nb; j++)
			mx = fabsf(cu[j]) > mx ? fabsf(cu[j]) : mx;
		a->cmax[(size_t)b * a->n_union + u] = mx;
	}
}

/* Wait until *x >= v (spinning, then yielding the core). */
static void await(atomic_int *x, int v)
{
	for (int k = 0; atomic_load_explicit(x, memory_order_acquire) < v; k++)
		if (k >= 1024)
			sched_yield();
}

/* Input i of the pass, its last block folded: its values per condition
 * (the per-input arrays at a->n_in + i; their top-1 counts are taken at
 * finish). */
static void input_end(struct ods_ablate *a, int i)
{
	int nc = a->n_cond;
	const struct qstate *ps = &a->st[(size_t)i * (nc + 1)], *qs = ps + 1;
	double lp = ps->m + log2(ps->s); /* base 2 */
	int64_t k = a->n_in + i;
	for (int c = 0; c < nc; c++) {
		int src = a->same[c];
		if (src >= 0) {
			a->surp[c][k] = a->surp[src][k];
			a->ent[c][k] = a->ent[src][k];
			a->kl[c][k] = a->kl[src][k];
			a->top1[c][k] = a->top1[src][k];
		} else {
			const struct qstate *q = src == SAME_AS_FULL ? ps : &qs[c];
			double l = q->m + log2(q->s);
			a->surp[c][k] = (float)(LN2 * (l - q->zgold));
			a->ent[c][k] = (float)(LN2 * (log2(q->s) - q->u / q->s));
			a->kl[c][k] = src == SAME_AS_FULL ? 0.0f : (float)(LN2 * (q->a / ps->s - lp + l));
			a->top1[c][k] = q->top1;
		}
	}
	a->gold[k] = a->pend_gold[i];
}

/* One pass over W_U for the n pending inputs. */
static void run_pending(struct ods_ablate *a)
{
	int D = a->D, V = a->V, nc = a->n_cond, n = a->n_pend, nt = omp_get_max_threads();
	struct scratch *ws = ods_xcalloc((size_t)nt, sizeof *ws);

	if (!n)
		return;
	grow(a, n);
	for (int t = 0; t < nt; t++) {
		ws[t].zp = ods_xmalloc((size_t)SB * sizeof(float));
		ws[t].pw = ods_xmalloc((size_t)SB * sizeof(float));
		ws[t].zq = ods_xmalloc((size_t)SB * sizeof(float));
		ws[t].delta = ods_xmalloc((size_t)(a->n_slot + 1) * SB * sizeof(float));
		ws[t].col = ods_xmalloc((size_t)(a->n_union + 1) * sizeof *ws[t].col);
		ws[t].bound = ods_xmalloc((size_t)(a->n_node + 1) * sizeof *ws[t].bound);
	}
	/* base-2 units: h2 = h log2 e, e = (h_S - b_S) log2 e */
	for (size_t j = 0; j < (size_t)n * D; j++)
		a->h2[j] = (float)(a->pend[j] * LOG2E);
	for (int i = 0; i < n; i++) {
		const float *h = a->pend + (size_t)i * D;
		float *e = a->e + (size_t)i * a->e_row;
		for (int k = 0; k < a->n_node; k++)
			for (int x = 0; x < a->nodes[k].n_extra; x++) {
				int d = a->nodes[k].xd[x];
				e[a->nodes[k].e_off + x] = (float)(((double)h[d] - a->base[d]) * LOG2E);
			}
		for (int c = 0; c <= nc; c++) {
			struct qstate *q = &a->st[(size_t)i * (nc + 1) + c];
			q->s = q->u = q->a = 0;
			q->m = -INFINITY;
			q->topv = -INFINITY;
			q->top1 = 0;
			q->zgold = 0;
		}
	}
	/* the pass as a pipeline of work items, handed out in this order by one
	 * counter: the products of the first AHEAD blocks, then for each block b
	 * the product of block b + AHEAD (if any) spread evenly among C(b, 0),
	 * C(b, 1), ... A block's product is nsl items P(b, s), each one thread's
	 * sgemm over a slice of the block's tokens (with their columns); C(b, k)
	 * are the conditions of the k-th chunk of inputs over block b. C(b, k)
	 * waits for all of P(b, .) and for C(b - 1, k); P(b, s) for every
	 * C(b - NRING, .), whose ring slot it reuses. Each wait is for an item
	 * handed out earlier, so the earliest unfinished item never waits: no
	 * deadlock. No barrier: a thread the host pauses holds up only what
	 * depends on its item. Products run AHEAD blocks ahead, in nsl = half the
	 * threads slices (at least SLICE_MIN tokens wide): then the products,
	 * two thirds of the work, keep up with the conditions on any number of
	 * threads up to 2 SB / SLICE_MIN (one whole sgemm
	 * a block, one block ahead, would leave all but about two threads
	 * waiting for the products). On 2 threads a product runs beside
	 * conditions. The values do not depend on the slices (each logit is one
	 * dot product, whatever the slice). */
	int nblk = a->n_blk, nch = (n + CHUNK - 1) / CHUNK, first = a->n_in == 0;
	int nsl = nt / 2 < 1 ? 1 : nt / 2 < SB / SLICE_MIN ? nt / 2 : SB / SLICE_MIN;
	int pre = (nblk < AHEAD ? nblk : AHEAD) * nsl, n_full = nblk > AHEAD ? nblk - AHEAD : 0;
	int group = nsl + nch, n_items = pre + n_full * group + (nblk - n_full) * nch;
	int *order = ods_xmalloc((size_t)group * sizeof *order); /* slice s: -1 - s, else a chunk */
	for (int sl = 0, r = 0; sl < nsl; sl++) {
		order[r++] = -1 - sl;
		for (int k = sl * nch / nsl; k < (sl + 1) * nch / nsl; k++)
			order[r++] = k;
	}
	atomic_int next, *p_fin = ods_xmalloc((size_t)nblk * sizeof *p_fin),
			 *p_done = ods_xmalloc((size_t)nblk * sizeof *p_done),
			 *c_fin = ods_xmalloc((size_t)nblk * sizeof *c_fin),
			 *c_at = ods_xmalloc((size_t)nch * sizeof *c_at);
	atomic_init(&next, 0);
	for (int b = 0; b < nblk; b++) {
		atomic_init(&p_fin[b], 0);
		atomic_init(&p_done[b], 0);
		atomic_init(&c_fin[b], 0);
	}
	for (int k = 0; k < nch; k++)
		atomic_init(&c_at[k], 0);
#pragma omp parallel
	{
		struct scratch *w = &ws[omp_get_thread_num()];
		for (;;) {
			int it = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed), b, k;
			if (it >= n_items)
				break;
			if (it < pre) { /* P(it / nsl, it % nsl) */
				b = it / nsl;
				k = -1 - it % nsl;
			} else if (it - pre < n_full * group) {
				b = (it - pre) / group;
				k = order[(it - pre) % group];
				b += k < 0 ? AHEAD : 0;
			} else { /* the last blocks: no products left */
				b = n_full + (it - pre - n_full * group) / nch;
				k = (it - pre - n_full * group) % nch;
			}
			if (k < 0) {
				if (b >= NRING)
					await(&c_fin[b - NRING], nch);
				product(a, b, -1 - k, nsl, n);
				/* the last slice in makes the block's maxima, then
				 * hands the block over */
				if (atomic_fetch_add_explicit(&p_fin[b], 1, memory_order_acq_rel) == nsl - 1) {
					if (first)
						block_max(a, b);
					atomic_store_explicit(&p_done[b], 1, memory_order_release);
				}
				continue;
			}
			await(&p_done[b], 1);
			await(&c_at[k], b);
			int t0 = b * SB, nb = V - t0 < SB ? V - t0 : SB, r = b % NRING;
			for (int i = k * CHUNK; i < n && i < (k + 1) * CHUNK; i++) {
				input_block(a, w, i, t0, nb, a->z + (size_t)r * PEND * SB + (size_t)i * nb,
					    block_cols(a, b), a->cmax + (size_t)b * a->n_union, a->wbase + t0,
					    a->pend_gold[i]);
				if (b == nblk - 1)
					input_end(a, i);
			}
			atomic_store_explicit(&c_at[k], b + 1, memory_order_release);
			atomic_fetch_add_explicit(&c_fin[b], 1, memory_order_acq_rel);
		}
	}
	free(order);
	free(p_fin);
	free(p_done);
	free(c_fin);
	free(c_at);
	a->n_in += n;
	a->n_pend = 0;
	for (int t = 0; t < nt; t++) {
		free(ws[t].zp);
		free(ws[t].pw);
		free(ws[t].zq);
		free(ws[t].delta);
		free(ws[t].col);
		free(ws[t].bound);
	}
	free(ws);
}

void ods_ablate_add(struct ods_ablate *a, const float *h, const int32_t *gold, int n)
{
	for (int i = 0; i < n; i++) {
		memcpy(a->pend + (size_t)a->n_pend * a->D, h + (size_t)i * a->D, (size_t)a->D * sizeof *h);
		a->pend_gold[a->n_pend++] = gold[i];
		if (a->n_pend == PEND)
			run_pending(a);
	}
}

int64_t ods_ablate_count(const struct ods_ablate *a)
{
	return a->n_in + a->n_pend;
}

/* A float's bits as a key in the floats' order (NaNs at the ends). */
static uint32_t fkey(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u >> 31 ? ~u : u | 0x80000000u;
}

static float fval(uint32_t k)
{
	uint32_t u = k >> 31 ? k & 0x7fffffffu : ~k;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Mean and median of v[0..n) (a quickselect on a copy). */
static void mean_median(const float *v, int64_t n, double *mean, double *median)
{
	uint32_t *c = ods_xmalloc((size_t)(n ? n : 1) * sizeof *c), lo = 0;
	double s = 0;
	for (int64_t i = 0; i < n; i++) {
		s += v[i];
		c[i] = fkey(v[i]);
	}
	*mean = n ? s / (double)n : NAN;
	*median = NAN;
	if (n) {
		ods_nth_u32(c, (size_t)n, (size_t)(n / 2));
		for (int64_t i = 0; i < n / 2; i++) /* the largest below: the other middle one */
			lo = c[i] > lo ? c[i] : lo;
		*median = n % 2 ? fval(c[n / 2]) : 0.5 * ((double)fval(lo) + fval(c[n / 2]));
	}
	free(c);
}

void ods_ablate_finish(struct ods_ablate *a, const int64_t *corpus, struct ods_cond_result *res)
{
	int64_t n, total = 0;

	run_pending(a);
	n = a->n_in;
	for (int t = 0; t < a->V; t++)
		total += corpus[t];
	/* the conditions side by side; each thread counts in its own [V] array,
	 * zero between conditions (only the entries a condition touched are
	 * reset), and lists the distinct tokens as they first appear */
#pragma omp parallel
	{
		size_t cap = (size_t)(n < a->V ? n : a->V) + 1; /* distinct tokens, at most */
		int64_t *cnt = ods_xcalloc((size_t)a->V, sizeof *cnt);
		int32_t *tok = ods_xmalloc(cap * sizeof *tok);
		double *x = ods_xmalloc(cap * sizeof *x), *y = ods_xmalloc(cap * sizeof *y);
#pragma omp for schedule(dynamic)
		for (int c = 0; c < a->n_cond; c++) {
			struct ods_cond_result *r = &res[c];
			const int32_t *top = a->top1[c];
			int64_t hit = 0;
			size_t k = 0;
			int nd = 0;
			double mx = 0, my = 0, sxy = 0, sxx = 0;
			for (int64_t i = 0; i < n; i++)
				if (!cnt[top[i]]++)
					tok[nd++] = top[i];
			qsort(tok, (size_t)nd, sizeof *tok, cmp_int);
			r->n_distinct_top1 = nd;
			r->top1_tok = a->top1_tok[c] = ods_xmalloc(((size_t)nd + 1) * sizeof *tok);
			r->top1_cnt = a->top1_cnt[c] = ods_xmalloc(((size_t)nd + 1) * sizeof *cnt);
			for (int j = 0; j < nd; j++) {
				int t = tok[j];
				r->top1_tok[j] = t;
				r->top1_cnt[j] = cnt[t];
				if (corpus[t] > 0) {
					x[k] = (double)corpus[t] / (double)total;
					y[k] = (double)cnt[t] / (double)n;
					mx += x[k];
					my += y[k];
					k++;
				}
				cnt[t] = 0;
			}
			mean_median(a->surp[c], n, &r->mean_surprisal, &r->median_surprisal);
			mean_median(a->ent[c], n, &r->mean_entropy, &r->median_entropy);
			mean_median(a->kl[c], n, &r->mean_kl, &r->median_kl);
			for (int64_t i = 0; i < n; i++)
				hit += top[i] == a->gold[i];
			r->accuracy = n ? (double)hit / (double)n : NAN;
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
		}
		free(cnt);
		free(tok);
		free(x);
		free(y);
	}
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
	for (int k = 0; k < a->n_node; k++) {
		free(a->nodes[k].xu);
		free(a->nodes[k].xd);
	}
	free(a->nodes);
	free(a->node);
	free(a->same);
	for (int c = 0; c < a->n_cond; c++) {
		free(a->conds[c].dims);
		free(a->surp[c]);
		free(a->ent[c]);
		free(a->kl[c]);
		free(a->top1[c]);
		free(a->top1_tok[c]);
		free(a->top1_cnt[c]);
	}
	free(a->conds);
	free(a->uni);
	free(a->cols);
	free(a->cmax);
	free(a->base);
	free(a->base2);
	free(a->pend);
	free(a->pend_gold);
	free(a->h2);
	free(a->wbase);
	free(a->z);
	free(a->e);
	free(a->st);
	free(a->surp);
	free(a->ent);
	free(a->kl);
	free(a->top1);
	free(a->top1_tok);
	free(a->top1_cnt);
	free(a->gold);
	free(a);
}
