/* test_stats.c - the statistics accumulator and OD rules (src/analysis/stats.c).
 * Expected numbers for the hand-made matrices were computed with numpy.quantile (linear). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/stats_int.h"
#include "odscope/stats.h"
#include "odscope/util.h"
#include "t.h"

#define ALPHA ODS_SKETCH_ALPHA

static int close_to(double a, double b, double rel, double abs_)
{
	return fabs(a - b) <= abs_ + rel * fabs(b);
}

/* ---- deterministic RNG ---- */
static uint64_t rng_s = 1;

static void rng_seed(uint64_t s)
{
	rng_s = s * 0x9e3779b97f4a7c15ull + 1;
}

static uint64_t rng_u64(void)
{
	uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unif(void)
{
	return ((double)(rng_u64() >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_gauss(void)
{
	double u = rng_unif(), v = rng_unif();
	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Run X[n, D] through an accumulator in batches; returns finish's code. */
static int run_stats(const float *x, size_t n, int D, const struct ods_stats_opts *o, size_t batch,
		     struct ods_stats_result *res, struct ods_err *err, int *exact_after)
{
	struct ods_stats *s;
	int rc = ods_stats_open(&s, D, o, err);
	if (rc)
		return rc;
	for (size_t r = 0; r < n; r += batch)
		ods_stats_add(s, x + r * (size_t)D, n - r < batch ? n - r : batch);
	if (exact_after)
		*exact_after = ods_stats_is_exact(s);
	rc = ods_stats_finish(s, res, err);
	ods_stats_free(s);
	return rc;
}

/* numpy linear quantile of v[0..n) (sorted in place). */
static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double ref_quantile(double *v, size_t n, double q)
{
	double pos = (double)(n - 1) * q, fl = floor(pos);
	size_t k = (size_t)fl;
	if (k + 1 >= n)
		return v[n - 1];
	return v[k] + (v[k + 1] - v[k]) * (pos - fl);
}

/* ---------------------------------------------------------------------------------------- */

static const float small_x[5 * 3] = {
	1, -3, 10,
	2, -1, -10,
	3, 0, 10,
	4, 2, -10,
	5, -5, 10,
};

static void check_small(const struct ods_stats_result *r, int exact)
{
	static const double q0[7] = {1.04, 1.2, 2.0, 3.0, 4.0, 4.8, 4.96};
	static const double q1[7] = {-4.92, -4.6, -3.0, -1.0, 0.0, 1.6, 1.92};
	static const double a1[7] = {0.04, 0.2, 1.0, 2.0, 3.0, 4.6, 4.92};
	static const double q2[7] = {-10, -10, -10, 10, 10, 10, 10};
	const double rel = exact ? 1e-12 : ALPHA * 1.0001, ab = exact ? 1e-12 : 1e-9;
	const struct ods_dim_stats *d = r->dims;

	T_CHECK(r->n == 5 && r->n_dim == 3, "n %lld n_dim %d", (long long)r->n, r->n_dim);
	T_CHECK(r->exact == exact, "exact %d", r->exact);
	T_CHECK(r->rel_err == (exact ? 0 : ALPHA), "rel_err %g", r->rel_err);
	for (int i = 0; i < 7; i++) {
		T_CHECK(close_to(d[0].q[i], q0[i], rel, ab), "q0[%d] %.9g != %.9g", i, d[0].q[i], q0[i]);
		T_CHECK(close_to(d[0].aq[i], q0[i], rel, ab), "aq0[%d] %.9g", i, d[0].aq[i]);
		/* between order statistics of opposite sign the sketch error is absolute */
		T_CHECK(close_to(d[1].q[i], q1[i], rel, exact ? ab : 0.02), "q1[%d] %.9g != %.9g", i,
			d[1].q[i], q1[i]);
		T_CHECK(close_to(d[1].aq[i], a1[i], rel, ab), "aq1[%d] %.9g != %.9g", i, d[1].aq[i],
			a1[i]);
		T_CHECK(close_to(d[2].q[i], q2[i], rel, ab), "q2[%d] %.9g", i, d[2].q[i]);
		T_CHECK(close_to(d[2].aq[i], 10, rel, ab), "aq2[%d] %.9g", i, d[2].aq[i]);
	}
	/* moments are exact in both modes */
	T_CHECK(close_to(d[0].mean, 3.0, 1e-12, 1e-12) && close_to(d[0].std, 1.4142135623730951,
								     1e-12, 0),
		"dim0 mean %.17g std %.17g", d[0].mean, d[0].std);
	T_CHECK(close_to(d[0].rms, 3.3166247903554, 1e-12, 0) && d[0].mean_abs == 3.0,
		"dim0 rms %.17g", d[0].rms);
	T_CHECK(close_to(d[1].mean, -1.4, 1e-12, 0) && close_to(d[1].std, 2.4166091947189146, 1e-12, 0),
		"dim1 mean %.17g std %.17g", d[1].mean, d[1].std);
	T_CHECK(close_to(d[1].rms, 2.792848008753788, 1e-12, 0) && close_to(d[1].mean_abs, 2.2, 1e-12, 0),
		"dim1 rms %.17g mabs %.17g", d[1].rms, d[1].mean_abs);
	T_CHECK(d[1].min == -5 && d[1].max == 2 && d[2].min == -10 && d[2].max == 10, "min/max");
	T_CHECK(close_to(d[2].mean, 2.0, 1e-12, 0) && close_to(d[2].std, 9.797958971132712, 1e-12, 0),
		"dim2 mean %.17g std %.17g", d[2].mean, d[2].std);
	T_CHECK(d[0].count == 5 && d[2].count == 5, "count");
	T_CHECK(d[0].sign == 1 && d[1].sign == -1 && d[2].sign == 1, "signs %d %d %d", d[0].sign,
		d[1].sign, d[2].sign);
	/* q_glob = 0.5: threshold 4; q_loc = 0.5: 3, 2, 10 */
	T_CHECK(close_to(r->threshold, 4.0, rel, ab), "threshold %.9g", r->threshold);
	T_CHECK(close_to(d[0].q_loc_abs, 3, rel, 0) && close_to(d[1].q_loc_abs, 2, rel, 0) &&
			close_to(d[2].q_loc_abs, 10, rel, 0),
		"q_loc_abs %g %g %g", d[0].q_loc_abs, d[1].q_loc_abs, d[2].q_loc_abs);
	T_CHECK(close_to(d[1].median_abs, 2, rel, 0), "median_abs %g", d[1].median_abs);
	T_CHECK(close_to(d[0].frac_above, 0.2, 1e-12, 0) && close_to(d[1].frac_above, 0.2, 1e-12, 0) &&
			d[2].frac_above == 1.0,
		"frac_above %g %g %g", d[0].frac_above, d[1].frac_above, d[2].frac_above);
	T_CHECK(d[0].frac_int8 == 0 && d[1].frac_int8 == 0 && d[2].frac_int8 == 1, "frac_int8");
	/* sketch medians are estimates: the z-scores move by about ALPHA-relative shifts */
	T_CHECK(close_to(d[0].zscore, -0.56195149, exact ? 1e-7 : 0.01, 0) &&
			close_to(d[1].zscore, -0.84292723, exact ? 1e-7 : 0.01, 0) &&
			close_to(d[2].zscore, 1.40487872, exact ? 1e-7 : 0.01, 0),
		"zscores %.9g %.9g %.9g", d[0].zscore, d[1].zscore, d[2].zscore);
	T_CHECK(d[0].rules == 0 && d[1].rules == 0, "rules %u %u", d[0].rules, d[1].rules);
	T_CHECK(d[2].rules == (ODS_RULE_QUANTILE | ODS_RULE_FRACTION | ODS_RULE_ZSCORE | ODS_RULE_INT8),
		"rules2 %u", d[2].rules);
	T_CHECK(r->n_ods == 1 && r->ods[0] == 2, "n_ods %d", r->n_ods);
	T_CHECK(close_to(r->kurtosis, 2.16428595721525, 1e-12, 0), "kurtosis %.17g", r->kurtosis);
	T_CHECK(close_to(r->mmr, 3.2333333333333334, 1e-12, 0), "mmr %.17g", r->mmr);
	if (exact)
		for (int i = 0; i < 3; i++)
			T_CHECK(d[i].borderline == 0, "borderline %d", i);
}

static void small_opts(struct ods_stats_opts *o)
{
	ods_stats_opts_default(o);
	o->q_glob = 0.5;
	o->zk = 1.0;
}

static void test_small_exact(void)
{
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;
	int exact = -1;

	small_opts(&o);
	for (size_t batch = 1; batch <= 5; batch += 2) {
		T_CHECK(run_stats(small_x, 5, 3, &o, batch, &r, &err, &exact) == 0, "%s", err.msg);
		T_CHECK(exact == 1, "stayed exact");
		check_small(&r, 1);
		ods_stats_result_release(&r);
	}
}

static void test_small_sketch(void)
{
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;
	int exact = -1;

	small_opts(&o);
	o.mem_bytes = 0;
	T_CHECK(run_stats(small_x, 5, 3, &o, 2, &r, &err, &exact) == 0, "%s", err.msg);
	T_CHECK(exact == 0, "sketch");
	check_small(&r, 0);
	ods_stats_result_release(&r);
	/* switch after the first two rows */
	o.mem_bytes = 2 * 3 * 4;
	T_CHECK(run_stats(small_x, 5, 3, &o, 2, &r, &err, &exact) == 0, "%s", err.msg);
	T_CHECK(exact == 0, "switched");
	check_small(&r, 0);
	ods_stats_result_release(&r);
}

/* Hand-checked MMR with an even width and a row whose median is 0 (left out). */
static void test_mmr_small(void)
{
	static const float x[3 * 4] = {
		1, 2, 3, 4,   /* median 2.5, max 4: 1.6 */
		0, 0, 0, 1,   /* median 0: left out */
		-1, 1, -2, 8, /* |x| 1 1 2 8: median 1.5, max 8: 5.3333 */
	};
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;

	ods_stats_opts_default(&o);
	T_CHECK(run_stats(x, 3, 4, &o, 3, &r, &err, NULL) == 0, "%s", err.msg);
	T_CHECK(close_to(r.mmr, (1.6 + 8 / 1.5) / 2, 1e-12, 0), "mmr %.17g", r.mmr);
	ods_stats_result_release(&r);
}

/* MMR of random rows (ties, both widths' parity, all-equal rows) against a sorting reference. */
static void test_mmr_random(void)
{
	static const int widths[] = {1, 2, 7, 768, 1001, 4096};
	struct ods_stats_opts o;
	ods_stats_opts_default(&o);
	rng_seed(7);
	for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
		const int D = widths[w], n = 40;
		float *x = ods_xmalloc((size_t)n * D * sizeof *x);
		double *a = ods_xmalloc((size_t)D * sizeof *a), want;
		struct ods_stats_result r;
		struct ods_err err;
		for (int i = 0; i < n; i++)
			for (int j = 0; j < D; j++)
				x[(size_t)i * D + j] =
					i % 4 == 1 ? (float)(rng_u64() % 5) - 2.0f /* many ties */
					: i % 4 == 2 ? 0.75f /* all equal */
					: (float)(rng_gauss() * (j % 9 == 0 ? 20 : 1));
		/* mean over rows with median > 0 */
		{
			double sum = 0;
			int cnt = 0;
			for (int i = 0; i < n; i++) {
				double mx = 0, med;
				for (int j = 0; j < D; j++) {
					a[j] = fabs((double)x[(size_t)i * D + j]);
					mx = a[j] > mx ? a[j] : mx;
				}
				qsort(a, (size_t)D, sizeof *a, cmp_d);
				med = D % 2 ? a[D / 2] : 0.5 * (a[D / 2 - 1] + a[D / 2]);
				if (med > 0) {
					sum += mx / med;
					cnt++;
				}
			}
			want = cnt ? sum / cnt : 0;
		}
		T_CHECK(run_stats(x, (size_t)n, D, &o, 16, &r, &err, NULL) == 0, "%s", err.msg);
		T_CHECK(close_to(r.mmr, want, 1e-12, 0), "D=%d mmr %.17g want %.17g", D, r.mmr, want);
		ods_stats_result_release(&r);
		free(a);
		free(x);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* planted ODs */

enum { P_N = 4000, P_D = 256, OD_A = 3, OD_B = 17 };

/* Gaussian noise with dim OD_A at +9 and OD_B at -8 (D=256: the ODs are 0.8% of the entries,
 * under the 1% that q_glob = 0.99 leaves, as in real models). */
static float *planted(void)
{
	float *x = ods_xmalloc((size_t)P_N * P_D * sizeof *x);
	rng_seed(42);
	for (size_t i = 0; i < (size_t)P_N * P_D; i++)
		x[i] = (float)rng_gauss();
	for (size_t r = 0; r < P_N; r++) {
		x[r * P_D + OD_A] += 9.0f;
		x[r * P_D + OD_B] -= 8.0f;
	}
	return x;
}

static void check_planted(const struct ods_stats_result *r)
{
	const unsigned all = ODS_RULE_QUANTILE | ODS_RULE_FRACTION | ODS_RULE_ZSCORE | ODS_RULE_INT8;
	T_CHECK(r->n_ods == 2, "n_ods %d", r->n_ods);
	if (r->n_ods == 2)
		T_CHECK(r->ods[0] == OD_A && r->ods[1] == OD_B, "ranking %d %d", r->ods[0], r->ods[1]);
	T_CHECK(r->dims[OD_A].rules == all && r->dims[OD_B].rules == all, "rules %u %u",
		r->dims[OD_A].rules, r->dims[OD_B].rules);
	T_CHECK(r->dims[OD_A].sign == 1 && r->dims[OD_B].sign == -1, "signs");
	T_CHECK(r->dims[OD_A].zscore > 9 && r->dims[OD_B].zscore > 8, "zscores %g %g",
		r->dims[OD_A].zscore, r->dims[OD_B].zscore);
	T_CHECK(r->threshold > 2.5 && r->threshold < 3.5, "threshold %g", r->threshold);
	for (int d = 0; d < P_D; d++) {
		if (d == OD_A || d == OD_B)
			continue;
		T_CHECK(r->dims[d].rules == 0 && fabs(r->dims[d].zscore) < 1 && !r->dims[d].borderline,
			"noise dim %d rules %u z %g", d, r->dims[d].rules, r->dims[d].zscore);
	}
}

static void test_planted_exact(void)
{
	float *x = planted();
	double *col = ods_xmalloc((size_t)P_N * P_D * sizeof *col);
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;
	int exact = -1;

	ods_stats_opts_default(&o);
	T_CHECK(run_stats(x, P_N, P_D, &o, 512, &r, &err, &exact) == 0, "%s", err.msg);
	T_CHECK(exact == 1 && r.exact == 1 && r.rel_err == 0, "exact");
	check_planted(&r);
	/* every quantile against a sorting reference */
	for (int d = 0; d < P_D; d++) {
		const struct ods_dim_stats *ds = &r.dims[d];
		int bad = 0;
		for (int i = 0; i < P_N; i++)
			col[i] = x[(size_t)i * P_D + d];
		qsort(col, P_N, sizeof *col, cmp_d);
		for (int i = 0; i < ODS_N_QUANTS; i++)
			bad += ds->q[i] != ref_quantile(col, P_N, ods_stats_quants[i]);
		for (int i = 0; i < P_N; i++)
			col[i] = fabs((double)x[(size_t)i * P_D + d]);
		qsort(col, P_N, sizeof *col, cmp_d);
		for (int i = 0; i < ODS_N_QUANTS; i++)
			bad += !close_to(ds->aq[i], ref_quantile(col, P_N, ods_stats_quants[i]), 1e-15, 0);
		bad += ds->median_abs != ds->aq[3] || ds->q_loc_abs != ds->aq[3];
		T_CHECK(!bad, "dim %d: %d quantiles differ from the reference", d, bad);
		if (bad)
			break;
	}
	for (size_t i = 0; i < (size_t)P_N * P_D; i++)
		col[i] = fabs((double)x[i]);
	qsort(col, (size_t)P_N * P_D, sizeof *col, cmp_d);
	T_CHECK(close_to(r.threshold, ref_quantile(col, (size_t)P_N * P_D, 0.99), 1e-15, 0),
		"threshold %.9g want %.9g", r.threshold, ref_quantile(col, (size_t)P_N * P_D, 0.99));
	ods_stats_result_release(&r);
	free(col);
	free(x);
}

/* Sketch results against exact ones: quantiles within the stated relative error. */
static void compare_sketch(const struct ods_stats_result *e, const struct ods_stats_result *s)
{
	/* between two order statistics of opposite sign (x quantiles near 0) the error is
	 * ALPHA times the larger of them, an absolute ~1e-5 here */
	const double rel = s->rel_err * 1.0001, ab = 1e-5;
	int bad = 0;
	T_CHECK(s->exact == 0 && s->rel_err == ALPHA, "sketch result exact %d rel_err %g", s->exact,
		s->rel_err);
	T_CHECK(close_to(s->threshold, e->threshold, rel, ab), "threshold %.9g vs %.9g",
		s->threshold, e->threshold);
	T_CHECK(close_to(s->kurtosis, e->kurtosis, 1e-12, 0) && close_to(s->mmr, e->mmr, 1e-12, 0),
		"kurt/mmr");
	for (int d = 0; d < e->n_dim; d++) {
		const struct ods_dim_stats *a = &e->dims[d], *b = &s->dims[d];
		for (int i = 0; i < ODS_N_QUANTS; i++) {
			if (!close_to(b->q[i], a->q[i], rel, ab) || !close_to(b->aq[i], a->aq[i], rel, ab)) {
				if (bad++ < 5)
					printf("  dim %d q%d: %.9g/%.9g vs exact %.9g/%.9g\n", d, i, b->q[i],
					       b->aq[i], a->q[i], a->aq[i]);
			}
		}
		bad += !close_to(b->q_loc_abs, a->q_loc_abs, rel, ab);
		bad += !close_to(b->mean, a->mean, 1e-12, 1e-15) || !close_to(b->std, a->std, 1e-12, 0) ||
		       !close_to(b->rms, a->rms, 1e-12, 0) || b->min != a->min || b->max != a->max ||
		       !close_to(b->mean_abs, a->mean_abs, 1e-12, 0);
		bad += fabs(b->frac_above - a->frac_above) > 0.01;
		bad += fabs(b->frac_int8 - a->frac_int8) > 0.01;
		bad += b->rules != a->rules || b->sign != a->sign;
	}
	T_CHECK(bad == 0, "%d sketch statistics differ from exact", bad);
	T_CHECK(s->n_ods == e->n_ods && !memcmp(s->ods, e->ods, (size_t)e->n_ods * sizeof *e->ods),
		"OD sets differ");
}

static void test_planted_sketch(void)
{
	float *x = planted();
	struct ods_stats_opts o;
	struct ods_stats_result re, rs;
	struct ods_err err;
	int exact = -1;

	ods_stats_opts_default(&o);
	T_CHECK(run_stats(x, P_N, P_D, &o, 512, &re, &err, &exact) == 0, "%s", err.msg);
	o.mem_bytes = 1; /* sketch from the first row */
	T_CHECK(run_stats(x, P_N, P_D, &o, 512, &rs, &err, &exact) == 0, "%s", err.msg);
	T_CHECK(exact == 0, "sketch mode");
	check_planted(&rs);
	compare_sketch(&re, &rs);
	ods_stats_result_release(&rs);

	/* the budget fills after three batches: switch mid-stream */
	o.mem_bytes = (size_t)3 * 500 * P_D * sizeof(float);
	{
		struct ods_stats *s;
		T_CHECK(ods_stats_open(&s, P_D, &o, &err) == 0, "%s", err.msg);
		for (int b = 0; b < P_N / 500; b++) {
			ods_stats_add(s, x + (size_t)b * 500 * P_D, 500);
			T_CHECK(ods_stats_is_exact(s) == (b < 3), "batch %d exact %d", b,
				ods_stats_is_exact(s));
		}
		T_CHECK(ods_stats_count(s) == P_N, "count");
		T_CHECK(ods_stats_finish(s, &rs, &err) == 0, "%s", err.msg);
		ods_stats_free(s);
	}
	check_planted(&rs);
	compare_sketch(&re, &rs);
	ods_stats_result_release(&rs);
	ods_stats_result_release(&re);
	free(x);
}

/* A width that is no multiple of the 16-dimension tile, batches that straddle chunk and staging
 * boundaries, zeros, one-signed and tiny-valued dimensions: exact quantiles against a sorting
 * reference, sketch quantiles against exact ones. */
static void test_shapes(void)
{
	const int D = 301, n = 40000;
	const size_t batch = 333;
	float *x = ods_xmalloc((size_t)n * D * sizeof *x);
	double *col = ods_xmalloc((size_t)n * sizeof *col);
	struct ods_stats_opts o;
	struct ods_stats_result re, rs;
	struct ods_err err;
	int exact = -1, bad = 0;

	rng_seed(77);
	for (int i = 0; i < n; i++)
		for (int d = 0; d < D; d++) {
			double g = rng_gauss(), v;
			switch (d % 6) {
			case 0: v = g; break;
			case 1: v = fabs(g) * 3; break;                 /* positive only */
			case 2: v = -fabs(g) * 1e-3; break;             /* negative, small */
			case 3: v = rng_u64() % 3 == 0 ? 0 : g; break;  /* a third zeros */
			case 4: v = g * 1e-8; break;                    /* below the sketch range */
			default: v = 50 + g * 0.1; break;               /* narrow, large */
			}
			x[(size_t)i * D + d] = (float)v;
		}
	ods_stats_opts_default(&o);
	o.mem_bytes = (size_t)n * D * sizeof(float);
	T_CHECK(run_stats(x, (size_t)n, D, &o, batch, &re, &err, &exact) == 0, "%s", err.msg);
	T_CHECK(exact == 1, "exact");
	for (int d = 0; d < D && bad < 5; d += 7) {
		const struct ods_dim_stats *ds = &re.dims[d];
		double sum = 0;
		for (int i = 0; i < n; i++) {
			col[i] = x[(size_t)i * D + d];
			sum += col[i];
		}
		T_CHECK(close_to(ds->mean, sum / n, 1e-9, 1e-12), "dim %d mean %.17g vs %.17g", d,
			ds->mean, sum / n);
		qsort(col, (size_t)n, sizeof *col, cmp_d);
		for (int i = 0; i < ODS_N_QUANTS; i++)
			if (ds->q[i] != ref_quantile(col, (size_t)n, ods_stats_quants[i]))
				bad++;
		T_CHECK(ds->min == col[0] && ds->max == col[n - 1], "dim %d min/max", d);
		for (int i = 0; i < n; i++)
			col[i] = fabs((double)x[(size_t)i * D + d]);
		qsort(col, (size_t)n, sizeof *col, cmp_d);
		for (int i = 0; i < ODS_N_QUANTS; i++)
			if (!close_to(ds->aq[i], ref_quantile(col, (size_t)n, ods_stats_quants[i]), 1e-15, 0))
				bad++;
		T_CHECK(bad == 0, "dim %d quantiles differ from the reference", d);
	}
	o.mem_bytes = (size_t)5000 * D * sizeof(float); /* switch after 15 batches */
	T_CHECK(run_stats(x, (size_t)n, D, &o, batch, &rs, &err, &exact) == 0, "%s", err.msg);
	T_CHECK(exact == 0, "sketch");
	bad = 0;
	for (int d = 0; d < D; d++) {
		/* below 1e-9 the sketch error is absolute (clamped bucket) */
		const double ab = d % 6 == 4 ? 1.1e-9 : 1e-5, rel = ALPHA * 1.0001;
		for (int i = 0; i < ODS_N_QUANTS; i++)
			if (!close_to(rs.dims[d].q[i], re.dims[d].q[i], rel, ab) ||
			    !close_to(rs.dims[d].aq[i], re.dims[d].aq[i], rel, ab)) {
				if (bad++ < 5)
					printf("  dim %d q%d: %.9g/%.9g vs exact %.9g/%.9g\n", d, i,
					       rs.dims[d].q[i], rs.dims[d].aq[i], re.dims[d].q[i],
					       re.dims[d].aq[i]);
			}
		bad += rs.dims[d].sign != re.dims[d].sign;
	}
	T_CHECK(bad == 0, "%d sketch quantiles off", bad);
	T_CHECK(close_to(rs.threshold, re.threshold, ALPHA * 1.0001, 0), "threshold %.9g vs %.9g",
		rs.threshold, re.threshold);
	T_CHECK(rs.n_ods == re.n_ods, "n_ods %d vs %d", rs.n_ods, re.n_ods);
	ods_stats_result_release(&re);
	ods_stats_result_release(&rs);
	free(col);
	free(x);
}

/* uint32 counts folded into uint64 ones (forced every 700 rows, across the exact -> sketch
 * switch) give exactly the same answers as unfolded counts. */
static void test_sketch_fold(void)
{
	float *x = planted();
	struct ods_stats_opts o;
	struct ods_stats_result a, b;
	struct ods_err err;
	struct ods_stats *s;

	ods_stats_opts_default(&o);
	o.mem_bytes = (size_t)1500 * P_D * sizeof(float);
	T_CHECK(run_stats(x, P_N, P_D, &o, 500, &a, &err, NULL) == 0, "%s", err.msg);
	T_CHECK(ods_stats_open(&s, P_D, &o, &err) == 0, "%s", err.msg);
	ods_stats_set_fold_rows(s, 700);
	for (int r = 0; r < P_N; r += 500)
		ods_stats_add(s, x + (size_t)r * P_D, 500);
	T_CHECK(ods_stats_finish(s, &b, &err) == 0, "%s", err.msg);
	ods_stats_free(s);
	T_CHECK(a.exact == 0 && b.exact == 0, "sketch");
	T_CHECK(a.threshold == b.threshold, "threshold %.9g %.9g", a.threshold, b.threshold);
	/* the fold splits batches, so sums are blocked differently: moments agree to rounding;
	 * everything that comes from the counts agrees exactly */
	for (int d = 0; d < P_D; d++) {
		const struct ods_dim_stats *p = &a.dims[d], *q = &b.dims[d];
		T_CHECK(!memcmp(p->q, q->q, sizeof p->q) && !memcmp(p->aq, q->aq, sizeof p->aq) &&
				p->q_loc_abs == q->q_loc_abs && p->frac_above == q->frac_above &&
				p->frac_int8 == q->frac_int8 && p->rules == q->rules &&
				p->borderline == q->borderline && p->zscore == q->zscore,
			"dim %d differs", d);
		T_CHECK(close_to(p->std, q->std, 1e-12, 0) && close_to(p->mean, q->mean, 1e-12, 1e-15),
			"dim %d moments", d);
	}
	ods_stats_result_release(&a);
	ods_stats_result_release(&b);
	free(x);
}

/* The sketch key: monotone, bucket ceil(log_gamma |v|), value within ALPHA of v. */
static void test_sketch_keys(void)
{
	struct ods_stats *s;
	struct ods_err err;
	const double lg = log((1 + ALPHA) / (1 - ALPHA));
	int bad_bucket = 0, bad_val = 0, bad_mono = 0;
	float prev = -INFINITY;
	int32_t prevk = -1;

	T_CHECK(ods_stats_open(&s, 1, NULL, &err) == 0, "%s", err.msg);
	T_CHECK(ods_stats_sketch_key(s, 0.0f) == ods_stats_zero_key(s) &&
			ods_stats_sketch_key(s, -0.0f) == ods_stats_zero_key(s),
		"zero key");
	rng_seed(3);
	for (int i = 0; i < 200000; i++) {
		double e = -8.9 + 17.8 * rng_unif();
		float v = (float)(pow(10, e) * (rng_u64() & 1 ? 1 : -1));
		int32_t k = ods_stats_sketch_key(s, v);
		double ideal = log(fabs((double)v)) / lg;
		int ib = ods_stats_key_bucket(s, k);
		/* away from a bucket edge the index is exactly ceil(log_gamma |v|) */
		if (fabs(ideal - floor(ideal + 0.5)) > 1e-4 && ib != (int)ceil(ideal))
			bad_bucket++;
		if (!close_to(ods_stats_key_value(s, k), v, ALPHA * 1.00001, 0))
			bad_val++;
		if ((v > 0) != (k > ods_stats_zero_key(s)))
			bad_mono++;
	}
	/* monotone over a sweep of float bit patterns */
	for (double v = -2e9; v < 2e9; v = v < 0 ? (v > -1e-10 ? 0 : v / 1.0007) : (v == 0 ? 1e-10 : v * 1.0007)) {
		int32_t k = ods_stats_sketch_key(s, (float)v);
		if (k < prevk || (float)v < prev)
			bad_mono++;
		prev = (float)v;
		prevk = k;
	}
	/* clamped and non-finite values land in the edge buckets without trouble */
	T_CHECK(ods_stats_sketch_key(s, 1e30f) == ods_stats_sketch_key(s, 2e9f) &&
			ods_stats_sketch_key(s, 1e-30f) == ods_stats_sketch_key(s, 1e-10f) &&
			ods_stats_sketch_key(s, INFINITY) == ods_stats_sketch_key(s, 2e9f) &&
			ods_stats_sketch_key(s, NAN) >= 0,
		"edges");
	T_CHECK(bad_bucket == 0 && bad_val == 0 && bad_mono == 0, "bucket %d value %d mono %d",
		bad_bucket, bad_val, bad_mono);
	ods_stats_free(s);
}

/* ---------------------------------------------------------------------------------------- */

static void test_kurtosis(void)
{
	const int D = 64, n = 300;
	float *x = ods_xmalloc((size_t)n * D * sizeof *x);
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;

	ods_stats_opts_default(&o);
	rng_seed(11);
	for (int i = 0; i < n * D; i++)
		x[i] = rng_u64() & 1 ? 1.5f : -1.5f; /* every neuron the same RMS */
	T_CHECK(run_stats(x, (size_t)n, D, &o, 100, &r, &err, NULL) == 0, "%s", err.msg);
	T_CHECK(close_to(r.kurtosis, 1.0, 1e-12, 0), "uniform kurtosis %.17g", r.kurtosis);
	T_CHECK(close_to(r.mmr, 1.0, 1e-12, 0), "uniform mmr %.17g", r.mmr);
	ods_stats_result_release(&r);

	memset(x, 0, (size_t)n * D * sizeof *x);
	for (int i = 0; i < n; i++)
		x[(size_t)i * D + 5] = (float)rng_gauss(); /* one neuron holds everything */
	T_CHECK(run_stats(x, (size_t)n, D, &o, 100, &r, &err, NULL) == 0, "%s", err.msg);
	T_CHECK(close_to(r.kurtosis, D, 1e-12, 0), "one-neuron kurtosis %.17g", r.kurtosis);
	T_CHECK(r.mmr == 0, "mmr with zero medians %g", r.mmr);
	ods_stats_result_release(&r);
	free(x);
}

static void test_nonfinite(void)
{
	const int D = 8, n = 50;
	float *x = ods_xmalloc((size_t)n * D * sizeof *x);
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;

	ods_stats_opts_default(&o);
	for (int mode = 0; mode < 2; mode++) {
		o.mem_bytes = mode ? 0 : (size_t)1 << 20;
		for (int kind = 0; kind < 3; kind++) {
			for (int i = 0; i < n * D; i++)
				x[i] = (float)(i % 7) - 3;
			x[30 * D + 5] = kind == 0 ? NAN : kind == 1 ? INFINITY : -INFINITY;
			if (kind == 2)
				x[5] = NAN; /* also in the very first row (the sums' shift) */
			memset(&r, 0, sizeof r);
			T_CHECK(run_stats(x, (size_t)n, D, &o, 16, &r, &err, NULL) == ODS_EINVAL,
				"mode %d kind %d accepted", mode, kind);
			T_CHECK(strstr(err.msg, "non-finite hidden state value in dimension 5") != NULL,
				"message: %s", err.msg);
			T_CHECK(r.dims == NULL && r.ods == NULL, "no result");
			ods_stats_result_release(&r);
		}
	}
	free(x);
}

static void test_errors(void)
{
	struct ods_stats *s;
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;

	ods_stats_opts_default(&o);
	T_CHECK(ods_stats_open(&s, 4, &o, &err) == 0, "%s", err.msg);
	T_CHECK(ods_stats_finish(s, &r, &err) == ODS_EINVAL && strstr(err.msg, "no inputs collected"),
		"zero rows: %s", err.msg);
	ods_stats_free(s);
	ods_stats_result_release(&r);

	T_CHECK(ods_stats_open(&s, 0, &o, &err) == ODS_EINVAL && s == NULL, "n_dim 0");
	o.q_loc = 0;
	T_CHECK(ods_stats_open(&s, 4, &o, &err) == ODS_EINVAL && strstr(err.msg, "--q-loc"), "q_loc: %s",
		err.msg);
	o.q_loc = 0.5;
	o.q_glob = 1.0;
	T_CHECK(ods_stats_open(&s, 4, &o, &err) == ODS_EINVAL && strstr(err.msg, "--q-glob"),
		"q_glob: %s", err.msg);
	o.q_glob = NAN;
	T_CHECK(ods_stats_open(&s, 4, &o, &err) == ODS_EINVAL && strstr(err.msg, "--q-glob"),
		"q_glob nan: %s", err.msg);
	o.q_glob = 0.99;
	o.frac = 1.5;
	T_CHECK(ods_stats_open(&s, 4, &o, &err) == ODS_EINVAL, "frac: %s", err.msg);
	o.frac = 0.5;
	o.int8_frac = 0;
	T_CHECK(ods_stats_open(&s, 4, &o, &err) == ODS_EINVAL, "int8_frac: %s", err.msg);
}

/* Borderline marks in sketch mode: a dimension whose median |x| lies within the sketch error of
 * the threshold is marked; exact mode never marks. */
static void test_borderline(void)
{
	const int D = 200, n = 1000;
	float *x = ods_xmalloc((size_t)n * D * sizeof *x);
	struct ods_stats_opts o;
	struct ods_stats_result r;
	struct ods_err err;
	int nb = 0;

	ods_stats_opts_default(&o);
	rng_seed(5);
	for (int i = 0; i < n; i++)
		for (int d = 0; d < D; d++)
			x[(size_t)i * D + d] = (float)(d == 0 ? 5.0 + 0.01 * rng_gauss() : rng_gauss());
	/* dim 0 holds the top 1/D of |X|: q_glob = 1 - 0.25/D puts the threshold at its upper
	 * quartile, 0.13% above its median */
	o.q_glob = 1.0 - 0.25 / D;
	T_CHECK(run_stats(x, (size_t)n, D, &o, 256, &r, &err, NULL) == 0, "%s", err.msg);
	T_CHECK(!(r.dims[0].rules & ODS_RULE_QUANTILE) && r.dims[0].q_loc_abs < r.threshold &&
			r.threshold < r.dims[0].q_loc_abs * (1 + ALPHA),
		"exact: q_loc %.9g threshold %.9g", r.dims[0].q_loc_abs, r.threshold);
	for (int d = 0; d < D; d++)
		nb += r.dims[d].borderline;
	T_CHECK(nb == 0, "exact mode marked %d", nb);
	ods_stats_result_release(&r);
	o.mem_bytes = 0;
	T_CHECK(run_stats(x, (size_t)n, D, &o, 256, &r, &err, NULL) == 0, "%s", err.msg);
	T_CHECK(r.dims[0].borderline == 1, "dim 0 q_loc %g threshold %g not borderline",
		r.dims[0].q_loc_abs, r.threshold);
	nb = 0;
	for (int d = 1; d < D; d++)
		nb += r.dims[d].borderline;
	T_CHECK(nb == 0, "%d noise dims marked", nb);
	ods_stats_result_release(&r);
	free(x);
}

/* Speed of ods_stats_add (and finish), exact and sketch, when ODS_STATS_BENCH is set:
 * ODS_STATS_BENCH=D[,rows] (default 4096,32768). Batches of 512 rows as the scan feeds them;
 * "steady" is the second half of the rows (sketch counts and staging already allocated). */
static void test_bench(void)
{
	const char *env = getenv("ODS_STATS_BENCH");
	const size_t batch = 512, n_src = 8;
	int D = 4096;
	long rows = 32768;
	float *x;

	if (!env) {
		T_SKIP("set ODS_STATS_BENCH=D[,rows] to measure");
		return;
	}
	sscanf(env, "%d,%ld", &D, &rows);
	rows = rows / (long)(2 * batch) * (long)(2 * batch);
	if (rows == 0)
		rows = 2 * (long)batch;
	x = ods_xmalloc(n_src * batch * (size_t)D * sizeof *x);
	rng_seed(9);
	for (size_t i = 0; i < n_src * batch * (size_t)D; i++)
		x[i] = (float)(rng_gauss() * (i % (size_t)D == 7 ? 30 : 1));
	for (int mode = 0; mode < 2; mode++) {
		struct ods_stats_opts o;
		struct ods_stats *s;
		struct ods_stats_result r;
		struct ods_err err;
		double t0, th = 0, t1, t2, nv = (double)rows * D;
		ods_stats_opts_default(&o);
		o.mem_bytes = mode ? 0 : (size_t)rows * D * 4;
		T_CHECK(ods_stats_open(&s, D, &o, &err) == 0, "%s", err.msg);
		t0 = ods_now();
		for (long i = 0, b = 0; i < rows; i += (long)batch, b++) {
			if (i == rows / 2)
				th = ods_now();
			ods_stats_add(s, x + (size_t)(b % (long)n_src) * batch * D, batch);
		}
		t1 = ods_now();
		printf("  %s D=%d rows=%ld threads=%d: add %.2f ns/value (steady %.2f), held %.1f MB\n",
		       mode ? "sketch" : "exact ", D, rows, omp_get_max_threads(), (t1 - t0) * 1e9 / nv,
		       (t1 - th) * 2e9 / nv, (double)ods_stats_mem(s) / 1e6);
		T_CHECK(ods_stats_finish(s, &r, &err) == 0, "%s", err.msg);
		t2 = ods_now();
		printf("  %s finish %.3f s (%.2f ns/value), %d ODs\n", mode ? "sketch" : "exact ",
		       t2 - t1, (t2 - t1) * 1e9 / nv, r.n_ods);
		ods_stats_result_release(&r);
		ods_stats_free(s);
	}
	free(x);
}

int main(void)
{
	T_RUN(test_small_exact);
	T_RUN(test_small_sketch);
	T_RUN(test_mmr_small);
	T_RUN(test_mmr_random);
	T_RUN(test_planted_exact);
	T_RUN(test_planted_sketch);
	T_RUN(test_shapes);
	T_RUN(test_sketch_fold);
	T_RUN(test_sketch_keys);
	T_RUN(test_kurtosis);
	T_RUN(test_nonfinite);
	T_RUN(test_errors);
	T_RUN(test_borderline);
	T_RUN(test_bench);
	return T_END();
}
