/* ablate.h - the frequent-token test (DESIGN §4): what happens to the
 * model's predictions when a set S of final-hidden-state dimensions is
 * zeroed (or replaced by its corpus mean), or kept alone.
 *
 * Cost: inputs are buffered (512 at a time) and each pass streams W_U once:
 * one product Z = H W_U^T per block of the vocabulary (W_U in its stored
 * dtype), then every condition is a rank-|S| correction of
 * that block, z_S = z - W_U[:,S] (h_S - b_S), or for "only S"
 * z_S = W_U b + W_U[:,S] (h_S - b_S) with b = 0 or the mean. Corrections are
 * shared between conditions on the same or nested sets; identical conditions
 * are computed once. Log-sum-exp, entropy, KL(full || condition), top-1 and
 * the gold logit are accumulated online over the blocks (src/ops/smx.c
 * kernels): no [N, V] matrix is ever held.
 *
 * Ownership: ods_ablate_open returns a heap handle freed with ods_ablate_free;
 * it copies the conditions. Per-input arrays are borrowed from the handle.
 */
#ifndef ODS_ABLATE_H
#define ODS_ABLATE_H

#include <stdint.h>

#include "odscope/err.h"
#include "odscope/model.h"

struct ods_cond {
	char name[48];   /* "full", "ablate_ods", "only_random_3", "single_17", ... */
	char kind[16];   /* full, ods, out, random, cumulative, single, dims */
	int only;        /* 0: ablate S; 1: keep S alone */
	int n_dims;
	int *dims;       /* [n_dims] */
	uint64_t seed;   /* random sets: the seed they were drawn with, else 0 */
};

struct ods_cond_result {
	double mean_surprisal, median_surprisal;
	double mean_entropy, median_entropy;
	double mean_kl, median_kl;
	double accuracy;        /* share of inputs whose top-1 is the gold token */
	int n_distinct_top1;    /* tokens that are some input's top-1 */
	double freq_slope;      /* least-squares slope of p_pred on p_corp (shared tokens) */
	double freq_spearman;   /* Spearman rho of p_pred and p_corp (shared tokens) */
	/* those tokens, ascending, and how many inputs have each as top-1:
	 * [n_distinct_top1] each, owned by the handle (a V-sized count per
	 * condition would be 63 MB for 31 conditions at V 256k) */
	int32_t *top1_tok;
	int64_t *top1_cnt;
};

struct ods_ablate;

/* base[D]: the replacement values b (NULL: zeros). softcap > 0 applies
 * c tanh(z / c) to every logit (the model's own final soft-cap, --faithful);
 * bias[V] (may be NULL) is added to every logit likewise. */
int ods_ablate_open(struct ods_ablate **out, const struct ods_model *m, const struct ods_cond *conds,
		    int n_cond, const float *base, float softcap, const float *bias,
		    struct ods_err *err);
/* Inputs h[n, D] with gold next tokens gold[n] (all >= 0); copied. Results
 * are complete after ods_ablate_finish. */
void ods_ablate_add(struct ods_ablate *a, const float *h, const int32_t *gold, int n);
int64_t ods_ablate_count(const struct ods_ablate *a);
/* Runs the inputs still buffered, then the aggregates of every condition
 * into res[n_cond]; corpus[V] counts give p_corp. Call once. */
void ods_ablate_finish(struct ods_ablate *a, const int64_t *corpus, struct ods_cond_result *res);
/* Per-input values of condition c (arrays of ods_ablate_count entries). */
void ods_ablate_inputs(const struct ods_ablate *a, int c, const float **surprisal,
		       const float **entropy, const float **kl, const int32_t **top1,
		       const int32_t **gold);
void ods_ablate_free(struct ods_ablate *a);

#endif
