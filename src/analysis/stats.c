/* stats.c - per-dimension statistics and the OD detection rules of DESIGN §2
 * (see include/odscope/stats.h).
 *
 * Accumulation (ods_stats_add), per batch of rows x[n, D]:
 *  - sums per dimension in double, shifted by the first value seen (K_d) so that the variance
 *    E[(x-K)^2] - E[x-K]^2 does not cancel: S1 = sum(x-K), S2 = sum((x-K)^2), SA = sum|x|,
 *    min, max. Non-finite inputs make S1/S2 non-finite, which is how they are detected (at no
 *    cost); the offending values are then counted per dimension and finish fails.
 *  - per row, max_j|x| / median_j|x| for the MMR (exact median by a radix select over the float
 *    bit patterns: a 2048-bin histogram of the top bits, then a quickselect inside one bin).
 *  - exact mode: the values themselves, column-major per dimension, in chunks of CH rows
 *    (chunk[c][d*(CH+16) + r] = X[c*CH + r, d]; the 16 floats of padding keep a tile's columns
 *    off one cache set) so that growing never copies what is held.
 *    When N*D*4 would pass opts.mem_bytes the accumulator switches, once, to the sketch: every
 *    held value is fed into it and the chunks are freed.
 *  - sketch mode: per dimension one histogram over "keys", a monotone map of the value:
 *    key = Z - 1 - j for x < 0, Z for x == 0, Z + 1 + j for x > 0, where j = i - i_min and
 *    i = ceil(log_gamma |x|) is the DDSketch bucket (gamma = (1+a)/(1-a), a = ODS_SKETCH_ALPHA),
 *    |x| clamped to [1e-9, 1e9]. Bucket i holds (gamma^(i-1), gamma^i] and is represented by
 *    2 gamma^i / (gamma+1), within relative a of every value in it. The bucket is found without a
 *    logarithm: the top 16 bits of |x| name a cell narrower than one bucket; a table gives the
 *    bucket of the cell's smallest value and the low 16 bits of the one bucket edge inside the
 *    cell, if any (edges are gamma^i rounded to float, so the index is ceil(log_gamma |x|) except
 *    within float rounding of an edge). Each dimension stores only the key range it has seen
 *    (grown geometrically). Counts are uint32, folded into uint64 counts every 2^32-1 rows so
 *    none can overflow. Rows are first staged column-major (one chunk of ~32 MB) and counted a
 *    whole staging at a time, dimension by dimension, so that each dimension's counts are
 *    fetched once per staging rather than once per batch.
 * Work is split over OpenMP threads: rows for the MMR, tiles of TW dimensions for the sums and
 * the transposed store, dimensions for counting.
 *
 * Finish: global threshold, then every dimension in parallel, then the rules.
 *  - exact: the global threshold quantile_{q_glob}(|X|) by a two-pass radix select over all
 *    N*D held values (histogram of the top 16 bits of |x|, then of the low 16 bits inside the
 *    bin(s) holding the wanted ranks); each dimension's column is gathered and radix-sorted
 *    (three 11-bit passes), which gives every quantile of x directly and those of |x| by a
 *    k-th-of-two-sorted-arrays search (negatives reversed, non-negatives).
 *  - sketch: quantiles by walking the cumulative counts; |x| by folding the two signs; the
 *    global threshold from the sum of all dimensions' |x| histograms.
 * Quantiles follow numpy's default "linear" method: position (n-1)q between order statistics.
 */
#include "odscope/stats.h"
#include "odscope/util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/stats_int.h"

const double ods_stats_quants[ODS_N_QUANTS] = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};

#define TW 16          /* dimensions per tile in ods_stats_add (one cache line of floats) */
#define RB 256         /* values per key block in sk_add_values */
#define FLUSH_CHUNK 8  /* dimensions per OpenMP work item when counting a staging */
#define SK_LOW 1e-9f   /* |x| below this (but not 0) counts in the lowest bucket */
#define SK_HIGH 1e9f   /* |x| above this counts in the highest bucket */
#define SK_SLACK 64    /* keys added beyond the new extreme when a key range grows */
#define MMR_BINS 2048  /* radix-select histogram for the per-row median: top 11 bits */
#define MAX_RANKS 40

/* The value -> sketch key map, built once per accumulator. */
struct sk_map {
	double gamma, lg;     /* gamma and ln(gamma) */
	int imin, nb;         /* bucket i_min, buckets per sign (i_min .. i_min+nb-1) */
	int32_t zero;         /* key of 0 (= nb); keys 0 .. 2*nb */
	uint32_t lowbits, highbits; /* float bits of SK_LOW, SK_HIGH */
	uint32_t cell0;       /* lowbits >> 16 */
	uint32_t *cell;       /* [cells] for cell bits >> 16: j0 << 16 | t, where j0 is the bucket of
			       * the cell's smallest |x| and |x| with low 16 bits > t is in j0+1 */
	uint32_t *upper;      /* [nb] float bits of bucket j's upper edge gamma^(imin+j) */
	double *rep;          /* [nb] representative 2 gamma^i / (gamma+1) */
};

/* One dimension's sketch: counts of keys [lo, hi). */
struct sk_dim {
	int32_t lo, hi;
	uint32_t *c;          /* [hi-lo] counts since the last fold, NULL before the first value */
	int32_t lo64, hi64;
	uint64_t *c64;        /* [hi64-lo64] folded counts, NULL until the first fold */
};

struct ods_stats {
	int n_dim;
	struct ods_stats_opts opts;
	int64_t n;            /* rows added */
	int finished;

	/* sums per dimension [n_dim] */
	float *shift;         /* K_d: first value seen */
	double *s1, *s2, *sa; /* sum(x-K), sum((x-K)^2), sum|x| */
	float *mn, *mx;
	int64_t *n_bad;       /* [n_dim] non-finite values, NULL while none seen */
	int64_t n_bad_total;

	double mmr_sum;       /* sum over rows of max/median */
	int64_t mmr_rows;     /* rows with median > 0 */

	int exact;
	/* exact mode: every value; sketch mode: one staging chunk of rows not yet counted */
	int ch_shift;         /* CH = 1 << ch_shift rows per chunk */
	float **chunks;       /* [n_chunks] each CH*n_dim floats, column-major */
	size_t n_chunks, cap_chunks;
	size_t base;          /* row index of chunk 0's first row (0 in exact mode) */

	/* sketch mode */
	struct sk_map map;
	struct sk_dim *sk;    /* [n_dim], NULL in exact mode */
	uint64_t fold_rows;   /* fold uint32 counts into uint64 after this many rows */
	uint64_t rows_since_fold;
};

/* ---------------------------------------------------------------------------------------- */
/* small helpers */

static inline uint32_t f2u(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return u;
}

static inline float u2f(uint32_t u)
{
	float v;
	memcpy(&v, &u, sizeof v);
	return v;
}

