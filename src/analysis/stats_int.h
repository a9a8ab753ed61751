/* stats_int.h - private hooks into the statistics accumulator (src/analysis/stats.c),
 * for the unit tests and for diagnostics. Not part of the public API.
 */
#ifndef ODS_STATS_INT_H
#define ODS_STATS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "odscope/stats.h"

/* Sketch counts are uint32 and are folded into uint64 counts every `rows` rows so that
 * no count can overflow (default UINT32_MAX). Tests lower it to exercise the fold. */
void ods_stats_set_fold_rows(struct ods_stats *s, uint64_t rows);

/* The sketch key of value v (monotone in v; the zero key is ods_stats_zero_key) and the value
 * that represents a key: 0, or +-2*gamma^i/(gamma+1) for bucket i = ceil(log_gamma |v|). */
int32_t ods_stats_sketch_key(const struct ods_stats *s, float v);
int32_t ods_stats_zero_key(const struct ods_stats *s);
double ods_stats_key_value(const struct ods_stats *s, int32_t key);
/* Bucket index i (as in ceil(log_gamma |v|)) of key, for key != zero key. */
int ods_stats_key_bucket(const struct ods_stats *s, int32_t key);

/* Bytes the accumulator holds now (exact values or sketch counts, plus per-dim sums). */
size_t ods_stats_mem(const struct ods_stats *s);

#endif
