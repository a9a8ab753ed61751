/* link.h - outlier dimensions linked to the unembedding and to token
 * frequencies (DESIGN §3).
 *
 *  - Spearman rho with average ranks for ties (ods_spearman).
 *  - ods_link_unemb streams W_U (through ods_model_unemb_rows, never a V x D
 *    F32 copy beyond the memory budget) and computes, in as few passes as the
 *    budget allows (one when the columns of the counted tokens fit):
 *    per-dimension rho(sigma_d W_U[:,d], count) over tokens with count > 0,
 *    rho(||W_U[t,:]||, count), the quantile-rule statistics of W_U with rows
 *    as inputs (unembedding ODs), and the promoted/suppressed tokens of the
 *    requested dimensions.
 *
 * Ownership: results are owned by struct ods_link_result and released with
 * ods_link_result_release.
 */
#ifndef ODS_LINK_H
#define ODS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "odscope/err.h"
#include "odscope/model.h"
#include "odscope/stats.h"

/* Average ranks (1-based) of x[n] into ranks[n]; ties share their mean rank. */
void ods_rank_avg(const double *x, size_t n, double *ranks);
/* Pearson correlation of two rank vectors (or any vectors); NaN if constant or n < 2. */
double ods_pearson(const double *x, const double *y, size_t n);
/* Spearman rho with average ranks for ties; NaN if n < 2 or a side is constant. */
double ods_spearman(const double *x, const double *y, size_t n);

/* One entry of a dimension's token table. */
struct ods_tok_entry {
	int32_t token_id;
	float weight;        /* W_U[t, d] */
	double contribution; /* sigma_d * m_d * W_U[t, d] */
};

/* A dimension to build token tables for. */
struct ods_link_dim {
	int dim;
	int sign;        /* sigma_d (0 is taken as +1) */
	double mag;      /* m_d = median |h_d| */
};

struct ods_link_opts {
	int top_k;          /* promoted and suppressed tokens kept per dimension */
	size_t mem_bytes;   /* budget for column blocks of W_U */
	const int *signs;   /* [D] sigma_d of every dimension (for rho), NULL = all +1 */
	struct ods_stats_opts unemb; /* quantile rule options for the unembedding ODs */
	int want_unemb_ods; /* compute the unembedding statistics */
	int want_rho;       /* compute rho_unemb_freq for every dimension (else NaN) */
};

struct ods_link_result {
	int n_dim;
	double rho_norm_freq;     /* rho(||W_U[t,:]||, count) over tokens with count > 0 */
	double *rho_unemb_freq;   /* [D] rho(sigma_d W_U[:,d], count) */
	int n_link;               /* dimensions with token tables */
	struct ods_tok_entry *promoted;   /* [n_link][top_k], largest contribution first */
	struct ods_tok_entry *suppressed; /* [n_link][top_k], smallest first */
	int top_k;
	int n_passes;             /* passes over W_U */
	struct ods_stats_result unemb;    /* when want_unemb_ods */
};

/* counts[V] corpus counts of every token id. dims[n_link]: token tables. */
int ods_link_unemb(const struct ods_model *m, const int64_t *counts, const struct ods_link_dim *dims,
		   int n_link, const struct ods_link_opts *opts, struct ods_link_result *res,
		   struct ods_err *err);
void ods_link_result_release(struct ods_link_result *res);

/* Read a counts file of `token_id<TAB>count` lines (blank lines and lines
 * starting with '#' skipped) into counts[V] (zeroed first); *hash = FNV-1a
 * of its bytes. Errors name the file and line: non-numeric fields, an id
 * outside [0, V), a negative count, a repeated id. */
int ods_counts_read(const char *path, int V, int64_t *counts, uint64_t *hash, struct ods_err *err);

/* Frequency rank of every token: 1 + the number of tokens with a larger count. rank[V]. */
void ods_freq_ranks(const int64_t *counts, int V, int32_t *rank);

#endif
