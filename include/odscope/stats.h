/* stats.h - per-dimension statistics of final hidden states and the OD
 * detection rules of DESIGN §2 (quantile, fraction, zscore, int8) plus the
 * whole-layer kurtosis and MMR of He et al. 2024.
 *
 * Usage: ods_stats_open, then ods_stats_add for every batch of rows X[n, D],
 * then ods_stats_finish. Quantiles are exact while all values fit in
 * opts.mem_bytes; past that the accumulator switches (once, losslessly
 * feeding what it held) to per-dimension log-bucketed histograms with
 * relative accuracy ODS_SKETCH_ALPHA, whose error is reported in the result.
 *
 * Ownership: the handle is freed with ods_stats_free; the result's arrays are
 * owned by the result and released with ods_stats_result_release.
 */
#ifndef ODS_STATS_H
#define ODS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "odscope/err.h"

#define ODS_SKETCH_ALPHA 0.005 /* relative value accuracy of sketch quantiles */

enum ods_rule {
	ODS_RULE_QUANTILE = 1,
	ODS_RULE_FRACTION = 2,
	ODS_RULE_ZSCORE = 4,
	ODS_RULE_INT8 = 8,
};

#define ODS_N_QUANTS 7
extern const double ods_stats_quants[ODS_N_QUANTS]; /* 0.01 0.05 0.25 0.5 0.75 0.95 0.99 */

struct ods_stats_opts {
	double q_loc;      /* 0.5 */
	double q_glob;     /* 0.99 */
	double frac;       /* fraction rule: share of inputs above threshold, 0.5 */
	double zk;         /* zscore rule threshold, 3 */
	double int8_mag;   /* 6.0 */
	double int8_frac;  /* 0.06 */
	size_t mem_bytes;  /* budget for exact values */
};
void ods_stats_opts_default(struct ods_stats_opts *o);

struct ods_dim_stats {
	int64_t count;
	double mean, std, min, max, mean_abs, rms; /* std: population (divides by N) */
	double q[ODS_N_QUANTS];   /* quantiles of x */
	double aq[ODS_N_QUANTS];  /* quantiles of |x| */
	double q_loc_abs;         /* quantile_{q_loc}(|x|), the ranking statistic */
	double median_abs;        /* m_d = median(|x|) */
	double frac_above;        /* share of inputs with |x| > global threshold */
	double frac_int8;         /* share of inputs with |x| >= opts.int8_mag (int8 rule) */
	double zscore;            /* (m_d - mean(m)) / std(m) */
	int sign;                 /* sign of median(x): -1, 0, +1 */
	unsigned rules;           /* ODS_RULE_* bits that flag this dimension */
	int borderline;           /* a rule decision could flip within sketch error */
};

struct ods_stats_result {
	int n_dim;
	int64_t n;                /* inputs (rows) */
	double threshold;         /* quantile_{q_glob}(|X|) over all N*D entries */
	int exact;                /* 1: exact quantiles; 0: sketch */
	double rel_err;           /* 0 when exact, else ODS_SKETCH_ALPHA */
	double kurtosis;          /* mean_j s_j^4 / (mean_j s_j^2)^2, s_j = RMS of dim j (0 if all 0) */
	double mmr;               /* mean_n max_j|x| / median_j|x| (rows with median 0 left out) */
	struct ods_dim_stats *dims; /* [n_dim] */
	int n_ods;                /* dims flagged by at least one rule */
	int *ods;                 /* [n_ods] dim indices, ranked by q_loc_abs descending */
};

struct ods_stats;

int ods_stats_open(struct ods_stats **out, int n_dim, const struct ods_stats_opts *opts,
		   struct ods_err *err);
/* Add rows x[n, n_dim] (row-major). */
void ods_stats_add(struct ods_stats *s, const float *x, size_t n);
int64_t ods_stats_count(const struct ods_stats *s);
int ods_stats_is_exact(const struct ods_stats *s);
/* Compute everything; the accumulator may not be used afterwards except to free. */
int ods_stats_finish(struct ods_stats *s, struct ods_stats_result *res, struct ods_err *err);
void ods_stats_free(struct ods_stats *s);
void ods_stats_result_release(struct ods_stats_result *res);

#endif