/* Order-preserving map of float bits to uint32 (for radix sort) and back. */
static inline uint32_t f2key(uint32_t b)
{
	return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

static inline uint32_t key2f(uint32_t k)
{
	return (k & 0x80000000u) ? k & 0x7fffffffu : ~k;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* numpy "linear" quantile position: order statistic k and weight t of k+1. */
static void qpos(uint64_t n, double q, uint64_t *k, double *t)
{
	double pos = (double)(n - 1) * q;
	double fl = floor(pos);
	*k = (uint64_t)fl;
	*t = pos - fl;
	if (*k >= n - 1) {
		*k = n - 1;
		*t = 0;
	}
}

/* The sorted, unique ranks needed for quantiles qs[0..nq) of n values. */
static int ranks_for(uint64_t n, const double *qs, int nq, uint64_t *ranks)
{
	int nr = 0, m = 0;
	for (int i = 0; i < nq; i++) {
		uint64_t k;
		double t;
		qpos(n, qs[i], &k, &t);
		ranks[nr++] = k;
		if (t > 0)
			ranks[nr++] = k + 1;
	}
	qsort(ranks, (size_t)nr, sizeof *ranks, cmp_u64);
	for (int i = 0; i < nr; i++)
		if (m == 0 || ranks[m - 1] != ranks[i])
			ranks[m++] = ranks[i];
	return m;
}

/* Interpolated quantile q from the values vals[] of ranks[0..nr). */
static double q_from_ranks(uint64_t n, double q, const uint64_t *ranks, const double *vals, int nr)
{
	uint64_t k;
	double t, a, b = 0;
	int i = 0;

	qpos(n, q, &k, &t);
	while (i < nr && ranks[i] != k)
		i++;
	ODS_ASSERT(i < nr);
	a = vals[i];
	if (t == 0)
		return a;
	ODS_ASSERT(i + 1 < nr && ranks[i + 1] == k + 1);
	b = vals[i + 1];
	return a + (b - a) * t;
}


/* ---------------------------------------------------------------------------------------- */
/* sketch map */

static float sk_upper_f(double gamma, int i)
{
	return (float)pow(gamma, i);
}

/* Smallest i with v <= (float)gamma^i, i.e. ceil(log_gamma v) up to float rounding. */
static int sk_index_slow(const struct sk_map *m, float v)
{
	int i = (int)ceil(log((double)v) / m->lg);
	while (v > sk_upper_f(m->gamma, i))
		i++;
	while (v <= sk_upper_f(m->gamma, i - 1))
		i--;
	return i;
}

static void sk_map_init(struct sk_map *m)
{
	uint32_t c1;

	m->gamma = (1 + ODS_SKETCH_ALPHA) / (1 - ODS_SKETCH_ALPHA);
	m->lg = log(m->gamma);
	m->lowbits = f2u(SK_LOW);
	m->highbits = f2u(SK_HIGH);
	m->imin = sk_index_slow(m, SK_LOW);
	m->nb = sk_index_slow(m, SK_HIGH) - m->imin + 1;
	m->zero = m->nb;
	m->upper = ods_xmalloc((size_t)m->nb * sizeof *m->upper);
	m->rep = ods_xmalloc((size_t)m->nb * sizeof *m->rep);
	for (int j = 0; j < m->nb; j++) {
		m->upper[j] = f2u(sk_upper_f(m->gamma, m->imin + j));
		m->rep[j] = 2 * pow(m->gamma, m->imin + j) / (m->gamma + 1);
	}
	m->cell0 = m->lowbits >> 16;
	c1 = m->highbits >> 16;
	m->cell = ods_xmalloc((size_t)(c1 - m->cell0 + 1) * sizeof *m->cell);
	for (uint32_t c = m->cell0; c <= c1; c++) {
		uint32_t b0 = c << 16, b1 = b0 | 0xffffu;
		int j0, j1;
		if (b0 < m->lowbits)
			b0 = m->lowbits;
		if (b1 > m->highbits)
			b1 = m->highbits;
		j0 = sk_index_slow(m, u2f(b0)) - m->imin;
		j1 = sk_index_slow(m, u2f(b1)) - m->imin;
		ODS_ASSERT(j0 >= 0 && j1 < m->nb && j1 - j0 <= 1); /* a cell spans <= 2 buckets */
		/* bucket j0's upper edge is >= the cell's smallest value; inside the cell iff j1 > j0 */
		m->cell[c - m->cell0] = (uint32_t)j0 << 16 | (j1 > j0 ? m->upper[j0] & 0xffffu : 0xffffu);
	}
}

static void sk_map_release(struct sk_map *m)
{
	free(m->cell);
	free(m->upper);
	free(m->rep);
}

/* Bucket j (0-based) of |v| bits a, a != 0. */
static inline int sk_j(const struct sk_map *m, uint32_t a)
{
	uint32_t ac = a < m->lowbits ? m->lowbits : a > m->highbits ? m->highbits : a;
	uint32_t e = m->cell[(ac >> 16) - m->cell0];
	return (int)(e >> 16) + ((ac & 0xffffu) > (e & 0xffffu));
}

static inline int32_t sk_key(const struct sk_map *m, float v)
{
	uint32_t b = f2u(v), a = b & 0x7fffffffu;
	int j;
	if (a == 0)
		return m->zero;
	j = sk_j(m, a);
	return (b >> 31) ? m->zero - 1 - j : m->zero + 1 + j;
}

static inline double sk_key_value(const struct sk_map *m, int32_t key)
{
	if (key == m->zero)
		return 0;
	return key > m->zero ? m->rep[key - m->zero - 1] : -m->rep[m->zero - 1 - key];
}

/* Bounds of |x| in folded bucket f (0: zero, else bucket j = f-1): values in (lo, hi]. */
static void sk_fold_edges(const struct sk_map *m, int f, double *lo, double *hi)
{
	if (f == 0) {
		*lo = -1;
		*hi = 0;
		return;
	}
	*lo = f == 1 ? 0 : (double)u2f(m->upper[f - 2]);
	*hi = f == m->nb ? INFINITY : (double)u2f(m->upper[f - 1]);
}

static inline double sk_fold_value(const struct sk_map *m, int f)
{
	return f == 0 ? 0 : m->rep[f - 1];
}

/* Make sd hold keys [kmin, kmax]. */
static void sk_grow(struct sk_dim *sd, int32_t kmin, int32_t kmax, int32_t nkeys)
{
	int32_t lo, hi;
	uint32_t *c;

	if (sd->c && kmin >= sd->lo && kmax < sd->hi)
		return;
	lo = kmin - SK_SLACK;
	hi = kmax + 1 + SK_SLACK;
	if (sd->c) {
		/* grow a side by at least half the present size: amortized O(1) per key */
		int32_t half = (sd->hi - sd->lo) / 2;
		lo = kmin < sd->lo ? (lo < sd->lo - half ? lo : sd->lo - half) : sd->lo;
		hi = kmax >= sd->hi ? (hi > sd->hi + half ? hi : sd->hi + half) : sd->hi;
	}
	lo = lo < 0 ? 0 : lo;
	hi = hi > nkeys ? nkeys : hi;
	c = ods_xcalloc((size_t)(hi - lo), sizeof *c);
	if (sd->c)
		memcpy(c + (sd->lo - lo), sd->c, (size_t)(sd->hi - sd->lo) * sizeof *c);
	free(sd->c);
	sd->c = c;
	sd->lo = lo;
	sd->hi = hi;
}

/* Count keys k[0..n) whose range is [kmin, kmax]. */
static inline void sk_count(struct sk_dim *sd, const int32_t *k, size_t n, int32_t kmin,
			    int32_t kmax, int32_t nkeys)
{
	uint32_t *c;
	sk_grow(sd, kmin, kmax, nkeys);
	c = sd->c - sd->lo;
	for (size_t r = 0; r < n; r++)
		c[k[r]]++;
}

/* Add values v[0..n) (contiguous) to one dimension's sketch; kb holds RB keys. The key
 * computation is sk_key written out with the map in locals, so that it vectorizes (gathers). */
static void sk_add_values(const struct sk_map *m, struct sk_dim *sd, const float *restrict v,
			  size_t n, int32_t *restrict kb)
{
	const uint32_t lowbits = m->lowbits, highbits = m->highbits, cell0 = m->cell0;
	const uint32_t *restrict cell = m->cell;
	const int32_t zero = m->zero;

	for (size_t r0 = 0; r0 < n; r0 += RB) {
		size_t rn = n - r0 < RB ? n - r0 : RB;
		int32_t kmin = INT32_MAX, kmax = -1;
#pragma omp simd reduction(min : kmin) reduction(max : kmax)
		for (size_t r = 0; r < rn; r++) {
			uint32_t b, a, ac, e;
			int32_t j, k;
			memcpy(&b, &v[r0 + r], sizeof b);
			a = b & 0x7fffffffu;
			ac = a < lowbits ? lowbits : a > highbits ? highbits : a;
			e = cell[(ac >> 16) - cell0];
			j = (int32_t)(e >> 16) + ((ac & 0xffffu) > (e & 0xffffu));
			k = (b >> 31) ? zero - 1 - j : zero + 1 + j;
			k = a ? k : zero;
			kb[r] = k;
			kmin = k < kmin ? k : kmin;
			kmax = k > kmax ? k : kmax;
		}
		sk_count(sd, kb, rn, kmin, kmax, 2 * m->nb + 1);
	}
}

/* Move one dimension's uint32 counts into its uint64 counts. */
static void sk_fold_dim(struct sk_dim *sd)
{
	if (!sd->c)
		return;
	if (!sd->c64 || sd->lo < sd->lo64 || sd->hi > sd->hi64) {
		int32_t lo = sd->lo, hi = sd->hi;
		uint64_t *c64;
		if (sd->c64) {
			lo = lo < sd->lo64 ? lo : sd->lo64;
			hi = hi > sd->hi64 ? hi : sd->hi64;
		}
		c64 = ods_xcalloc((size_t)(hi - lo), sizeof *c64);
		if (sd->c64)
			memcpy(c64 + (sd->lo64 - lo), sd->c64, (size_t)(sd->hi64 - sd->lo64) * sizeof *c64);
		free(sd->c64);
		sd->c64 = c64;
		sd->lo64 = lo;
		sd->hi64 = hi;
	}
	for (int32_t k = sd->lo; k < sd->hi; k++)
		sd->c64[k - sd->lo64] += sd->c[k - sd->lo];
	memset(sd->c, 0, (size_t)(sd->hi - sd->lo) * sizeof *sd->c);
}

static void sk_fold_all(struct ods_stats *s)
{
#pragma omp parallel for schedule(static) if (s->n_dim >= 256)
	for (int d = 0; d < s->n_dim; d++)
		sk_fold_dim(&s->sk[d]);
	s->rows_since_fold = 0;
}

/* All counts of one dimension into dense[lo..hi) (dense zero there on entry). */
static void sk_dense(const struct sk_dim *sd, uint64_t *dense, int32_t *lo, int32_t *hi)
{
	int32_t l = INT32_MAX, h = INT32_MIN;
	if (sd->c) {
		l = sd->lo;
		h = sd->hi;
		for (int32_t k = sd->lo; k < sd->hi; k++)
			dense[k] += sd->c[k - sd->lo];
	}
	if (sd->c64) {
		l = sd->lo64 < l ? sd->lo64 : l;
		h = sd->hi64 > h ? sd->hi64 : h;
		for (int32_t k = sd->lo64; k < sd->hi64; k++)
			dense[k] += sd->c64[k - sd->lo64];
	}
	if (l > h)
		l = h = 0;
	*lo = l;
	*hi = h;
}

/* Element of each sorted rank ranks[0..nr) in the histogram c[lo..hi) (c indexed absolutely). */
static void walk_ranks(const uint64_t *c, int32_t lo, int32_t hi, const uint64_t *ranks, int nr,
		       int32_t *out)
{
	uint64_t cum = 0;
	int i = 0;
	for (int32_t k = lo; k < hi && i < nr; k++) {
		cum += c[k];
		while (i < nr && ranks[i] < cum)
			out[i++] = k;
	}
	ODS_ASSERT(i == nr);
}

/* ---------------------------------------------------------------------------------------- */
/* per-row max / median for the MMR */

/* max_j |x_j| / median_j |x_j| of one row, or -1 when the median is 0. u, w: [D] scratch,
 * hist: [MMR_BINS] zero on entry and on return. The loops are branch-free: a data-dependent
 * branch here mispredicts on every other value. */
static double row_mmr(const float *x, int D, uint32_t *restrict u, uint32_t *restrict w,
		      uint32_t *restrict hist)
{
	const size_t n = (size_t)D;
	uint32_t amax = 0, amin = UINT32_MAX, minabove = UINT32_MAX, v1, v2;
	size_t k1 = (n - 1) / 2, k2 = n / 2, cum = 0, m = 0, r1;
	uint32_t b, b0, b1;
	double med;

	memcpy(u, x, n * sizeof *u);
#pragma omp simd reduction(max : amax) reduction(min : amin)
	for (size_t i = 0; i < n; i++) {
		uint32_t a = u[i] & 0x7fffffffu;
		u[i] = a;
		amax = a > amax ? a : amax;
		amin = a < amin ? a : amin;
	}
	for (size_t i = 0; i < n; i++)
		hist[u[i] >> 20]++;
	b0 = amin >> 20;
	b1 = amax >> 20;
	b = b0;
	while (cum + hist[b] <= k1)
		cum += hist[b++];
	memset(hist + b0, 0, (size_t)(b1 - b0 + 1) * sizeof *hist);
	for (size_t i = 0; i < n; i++) {
		uint32_t a = u[i];
		w[m] = a;
		m += a >> 20 == b;
	}
	r1 = k1 - cum;
	ods_nth_u32(w, m, r1);
	v1 = w[r1];
	if (k2 == k1) {
		v2 = v1;
	} else if (r1 + 1 < m) {
		v2 = UINT32_MAX;
		for (size_t i = r1 + 1; i < m; i++)
			v2 = w[i] < v2 ? w[i] : v2;
	} else {
		/* the upper median is the smallest value of a later bin (rare: one more pass) */
#pragma omp simd reduction(min : minabove)
		for (size_t i = 0; i < n; i++) {
			uint32_t above = u[i] >> 20 > b ? u[i] : UINT32_MAX;
			minabove = above < minabove ? above : minabove;
		}
		v2 = minabove;
	}
	med = 0.5 * ((double)u2f(v1) + (double)u2f(v2));
	if (!(med > 0))
		return -1;
	return (double)u2f(amax) / med;
}

/* ---------------------------------------------------------------------------------------- */
/* open / add */

void ods_stats_opts_default(struct ods_stats_opts *o)
{
	o->q_loc = 0.5;
	o->q_glob = 0.99;
	o->frac = 0.5;
	o->zk = 3;
	o->int8_mag = 6.0;
	o->int8_frac = 0.06;
	o->mem_bytes = (size_t)2 << 30;
}

int ods_stats_open(struct ods_stats **out, int n_dim, const struct ods_stats_opts *opts,
		   struct ods_err *err)
{
	struct ods_stats *s;
	struct ods_stats_opts o;
	size_t ch;

	*out = NULL;
	if (opts)
		o = *opts;
	else
		ods_stats_opts_default(&o);
	if (n_dim <= 0)
		return ods_err_set(err, ODS_EINVAL, "hidden size must be positive, got %d", n_dim);
	if (!(o.q_loc > 0 && o.q_loc < 1))
		return ods_err_set(err, ODS_EINVAL, "--q-loc must be in (0, 1), got %g", o.q_loc);
	if (!(o.q_glob > 0 && o.q_glob < 1))
		return ods_err_set(err, ODS_EINVAL, "--q-glob must be in (0, 1), got %g", o.q_glob);
	if (!(o.frac >= 0 && o.frac < 1))
		return ods_err_set(err, ODS_EINVAL, "--frac must be in [0, 1), got %g", o.frac);
	if (!isfinite(o.zk))
		return ods_err_set(err, ODS_EINVAL, "--zk must be finite, got %g", o.zk);
	if (!(o.int8_mag > 0 && isfinite(o.int8_mag)))
		return ods_err_set(err, ODS_EINVAL, "int8 magnitude must be positive, got %g",
				   o.int8_mag);
	if (!(o.int8_frac > 0 && o.int8_frac <= 1))
		return ods_err_set(err, ODS_EINVAL, "int8 share must be in (0, 1], got %g",
				   o.int8_frac);

	s = ods_xcalloc(1, sizeof *s);
	s->n_dim = n_dim;
	s->opts = o;
	s->shift = ods_xcalloc((size_t)n_dim, sizeof *s->shift);
	s->s1 = ods_xcalloc((size_t)n_dim, sizeof *s->s1);
	s->s2 = ods_xcalloc((size_t)n_dim, sizeof *s->s2);
	s->sa = ods_xcalloc((size_t)n_dim, sizeof *s->sa);
	s->mn = ods_xmalloc((size_t)n_dim * sizeof *s->mn);
	s->mx = ods_xmalloc((size_t)n_dim * sizeof *s->mx);
	for (int d = 0; d < n_dim; d++) {
		s->mn[d] = INFINITY;
		s->mx[d] = -INFINITY;
	}
	s->exact = 1;
	/* about 4 MB per chunk, a power of two of rows between 16 and 4096 */
	ch = ((size_t)1 << 20) / (size_t)n_dim;
	s->ch_shift = 4;
	while (s->ch_shift < 12 && ((size_t)2 << s->ch_shift) <= ch)
		s->ch_shift++;
	sk_map_init(&s->map);
	s->fold_rows = UINT32_MAX;
	*out = s;
	return ODS_OK;
}

int64_t ods_stats_count(const struct ods_stats *s)
{
	return s->n;
}

int ods_stats_is_exact(const struct ods_stats *s)
{
	return s->exact;
}

void ods_stats_set_fold_rows(struct ods_stats *s, uint64_t rows)
{
	ODS_ASSERT(rows >= 1 && rows <= UINT32_MAX && s->rows_since_fold <= rows);
	s->fold_rows = rows;
}

static void free_chunks(struct ods_stats *s)
{
	for (size_t c = 0; c < s->n_chunks; c++)
		free(s->chunks[c]);
	free(s->chunks);
	s->chunks = NULL;
	s->n_chunks = s->cap_chunks = 0;
}

static void free_sketch(struct ods_stats *s)
{
	if (!s->sk)
		return;
	for (int d = 0; d < s->n_dim; d++) {
		free(s->sk[d].c);
		free(s->sk[d].c64);
	}
	free(s->sk);
	s->sk = NULL;
}

/* Floats between columns of a chunk: CH plus one cache line, so that the TW columns a tile
 * writes do not all map to the same cache set. */
static inline size_t col_stride(const struct ods_stats *s)
{
	return ((size_t)1 << s->ch_shift) + 16;
}

static inline size_t chunk_floats(const struct ods_stats *s)
{
	return (size_t)s->n_dim * col_stride(s);
}

/* A chunk's memory (huge pages where the system has them: first-touch page
 * faults are a large part of storing values). */
static float *chunk_alloc(const struct ods_stats *s)
{
	return ods_xmalloc_huge(chunk_floats(s) * sizeof(float));
}

/* Rows held by chunk c. */
static size_t chunk_rows(const struct ods_stats *s, size_t c)
{
	size_t ch = (size_t)1 << s->ch_shift, r0 = c * ch, held = (size_t)s->n - s->base;
	return held - r0 < ch ? held - r0 : ch;
}

/* Count the staged rows into the histograms (sketch mode). */
static void flush_stage(struct ods_stats *s)
{
	const size_t cs = col_stride(s), rows = (size_t)s->n - s->base;

	if (rows == 0)
		return;
#pragma omp parallel if ((double)rows * s->n_dim >= 65536)
	{
		int32_t *kb = ods_xmalloc(RB * sizeof *kb);
#pragma omp for schedule(dynamic, FLUSH_CHUNK)
		for (int d = 0; d < s->n_dim; d++) {
			/* the counts were evicted since the last flush: fetch the next dimension's
			 * while this one is counted (the increments are latency-bound otherwise);
			 * only within this thread's work item, which no other thread touches */
			if ((d + 1) % FLUSH_CHUNK != 0 && d + 1 < s->n_dim && s->sk[d + 1].c) {
				const struct sk_dim *nx = &s->sk[d + 1];
				for (int32_t k = 0; k < nx->hi - nx->lo; k += 16)
					__builtin_prefetch(nx->c + k, 1, 3);
			}
			sk_add_values(&s->map, &s->sk[d], s->chunks[0] + (size_t)d * cs, rows, kb);
		}
		free(kb);
	}
	s->base = (size_t)s->n;
}

/* Exact -> sketch, once: feed every held value into the sketch, free the values and set up
 * the staging chunk. */
static void to_sketch(struct ods_stats *s)
{
	size_t cs = col_stride(s), st;
	uint64_t fr = s->fold_rows;

	s->sk = ods_xcalloc((size_t)s->n_dim, sizeof *s->sk);
#pragma omp parallel if ((double)s->n * s->n_dim >= 65536)
	{
		int32_t *kb = ods_xmalloc(RB * sizeof *kb);
#pragma omp for schedule(dynamic, 8)
		for (int d = 0; d < s->n_dim; d++) {
			uint64_t since = 0; /* values of d fed since its last fold */
			for (size_t c = 0; c < s->n_chunks; c++) {
				const float *col = s->chunks[c] + (size_t)d * cs;
				size_t rows = chunk_rows(s, c), r = 0;
				while (r < rows) {
					size_t m = rows - r;
					if (m > fr - since)
						m = (size_t)(fr - since);
					sk_add_values(&s->map, &s->sk[d], col + r, m, kb);
					r += m;
					since += m;
					if (since == fr) {
						sk_fold_dim(&s->sk[d]);
						since = 0;
					}
				}
			}
		}
		free(kb);
	}
	s->rows_since_fold = (uint64_t)s->n % fr;
	free_chunks(s);
	s->exact = 0;

	/* staging: about 32 MB, a power of two of rows between 256 and 16384 */
	st = ((size_t)8 << 20) / (size_t)s->n_dim;
	s->ch_shift = 8;
	while (s->ch_shift < 14 && ((size_t)2 << s->ch_shift) <= st)
		s->ch_shift++;
	s->chunks = ods_xmalloc(sizeof *s->chunks);
	s->chunks[0] = chunk_alloc(s);
	s->n_chunks = s->cap_chunks = 1;
	s->base = (size_t)s->n;
}

/* Sums and held (or staged) values of dims [d0, d0+w) for rows x[0..n). Always inlined so
 * that the w == TW call is compiled with a constant width (vectorized over dimensions). */
static inline __attribute__((always_inline)) void tile_add(struct ods_stats *s, const float *x,
							    size_t n, int d0, int w)
{
	const size_t D = (size_t)s->n_dim;
	const size_t cs = col_stride(s), chm = ((size_t)1 << s->ch_shift) - 1;
	const int chs = s->ch_shift;
	const size_t g0 = (size_t)s->n - s->base;
	double s1[TW], s2[TW], sa[TW], K[TW];
	float mn[TW], mx[TW];

	for (int j = 0; j < w; j++) {
		s1[j] = 0;
		s2[j] = 0;
		sa[j] = 0;
		K[j] = s->shift[d0 + j];
		mn[j] = s->mn[d0 + j];
		mx[j] = s->mx[d0 + j];
	}
	/* blocks of up to 16 rows: sums vectorized over the TW dimensions, the block copied to t
	 * and written column by column (one contiguous run of a cache line per column) */
	for (size_t r = 0; r < n;) {
		size_t g = g0 + r, off = g & chm, len = n - r < 16 ? n - r : 16;
		float t[16][TW], *dst;
		if (len > chm + 1 - off)
			len = chm + 1 - off;
		dst = s->chunks[g >> chs] + off + (size_t)d0 * cs;
		for (size_t rr = 0; rr < len; rr++) {
			const float *row = x + (r + rr) * D + d0;
#pragma omp simd
			for (int j = 0; j < w; j++) {
				float v = row[j];
				double dv = (double)v - K[j];
				s1[j] += dv;
				s2[j] += dv * dv;
				sa[j] += fabs((double)v);
				mn[j] = v < mn[j] ? v : mn[j];
				mx[j] = v > mx[j] ? v : mx[j];
				t[rr][j] = v;
			}
		}
		for (int j = 0; j < w; j++) {
			float *col = dst + (size_t)j * cs;
			for (size_t rr = 0; rr < len; rr++)
				col[rr] = t[rr][j];
		}
		r += len;
	}
	for (int j = 0; j < w; j++) {
		s->s1[d0 + j] += s1[j];
		s->s2[d0 + j] += s2[j];
		s->sa[d0 + j] += sa[j];
		s->mn[d0 + j] = mn[j];
		s->mx[d0 + j] = mx[j];
	}
}

/* Count the non-finite values of rows x[0..n). */
static void count_bad(struct ods_stats *s, const float *x, size_t n)
{
	const size_t D = (size_t)s->n_dim;
	if (!s->n_bad)
		s->n_bad = ods_xcalloc(D, sizeof *s->n_bad);
	for (size_t r = 0; r < n; r++)
		for (size_t d = 0; d < D; d++)
			if (!isfinite(x[r * D + d])) {
				s->n_bad[d]++;
				s->n_bad_total++;
			}
}

/* Add rows that fit in the held chunks (exact) or the staging chunk (sketch). */
static void add_piece(struct ods_stats *s, const float *x, size_t n)
{
	const int D = s->n_dim;
	const int n_tiles = (D + TW - 1) / TW;
	const int par = (double)n * D >= 32768;
	double mmr_sum = 0;
	int64_t mmr_rows = 0;

	if (s->n == 0)
		for (int d = 0; d < D; d++)
			s->shift[d] = isfinite(x[d]) ? x[d] : 0;
	if (s->exact) {
		size_t held = (size_t)s->n + n, need = (held + ((size_t)1 << s->ch_shift) - 1) >> s->ch_shift;
		if (need > s->cap_chunks) {
			s->cap_chunks = need > 2 * s->cap_chunks ? need : 2 * s->cap_chunks;
			s->chunks = ods_xrealloc(s->chunks, s->cap_chunks * sizeof *s->chunks);
		}
		while (s->n_chunks < need)
			s->chunks[s->n_chunks++] = chunk_alloc(s);
	}

#pragma omp parallel if (par)
	{
		uint32_t *u = ods_xmalloc(2 * (size_t)D * sizeof *u);
		uint32_t *hist = ods_xcalloc(MMR_BINS, sizeof *hist);
#pragma omp for schedule(static) reduction(+ : mmr_sum, mmr_rows) nowait
		for (size_t r = 0; r < n; r++) {
			double v = row_mmr(x + r * (size_t)D, D, u, u + D, hist);
			if (v >= 0) {
				mmr_sum += v;
				mmr_rows++;
			}
		}
#pragma omp for schedule(dynamic, 2)
		for (int t = 0; t < n_tiles; t++) {
			int d0 = t * TW;
			if (D - d0 >= TW)
				tile_add(s, x, n, d0, TW);
			else
				tile_add(s, x, n, d0, D - d0);
		}
		free(hist);
		free(u);
	}
	s->mmr_sum += mmr_sum;
	s->mmr_rows += mmr_rows;
	s->n += (int64_t)n;

	/* A non-finite input makes its dimension's sums non-finite (finite float inputs cannot
	 * overflow a double sum), so checking D sums per batch finds them all. */
	if (s->n_bad) {
		count_bad(s, x, n);
	} else {
		for (int d = 0; d < D; d++)
			if (!isfinite(s->s1[d]) || !isfinite(s->s2[d])) {
				count_bad(s, x, n);
				break;
			}
	}
}

void ods_stats_add(struct ods_stats *s, const float *x, size_t n)
{
	ODS_ASSERT(s && !s->finished);
	while (n > 0) {
		size_t m = n;
		if (s->exact && (double)((uint64_t)s->n + n) * (double)s->n_dim * 4.0 >
					(double)s->opts.mem_bytes)
			to_sketch(s);
		if (!s->exact) {
			/* rows_since_fold counts staged rows too: they go into the uint32 counts */
			size_t room = ((size_t)1 << s->ch_shift) - ((size_t)s->n - s->base);
			if (s->rows_since_fold >= s->fold_rows) {
				flush_stage(s);
				sk_fold_all(s);
				room = (size_t)1 << s->ch_shift;
			}
			if (m > s->fold_rows - s->rows_since_fold)
				m = (size_t)(s->fold_rows - s->rows_since_fold);
			if (m > room)
				m = room;
		}
		add_piece(s, x, m);
		if (!s->exact) {
			s->rows_since_fold += m;
			if ((size_t)s->n - s->base == (size_t)1 << s->ch_shift)
				flush_stage(s);
		}
		x += m * (size_t)s->n_dim;
		n -= m;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* finish: exact mode */

/* quantile_q(|X|) over every held value: two-pass radix select on the bits of |x|. */
static double exact_global_quantile(struct ods_stats *s, double q)
{
	const size_t D = (size_t)s->n_dim, cs = col_stride(s);
	const uint64_t total = (uint64_t)s->n * D;
	uint64_t k[2], rank[2];
	uint32_t bin[2];
	double t, val[2];
	uint64_t *h1 = ods_xcalloc(1 << 15, sizeof *h1);
	uint64_t *h2 = ods_xcalloc(2 << 16, sizeof *h2);
	const int par = total >= 65536;

	qpos(total, q, &k[0], &t);
	k[1] = t > 0 ? k[0] + 1 : k[0];

#pragma omp parallel if (par)
	{
		uint64_t *lh = ods_xcalloc(1 << 15, sizeof *lh);
#pragma omp for schedule(dynamic, 1)
		for (size_t c = 0; c < s->n_chunks; c++) {
			size_t rows = chunk_rows(s, c);
			for (size_t d = 0; d < D; d++) {
				const float *col = s->chunks[c] + d * cs;
				for (size_t r = 0; r < rows; r++)
					lh[(f2u(col[r]) & 0x7fffffffu) >> 16]++;
			}
		}
#pragma omp critical(ods_stats_h1)
		for (int i = 0; i < 1 << 15; i++)
			h1[i] += lh[i];
		free(lh);
	}
	for (int w = 0; w < 2; w++) {
		uint64_t cum = 0;
		uint32_t b = 0;
		while (cum + h1[b] <= k[w])
			cum += h1[b++];
		bin[w] = b;
		rank[w] = k[w] - cum;
	}

#pragma omp parallel if (par)
	{
		uint64_t *lh = ods_xcalloc(2 << 16, sizeof *lh);
#pragma omp for schedule(dynamic, 1)
		for (size_t c = 0; c < s->n_chunks; c++) {
			size_t rows = chunk_rows(s, c);
			for (size_t d = 0; d < D; d++) {
				const float *col = s->chunks[c] + d * cs;
				for (size_t r = 0; r < rows; r++) {
					uint32_t a = f2u(col[r]) & 0x7fffffffu, hb = a >> 16;
					if (hb == bin[0])
						lh[a & 0xffffu]++;
					else if (hb == bin[1])
						lh[(1 << 16) + (a & 0xffffu)]++;
				}
			}
		}
#pragma omp critical(ods_stats_h2)
		for (int i = 0; i < 2 << 16; i++)
			h2[i] += lh[i];
		free(lh);
	}
	for (int w = 0; w < 2; w++) {
		const uint64_t *h = h2 + (bin[w] == bin[0] ? 0 : 1 << 16);
		uint64_t cum = 0;
		uint32_t lo = 0;
		while (cum + h[lo] <= rank[w])
			cum += h[lo++];
		val[w] = (double)u2f(bin[w] << 16 | lo);
	}
	free(h1);
	free(h2);
	return val[0] + (val[1] - val[0]) * t;
}

/* LSD radix sort of keys a[0..n) (three passes: 11, 11, 10 bits); returns a or tmp, whichever
 * holds the result. */
static uint32_t *radix_sort(uint32_t *a, uint32_t *tmp, size_t n)
{
	static const int shift[3] = {0, 11, 22};
	size_t *cnt = ods_xcalloc(3 * 2048, sizeof *cnt);
	uint32_t *src = a, *dst = tmp;

	for (size_t i = 0; i < n; i++) {
		uint32_t v = a[i];
		cnt[v & 2047]++;
		cnt[2048 + ((v >> 11) & 2047)]++;
		cnt[4096 + (v >> 22)]++;
	}
	for (int p = 0; p < 3; p++) {
		size_t *c = cnt + p * 2048, sum = 0;
		int trivial = 0;
		for (int b = 0; b < 2048; b++) {
			size_t x = c[b];
			if (x == n)
				trivial = 1;
			c[b] = sum;
			sum += x;
		}
		if (trivial)
			continue;
		for (size_t i = 0; i < n; i++) {
			uint32_t v = src[i];
			dst[c[(v >> shift[p]) & 2047]++] = v;
		}
		uint32_t *sw = src;
		src = dst;
		dst = sw;
	}
	free(cnt);
	return src;
}

/* Index of the first element of sorted a[0..n) that is > v (upper) or >= v (!upper). */
static size_t bsearch_f(const float *a, size_t n, double v, int upper)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (upper ? (double)a[mid] <= v : (double)a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* k-th smallest |x| of sorted x[0..n) whose first nneg values are negative. */
static double abs_kth(const float *x, size_t n, size_t nneg, uint64_t k)
{
	/* A(i) = -x[nneg-1-i] ascending (na = nneg), B(i) = x[nneg+i] ascending (nb). */
	size_t na = nneg, nb = n - nneg, lo, hi, i, j;
	double best = 0;

	lo = k + 1 > nb ? k + 1 - nb : 0;
	hi = k + 1 < na ? k + 1 : na;
	while (lo < hi) {
		i = lo + (hi - lo) / 2;
		j = k + 1 - i;
		if (j > 0 && i < na && x[nneg + j - 1] > -x[nneg - 1 - i])
			lo = i + 1;
		else
			hi = i;
	}
	i = lo;
	j = k + 1 - i;
	if (i > 0)
		best = -(double)x[nneg - i];
	if (j > 0 && (double)x[nneg + j - 1] > best)
		best = x[nneg + j - 1];
	return best;
}

/* Quantiles and counts of dimension d from its held values; u, tmp: [n] scratch. */
static void exact_dim(struct ods_stats *s, int d, double thr, uint32_t *u, uint32_t *tmp,
		      struct ods_dim_stats *ds)
{
	const size_t n = (size_t)s->n, cs = col_stride(s);
	double qa[ODS_N_QUANTS + 2], vals[MAX_RANKS];
	uint64_t ranks[MAX_RANKS];
	uint32_t *sorted;
	float *xs;
	const float *x;
	size_t nneg, above, big;
	int nr;

	for (size_t c = 0, r0 = 0; c < s->n_chunks; c++) {
		const float *col = s->chunks[c] + (size_t)d * cs;
		size_t rows = chunk_rows(s, c);
		for (size_t r = 0; r < rows; r++)
			u[r0 + r] = f2key(f2u(col[r]));
		r0 += rows;
	}
	sorted = radix_sort(u, tmp, n);
	xs = (float *)sorted; /* rewritten in place as floats (ascending) */
	for (size_t i = 0; i < n; i++) {
		uint32_t k = sorted[i];
		xs[i] = u2f(key2f(k));
	}
	x = xs;

	nr = ranks_for(n, ods_stats_quants, ODS_N_QUANTS, ranks);
	for (int i = 0; i < nr; i++)
		vals[i] = x[ranks[i]];
	for (int i = 0; i < ODS_N_QUANTS; i++)
		ds->q[i] = q_from_ranks(n, ods_stats_quants[i], ranks, vals, nr);

	nneg = bsearch_f(x, n, 0.0, 0); /* -0.0 compares equal to 0: a non-negative here */
	memcpy(qa, ods_stats_quants, sizeof ods_stats_quants);
	qa[ODS_N_QUANTS] = s->opts.q_loc;
	nr = ranks_for(n, qa, ODS_N_QUANTS + 1, ranks);
	for (int i = 0; i < nr; i++)
		vals[i] = abs_kth(x, n, nneg, ranks[i]);
	for (int i = 0; i < ODS_N_QUANTS; i++)
		ds->aq[i] = q_from_ranks(n, ods_stats_quants[i], ranks, vals, nr);
	ds->q_loc_abs = q_from_ranks(n, s->opts.q_loc, ranks, vals, nr);
	ds->median_abs = ds->aq[3];

	above = bsearch_f(x, n, -thr, 0) + (n - bsearch_f(x, n, thr, 1));
	big = bsearch_f(x, n, -s->opts.int8_mag, 1) + (n - bsearch_f(x, n, s->opts.int8_mag, 0));
	ds->frac_above = (double)above / (double)n;
	ds->frac_int8 = (double)big / (double)n;
}

/* ---------------------------------------------------------------------------------------- */
/* finish: sketch mode */

/* Extra per-dimension bounds that only the sketch needs. */
struct sk_bounds {
	double frac_lo, frac_hi; /* share surely / possibly above the threshold */
	double int8_lo, int8_hi; /* share surely / possibly >= int8_mag */
};

/* Folded |x| counts of one dimension: fold[0] zeros, fold[1+j] bucket j. */
static void sk_fold_abs(const struct sk_map *m, const uint64_t *dense, int32_t lo, int32_t hi,
			uint64_t *fold)
{
	for (int32_t k = lo; k < hi; k++) {
		int f = k == m->zero ? 0 : k > m->zero ? k - m->zero : m->zero - k;
		fold[f] += dense[k];
	}
}

static double sk_global_quantile(struct ods_stats *s, double q)
{
	const struct sk_map *m = &s->map;
	const int nf = m->nb + 1, nkeys = 2 * m->nb + 1;
	const uint64_t total = (uint64_t)s->n * (uint64_t)s->n_dim;
	uint64_t *fold = ods_xcalloc((size_t)nf, sizeof *fold);
	uint64_t ranks[2], k;
	int32_t f[2];
	double t, v0, v1, amax = 0;

#pragma omp parallel if (s->n_dim >= 64)
	{
		uint64_t *dense = ods_xcalloc((size_t)nkeys, sizeof *dense);
		uint64_t *lf = ods_xcalloc((size_t)nf, sizeof *lf);
#pragma omp for schedule(dynamic, 16)
		for (int d = 0; d < s->n_dim; d++) {
			int32_t lo, hi;
			sk_dense(&s->sk[d], dense, &lo, &hi);
			sk_fold_abs(m, dense, lo, hi, lf);
			memset(dense + lo, 0, (size_t)(hi - lo) * sizeof *dense);
		}
#pragma omp critical(ods_stats_fold)
		for (int i = 0; i < nf; i++)
			fold[i] += lf[i];
		free(lf);
		free(dense);
	}
	for (int d = 0; d < s->n_dim; d++) {
		double a = fmax(fabs((double)s->mn[d]), fabs((double)s->mx[d]));
		amax = a > amax ? a : amax;
	}
	qpos(total, q, &k, &t);
	ranks[0] = k;
	ranks[1] = t > 0 ? k + 1 : k;
	walk_ranks(fold, 0, nf, ranks, 2, f);
	v0 = fmin(sk_fold_value(m, f[0]), amax);
	v1 = fmin(sk_fold_value(m, f[1]), amax);
	free(fold);
	return v0 + (v1 - v0) * t;
}

static void sk_dim_finish(struct ods_stats *s, int d, double thr, uint64_t *dense, uint64_t *fold,
			  struct ods_dim_stats *ds, struct sk_bounds *sb)
{
	const struct sk_map *m = &s->map;
	const uint64_t n = (uint64_t)s->n;
	const double a = ODS_SKETCH_ALPHA, mag = s->opts.int8_mag;
	const double mn = s->mn[d], mx = s->mx[d], amax = fmax(fabs(mn), fabs(mx));
	double qa[ODS_N_QUANTS + 1], vals[MAX_RANKS] = {0};
	uint64_t ranks[MAX_RANKS], c_est = 0, c_lo = 0, c_hi = 0, i_est = 0, i_lo = 0, i_hi = 0;
	int32_t keys[MAX_RANKS], lo, hi;
	int nr;

	sk_dense(&s->sk[d], dense, &lo, &hi);
	nr = ranks_for(n, ods_stats_quants, ODS_N_QUANTS, ranks);
	walk_ranks(dense, lo, hi, ranks, nr, keys);
	for (int i = 0; i < nr; i++)
		vals[i] = fmin(fmax(sk_key_value(m, keys[i]), mn), mx);
	for (int i = 0; i < ODS_N_QUANTS; i++)
		ds->q[i] = q_from_ranks(n, ods_stats_quants[i], ranks, vals, nr);

	sk_fold_abs(m, dense, lo, hi, fold);
	memset(dense + lo, 0, (size_t)(hi - lo) * sizeof *dense);
	memcpy(qa, ods_stats_quants, sizeof ods_stats_quants);
	qa[ODS_N_QUANTS] = s->opts.q_loc;
	nr = ranks_for(n, qa, ODS_N_QUANTS + 1, ranks);
	walk_ranks(fold, 0, m->nb + 1, ranks, nr, keys);
	for (int i = 0; i < nr; i++)
		vals[i] = fmin(sk_fold_value(m, keys[i]), amax);
	for (int i = 0; i < ODS_N_QUANTS; i++)
		ds->aq[i] = q_from_ranks(n, ods_stats_quants[i], ranks, vals, nr);
	ds->q_loc_abs = q_from_ranks(n, s->opts.q_loc, ranks, vals, nr);
	ds->median_abs = ds->aq[3];

	/* shares above the threshold and >= int8_mag: estimate (bucket value), surely (the whole
	 * bucket beyond the threshold raised by a) and possibly (part of it beyond the threshold
	 * lowered by a) */
	for (int f = 1; f <= m->nb; f++) {
		uint64_t c = fold[f];
		double elo, ehi, v = sk_fold_value(m, f);
		if (!c)
			continue;
		sk_fold_edges(m, f, &elo, &ehi);
		c_est += v > thr ? c : 0;
		c_lo += elo >= thr * (1 + a) ? c : 0;
		c_hi += ehi > thr * (1 - a) ? c : 0;
		i_est += v >= mag ? c : 0;
		i_lo += elo >= mag ? c : 0;
		i_hi += ehi >= mag ? c : 0;
	}
	memset(fold, 0, (size_t)(m->nb + 1) * sizeof *fold);
	ds->frac_above = (double)c_est / (double)n;
	ds->frac_int8 = (double)i_est / (double)n;
	sb->frac_lo = (double)c_lo / (double)n;
	sb->frac_hi = (double)c_hi / (double)n;
	sb->int8_lo = (double)i_lo / (double)n;
	sb->int8_hi = (double)i_hi / (double)n;
}

/* ---------------------------------------------------------------------------------------- */
/* finish: rules */

struct od_rank {
	double key; /* q_loc_abs */
	int d;
};

static int cmp_rank(const void *pa, const void *pb)
{
	const struct od_rank *a = pa, *b = pb;
	if (a->key != b->key)
		return a->key > b->key ? -1 : 1;
	return (a->d > b->d) - (a->d < b->d);
}

/* Can "est > thr" flip when both may be off by relative a? */
static int flips_rel(double est, double thr, double a)
{
	return est / (1 - a) > thr / (1 + a) && est / (1 + a) <= thr / (1 - a);
}

static void apply_rules(struct ods_stats *s, struct ods_stats_result *res,
			const struct sk_bounds *sb)
{
	const struct ods_stats_opts *o = &s->opts;
	const int D = s->n_dim;
	const double a = res->exact ? 0 : ODS_SKETCH_ALPHA;
	double mu = 0, var = 0, ms = 0, sd, rms_m;

	for (int d = 0; d < D; d++) {
		mu += res->dims[d].median_abs;
		ms += res->dims[d].median_abs * res->dims[d].median_abs;
	}
	mu /= D;
	for (int d = 0; d < D; d++) {
		double e = res->dims[d].median_abs - mu;
		var += e * e;
	}
	sd = sqrt(var / D);
	rms_m = sqrt(ms / D);

	res->n_ods = 0;
	res->ods = ods_xmalloc((size_t)D * sizeof *res->ods);
	for (int d = 0; d < D; d++) {
		struct ods_dim_stats *ds = &res->dims[d];
		double m = ds->median_abs;
		unsigned r = 0;
		int bl = 0;

		ds->zscore = sd > 0 ? (m - mu) / sd : 0;
		if (ds->q_loc_abs > res->threshold)
			r |= ODS_RULE_QUANTILE;
		if (ds->frac_above > o->frac)
			r |= ODS_RULE_FRACTION;
		if (sd > 0 && ds->zscore > o->zk)
			r |= ODS_RULE_ZSCORE;
		if (ds->frac_int8 >= o->int8_frac)
			r |= ODS_RULE_INT8;
		if (sb) {
			/* quantile: both sides are estimates within relative a */
			bl |= flips_rel(ds->q_loc_abs, res->threshold, a);
			bl |= sb[d].frac_lo <= o->frac && sb[d].frac_hi > o->frac;
			bl |= sb[d].int8_lo < o->int8_frac && sb[d].int8_hi >= o->int8_frac;
			if (sd > 0) {
				/* every m_j within relative a: the mean moves by <= a mu, the std by
				 * <= a rms(m) */
				double nlo = m * (1 - a) - mu * (1 + a), nhi = m * (1 + a) - mu * (1 - a);
				double slo = sd - a * rms_m, shi = sd + a * rms_m, zlo, zhi;
				if (slo <= 0) {
					zlo = nlo < 0 ? -INFINITY : nlo / shi;
					zhi = nhi > 0 ? INFINITY : nhi / shi;
				} else {
					zlo = nlo >= 0 ? nlo / shi : nlo / slo;
					zhi = nhi >= 0 ? nhi / slo : nhi / shi;
				}
				bl |= zlo <= o->zk && zhi > o->zk;
			}
		}
		ds->rules = r;
		ds->borderline = bl;
		if (r)
			res->ods[res->n_ods++] = d;
	}
	if (res->n_ods > 1) {
		struct od_rank *rk = ods_xmalloc((size_t)res->n_ods * sizeof *rk);
		for (int i = 0; i < res->n_ods; i++) {
			rk[i].d = res->ods[i];
			rk[i].key = res->dims[res->ods[i]].q_loc_abs;
		}
		qsort(rk, (size_t)res->n_ods, sizeof *rk, cmp_rank);
		for (int i = 0; i < res->n_ods; i++)
			res->ods[i] = rk[i].d;
		free(rk);
	}
}

/* ---------------------------------------------------------------------------------------- */

int ods_stats_finish(struct ods_stats *s, struct ods_stats_result *res, struct ods_err *err)
{
	const int D = s->n_dim;
	const double n = (double)s->n;
	struct sk_bounds *sb = NULL;
	double k2 = 0, k4 = 0;

	ODS_ASSERT(!s->finished);
	memset(res, 0, sizeof *res);
	s->finished = 1;
	if (s->n == 0)
		return ods_err_set(err, ODS_EINVAL, "no inputs collected");
	if (s->n_bad) {
		int d = 0;
		while (d < D && s->n_bad[d] == 0)
			d++;
		return ods_err_set(err, ODS_EINVAL,
				   "non-finite hidden state value in dimension %d (%lld non-finite "
				   "values in %lld inputs)",
				   d, (long long)s->n_bad_total, (long long)s->n);
	}

	res->n_dim = D;
	res->n = s->n;
	res->exact = s->exact;
	res->rel_err = s->exact ? 0 : ODS_SKETCH_ALPHA;
	res->dims = ods_xcalloc((size_t)D, sizeof *res->dims);
	res->mmr = s->mmr_rows ? s->mmr_sum / (double)s->mmr_rows : 0;

	for (int d = 0; d < D; d++) {
		struct ods_dim_stats *ds = &res->dims[d];
		double m1 = s->s1[d] / n, var = s->s2[d] / n - m1 * m1;
		var = var > 0 ? var : 0;
		ds->count = s->n;
		ds->mean = s->shift[d] + m1;
		ds->std = sqrt(var);
		ds->min = s->mn[d];
		ds->max = s->mx[d];
		ds->mean_abs = s->sa[d] / n;
		ds->rms = sqrt(var + ds->mean * ds->mean);
		k2 += ds->rms * ds->rms;
		k4 += ds->rms * ds->rms * ds->rms * ds->rms;
	}
	k2 /= D;
	k4 /= D;
	res->kurtosis = k2 > 0 ? k4 / (k2 * k2) : 0;

	if (s->exact) {
		res->threshold = exact_global_quantile(s, s->opts.q_glob);
#pragma omp parallel if (D > 1 && n * D >= 65536)
		{
			uint32_t *u = ods_xmalloc((size_t)s->n * sizeof *u);
			uint32_t *tmp = ods_xmalloc((size_t)s->n * sizeof *tmp);
#pragma omp for schedule(dynamic, 1)
			for (int d = 0; d < D; d++)
				exact_dim(s, d, res->threshold, u, tmp, &res->dims[d]);
			free(tmp);
			free(u);
		}
	} else {
		const int nkeys = 2 * s->map.nb + 1;
		flush_stage(s);
		res->threshold = sk_global_quantile(s, s->opts.q_glob);
		sb = ods_xcalloc((size_t)D, sizeof *sb);
#pragma omp parallel if (D >= 64)
		{
			uint64_t *dense = ods_xcalloc((size_t)nkeys, sizeof *dense);
			uint64_t *fold = ods_xcalloc((size_t)s->map.nb + 1, sizeof *fold);
#pragma omp for schedule(dynamic, 16)
			for (int d = 0; d < D; d++)
				sk_dim_finish(s, d, res->threshold, dense, fold, &res->dims[d], &sb[d]);
			free(fold);
			free(dense);
		}
	}
	for (int d = 0; d < D; d++) {
		double med = res->dims[d].q[3];
		res->dims[d].sign = med > 0 ? 1 : med < 0 ? -1 : 0;
	}
	apply_rules(s, res, sb);
	free(sb);
	/* the accumulator is spent: give its memory back now */
	free_chunks(s);
	free_sketch(s);
	return ODS_OK;
}

void ods_stats_free(struct ods_stats *s)
{
	if (!s)
		return;
	free_chunks(s);
	free_sketch(s);
	sk_map_release(&s->map);
	free(s->shift);
	free(s->s1);
	free(s->s2);
	free(s->sa);
	free(s->mn);
	free(s->mx);
	free(s->n_bad);
	free(s);
}

void ods_stats_result_release(struct ods_stats_result *res)
{
	if (!res)
		return;
	free(res->dims);
	free(res->ods);
	memset(res, 0, sizeof *res);
}

/* ---------------------------------------------------------------------------------------- */
/* private hooks (stats_int.h) */

int32_t ods_stats_sketch_key(const struct ods_stats *s, float v)
{
	return sk_key(&s->map, v);
}

int32_t ods_stats_zero_key(const struct ods_stats *s)
{
	return s->map.zero;
}

double ods_stats_key_value(const struct ods_stats *s, int32_t key)
{
	return sk_key_value(&s->map, key);
}

int ods_stats_key_bucket(const struct ods_stats *s, int32_t key)
{
	int32_t z = s->map.zero;
	ODS_ASSERT(key != z);
	return s->map.imin + (key > z ? key - z - 1 : z - 1 - key);
}

size_t ods_stats_mem(const struct ods_stats *s)
{
	size_t b = (size_t)s->n_dim * (3 * sizeof(double) + 3 * sizeof(float));
	if (s->n_chunks)
		b += s->n_chunks * chunk_floats(s) * sizeof(float);
	if (s->sk)
		for (int d = 0; d < s->n_dim; d++)
			b += (size_t)(s->sk[d].hi - s->sk[d].lo) * sizeof(uint32_t) +
			     (size_t)(s->sk[d].hi64 - s->sk[d].lo64) * sizeof(uint64_t);
	return b;
}
