/* test_smx.c - the streamed-softmax kernels (src/ops/smx.c) against float64
 * sums written here, for both kernel sets (AVX-512 where the CPU has it, and
 * the portable one forced by ODS_SIMD=generic), on lengths with and without
 * a vector tail. */
#include "t.h"

#include "odscope/fastmath.h"
#include "odscope/smx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int lens[] = {1, 7, 15, 16, 17, 31, 33, 100, 1024, 1031, 4096};

static float frand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((*s >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static int rel_ok(double got, double want, double tol)
{
	return fabs(got - want) <= tol * fabs(want) + 1e-30;
}

/* Two float sums of w[j] d[j] in different orders: apart by at most a few
 * roundings of the sum of |w[j] d[j]| (a small dot of large terms may differ
 * in its leading digits). */
static int dot_ok(double got, double want, const float *w, const float *d, int n)
{
	double abs_sum = 0;
	for (int j = 0; w && j < n; j++)
		abs_sum += fabs((double)w[j] * d[j]);
	return fabs(got - want) <= 1e-6 * abs_sum + 1e-30;
}

/* Every kernel on random data of each length, against float64. */
static void check_kernels(const char *which)
{
	uint64_t seed = 7;
	for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
		int n = lens[li];
		float *b = malloc(n * sizeof *b), *d = malloc(n * sizeof *d), *x = malloc(n * sizeof *x);
		float *zp = malloc(n * sizeof *zp), *e = malloc(n * sizeof *e), *v = malloc(n * sizeof *v);
		float *c0 = malloc(n * sizeof *c0), *c1 = malloc(n * sizeof *c1), *p = malloc(n * sizeof *p);
		for (int j = 0; j < n; j++) {
			b[j] = 8.0f * frand(&seed);
			d[j] = 2.0f * frand(&seed);
			x[j] = 0.5f + 0.5f * frand(&seed);
			zp[j] = 8.0f * frand(&seed);
			c0[j] = frand(&seed);
			c1[j] = frand(&seed);
			p[j] = frand(&seed);
		}
		/* axpy with and without a parent, and its weighted sum */
		{
			const float *col[2] = {c0, c1};
			const float coef[2] = {0.75f, -1.5f};
			double ws = ods_smx_axpy(v, p, col, coef, 2, x, n), want_ws = 0;
			int bad = 0;
			for (int j = 0; j < n; j++) {
				double w = (double)p[j] + 0.75 * c0[j] - 1.5 * c1[j];
				bad += fabs(v[j] - w) > 1e-6 * (1 + fabs(w));
				want_ws += (double)x[j] * v[j];
			}
			T_CHECK(!bad && rel_ok(ws, want_ws, 1e-5), "%s axpy n=%d: %d bad, %g vs %g", which, n, bad,
				ws, want_ws);
			ods_smx_axpy(v, NULL, col, coef, 1, NULL, n);
			bad = 0;
			for (int j = 0; j < n; j++)
				bad += fabs(v[j] - 0.75 * c0[j]) > 1e-6;
			T_CHECK(!bad, "%s axpy without parent n=%d", which, n);
		}
		/* the fused node: the d of axpy and the sums of fold on it (up to
		 * the order of summation), for
		 * each set of conditions, with and without parent, weights, b1, and
		 * with either condition against m = 0 (their own kernels) */
		for (int on0 = 0; on0 < 2; on0++)
			for (int on1 = 0; on1 < 2; on1++)
				for (int var = 0; var < 16; var++) {
					const float *col[2] = {c0, c1}, *par = var & 1 ? p : NULL, *w = var & 2 ? x : NULL;
					const float coef[2] = {2.5f, -1.25f};
					float *d1 = malloc(n * sizeof *d1), *d2 = malloc(n * sizeof *d2), *zero = calloc(n, sizeof *zero);
					int on[2] = {on0, on1}, nk = 1 + var % 2;
					float m[2] = {var & 4 ? 0.0f : 7.0f, var & 8 ? 0.0f : -3.0f}, mx[2] = {0, 0}, want_mx[2] = {0, 0};
					double acc[2][3] = {{1, 2, 3}, {4, 5, 6}}, want[2][3] = {{1, 2, 3}, {4, 5, 6}};
					for (int b1 = 0; b1 < 2; b1++) {
						const float *bb = b1 ? zp : NULL;
						double ws = ods_smx_node(d1, par, col, coef, nk, w, b, bb, on, m, mx, acc, n);
						double want_ws = ods_smx_axpy(d2, par, col, coef, nk, w, n);
						if (on0)
							want_mx[0] = ods_smx_fold(b, d2, -1.0f, m[0], n, ODS_SMX_KL_NONE, NULL, NULL,
										  NULL, want[0]);
						if (on1)
							want_mx[1] = ods_smx_fold(bb ? bb : zero, d2, 1.0f, m[1], n,
										  ODS_SMX_KL_NONE, NULL, NULL, NULL, want[1]);
						T_CHECK(!memcmp(d1, d2, n * sizeof *d1) && dot_ok(ws, want_ws, w, d2, n),
							"%s node d n=%d var=%d: %g vs %g", which, n, var, ws, want_ws);
						for (int i = 0; i < 2; i++)
							T_CHECK(!on[i] || (mx[i] == want_mx[i] && rel_ok(acc[i][0], want[i][0], 1e-6) &&
									   rel_ok(acc[i][1], want[i][1], 1e-6) && acc[i][2] == want[i][2]),
								"%s node sums n=%d on=%d%d var=%d b1=%d cond %d: max %g vs %g, "
								"s %.17g vs %.17g, u %.17g vs %.17g", which, n, on0, on1, var, b1, i,
								mx[i], want_mx[i], acc[i][0], want[i][0], acc[i][1], want[i][1]);
					}
					free(d1);
					free(d2);
					free(zero);
				}
		/* the paired node: ods_smx_node's d and maxima, its dot and sums to
		 * rounding, given w = 2^b */
		for (int var = 0; var < 4; var++) {
			const float *col[2] = {c0, c1}, *par = var & 1 ? p : NULL;
			const float coef[2] = {2.5f, -1.25f};
			const int on[2] = {1, 1};
			const float m[2] = {0.0f, 0.0f};
			int nk = 1 + (var >> 1);
			float *d1 = malloc(n * sizeof *d1), *d2 = malloc(n * sizeof *d2), *w2 = malloc(n * sizeof *w2);
			float mx[2], want_mx[2];
			double acc[2][3] = {{0}}, want[2][3] = {{0}};
			for (int j = 0; j < n; j++)
				w2[j] = exp2f(b[j]);
			double ws = ods_smx_node_pair(d1, par, col, coef, nk, w2, b, mx, acc, n);
			double want_ws = ods_smx_node(d2, par, col, coef, nk, w2, b, NULL, on, m, want_mx, want, n);
			T_CHECK(!memcmp(d1, d2, n * sizeof *d1) && dot_ok(ws, want_ws, w2, d2, n) && mx[0] == want_mx[0] &&
					mx[1] == want_mx[1],
				"%s node pair d n=%d var=%d: dot %g vs %g, max %g/%g vs %g/%g", which, n, var, ws,
				want_ws, mx[0], mx[1], want_mx[0], want_mx[1]);
			for (int i = 0; i < 2; i++)
				T_CHECK(rel_ok(acc[i][0], want[i][0], 2e-6) && rel_ok(acc[i][1], want[i][1], 2e-6),
					"%s node pair sums n=%d var=%d cond %d: s %.17g vs %.17g, u %.17g vs %.17g", which,
					n, var, i, acc[i][0], want[i][0], acc[i][1], want[i][1]);
			free(d1);
			free(d2);
			free(w2);
		}
		for (int dm = 0; dm < 2; dm++)
			for (int neg = 0; neg < 2; neg++) {
				const float *dd = dm ? d : NULL;
				float sg = neg ? -1.0f : 1.0f, mx = -INFINITY;
				int first = -1;
				for (int j = 0; j < n; j++) {
					float w = ods_smx_at(b, dd, sg, j);
					T_CHECK(w == (dd ? b[j] + sg * d[j] : b[j]), "%s at n=%d j=%d", which, n, j);
					if (w > mx) {
						mx = w;
						first = j;
					}
				}
				T_CHECK(ods_smx_vmax(b, dd, sg, n) == mx, "%s vmax n=%d", which, n);
				T_CHECK(ods_smx_combine(v, b, dd, sg, n) == mx, "%s combine max n=%d", which, n);
				T_CHECK(!memcmp(v, b, 0) && v[n - 1] == ods_smx_at(b, dd, sg, n - 1), "%s combine n=%d",
					which, n);
				T_CHECK(ods_smx_find(b, dd, sg, n, mx) == first, "%s find n=%d", which, n);
				T_CHECK(ods_smx_find(b, dd, sg, n, 1e9f) == -1, "%s find absent n=%d", which, n);
				/* the first of any value, around the vector and group edges */
				for (int q = 0; q < 10; q++) {
					int at = (int[]){0, 15, 16, 17, 47, 48, 63, 64, 65, n - 1}[q], want = 0;
					if (at >= n)
						continue;
					while (ods_smx_at(b, dd, sg, want) != ods_smx_at(b, dd, sg, at))
						want++;
					T_CHECK(ods_smx_find(b, dd, sg, n, ods_smx_at(b, dd, sg, at)) == want,
						"%s find n=%d at=%d", which, n, at);
				}
				/* the sums against m = the max and against an m 40 below it */
				for (int below = 0; below < 2; below++) {
					float m = below ? mx - 40.0f : mx;
					for (int kl = ODS_SMX_KL_NONE; kl <= ODS_SMX_KL_DIFF; kl++)
						for (int eo = 0; eo < 2; eo++) {
							double acc[3] = {1, 2, 3}, s = 0, u = 0, a = 0;
							int bad = 0;
							float got = ods_smx_fold(b, dd, sg, m, n, kl, x, zp, eo ? e : NULL, acc);
							for (int j = 0; j < n; j++) {
								double w = ods_smx_at(b, dd, sg, j), ej = exp2((double)(float)(w - m)); /* v - m in float, as documented */
								s += ej;
								u += ej * (double)(float)(w - m);
								a += kl == ODS_SMX_KL_EX ? ej * x[j]
								     : kl == ODS_SMX_KL_DIFF ? x[j] * ((double)zp[j] - w) : 0;
								if (eo)
									bad += !rel_ok(e[j], ej, 5e-7);
							}
							T_CHECK(got == mx, "%s fold max n=%d", which, n);
							T_CHECK(rel_ok(acc[0] - 1, s, 2e-6) && fabs(acc[1] - 2 - u) <= 2e-6 * (fabs(u) + s * 8),
								"%s fold n=%d kl=%d d=%d sg=%g: s %g vs %g, u %g vs %g", which, n, kl,
								dm, sg, acc[0] - 1, s, acc[1] - 2, u);
							T_CHECK(fabs(acc[2] - 3 - a) <= 2e-6 * (fabs(a) + s + n), "%s fold a n=%d kl=%d: %g vs %g",
								which, n, kl, acc[2] - 3, a);
							T_CHECK(!bad, "%s fold e_out n=%d: %d bad", which, n, bad);
						}
				}
			}
		free(b);
		free(d);
		free(x);
		free(zp);
		free(e);
		free(v);
		free(c0);
		free(c1);
		free(p);
	}
}

static void test_smx_native(void)
{
	unsetenv("ODS_SIMD");
	if (!ods_smx_init()) {
		T_SKIP("no AVX-512F on this CPU: only the portable kernels exist here");
		return;
	}
	check_kernels("avx512");
}

static void test_smx_generic(void)
{
	setenv("ODS_SIMD", "generic", 1);
	T_CHECK(ods_smx_init() == 0, "ODS_SIMD=generic must select the portable kernels");
	check_kernels("generic");
	unsetenv("ODS_SIMD");
	ods_smx_init();
}

static void test_exp2f(void)
{
	double worst = 0;
	for (float t = -126.0f; t <= 127.0f; t += 0.001953125f * 7) {
		double r = fabs(ods_exp2f(t) / exp2(t) - 1);
		worst = r > worst ? r : worst;
	}
	T_CHECK(worst < 3e-7, "ods_exp2f worst relative error %g", worst);
}

/* ods_tanhf against tanh in double, relative (both branches, their seam at
 * 1/2, tiny and saturated arguments), and on NaN and the infinities. */
static void test_tanhf(void)
{
	double worst = 0, at = 0;
	for (float x = -40.0f; x <= 40.0f; x += 0.0009765625f * 3) {
		double r = fabs(ods_tanhf(x) / tanh((double)x) - 1);
		if (x != 0 && r > worst) {
			worst = r;
			at = x;
		}
	}
	for (float x = 1e-30f; x < 1.0f; x *= 1.01f) {
		double r = fabs(ods_tanhf(-x) / tanh(-(double)x) - 1);
		if (r > worst) {
			worst = r;
			at = -x;
		}
	}
	T_CHECK(worst < 2e-7, "ods_tanhf worst relative error %g at %g", worst, at);
	T_CHECK(isnan(ods_tanhf(NAN)) && ods_tanhf(INFINITY) == 1.0f && ods_tanhf(-INFINITY) == -1.0f &&
			ods_tanhf(0.0f) == 0.0f,
		"ods_tanhf(NaN, +-inf, 0) = %g %g %g %g", ods_tanhf(NAN), ods_tanhf(INFINITY),
		ods_tanhf(-INFINITY), ods_tanhf(0.0f));
}

int main(void)
{
	T_RUN(test_exp2f);
	T_RUN(test_tanhf);
	T_RUN(test_smx_native);
	T_RUN(test_smx_generic);
	return T_END();
}
