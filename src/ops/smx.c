/* smx.c - block kernels for streamed softmax statistics (see
 * include/odscope/smx.h). The portable versions are plain loops GCC
 * vectorizes, one per case so that no branch sits inside a loop; the
 * AVX-512 versions exist because GCC's own vectorization of the exp loop
 * (masked, and without FMA under -std=c11) was several times slower than the
 * ablation cost target allows.
 *
 * sg is +1 or -1 everywhere, so b + sg d rounds once with or without FMA:
 * both versions see the same v. */
#include "odscope/smx.h"
#include "odscope/fastmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SMX_X86 1
#include <immintrin.h>
#endif

static int use512; /* set once by ods_smx_init */

/* ---- portable ---- */

/* d[j0 .. j1) = p (or 0) + sum_k c[k] col[k], the columns added in order
 * (one rounding each), four per pass over d. */
static void cols_c(float *d, const float *p, const float *const *col, const float *c, int nk, int j0,
		   int j1)
{
	int k = 0;
	if (p)
		memcpy(d + j0, p + j0, (size_t)(j1 - j0) * sizeof *d);
	else
		memset(d + j0, 0, (size_t)(j1 - j0) * sizeof *d);
	for (; k + 4 <= nk; k += 4) {
		const float *c0 = col[k], *c1 = col[k + 1], *c2 = col[k + 2], *c3 = col[k + 3];
		float a0 = c[k], a1 = c[k + 1], a2 = c[k + 2], a3 = c[k + 3];
#pragma omp simd
		for (int j = j0; j < j1; j++) {
			float v = d[j] + a0 * c0[j];
			v = v + a1 * c1[j];
			v = v + a2 * c2[j];
			d[j] = v + a3 * c3[j];
		}
	}
	for (; k < nk; k++) {
		const float *ck = col[k];
		float ak = c[k];
#pragma omp simd
		for (int j = j0; j < j1; j++)
			d[j] += ak * ck[j];
	}
}

static double axpy_c(float *d, const float *p, const float *const *col, const float *c, int nk,
		     const float *w, int n)
{
	float a = 0;
	cols_c(d, p, col, c, nk, 0, n);
	if (w) {
#pragma omp simd reduction(+ : a)
		for (int j = 0; j < n; j++)
			a += w[j] * d[j];
	}
	return a;
}

static float combine_c(float *v, const float *b, const float *d, float sg, int n)
{
	float mx = -INFINITY;
	if (!d) {
		memcpy(v, b, (size_t)n * sizeof *v);
	} else if (!b) { /* b all zeros (node_c) */
#pragma omp simd
		for (int j = 0; j < n; j++)
			v[j] = sg * d[j];
	} else {
#pragma omp simd
		for (int j = 0; j < n; j++)
			v[j] = b[j] + sg * d[j];
	}
#pragma omp simd reduction(max : mx)
	for (int j = 0; j < n; j++)
		mx = v[j] > mx ? v[j] : mx;
	return mx;
}

static float vmax_c(const float *b, const float *d, float sg, int n)
{
	float mx = -INFINITY;
	if (!d) {
#pragma omp simd reduction(max : mx)
		for (int j = 0; j < n; j++)
			mx = b[j] > mx ? b[j] : mx;
	} else {
#pragma omp simd reduction(max : mx)
		for (int j = 0; j < n; j++) {
			float v = b[j] + sg * d[j];
			mx = v > mx ? v : mx;
		}
	}
	return mx;
}

/* The portable sums and node kernels: one pass per chunk of NB tokens, the
 * loops written for the compiler's vectorizer (omp simd, 2^x as ods_exp2f),
 * the values and terms in registers; float sums within a chunk, double
 * across chunks. Compile-time flags as in the AVX-512 kernels. */
enum { NB = 512 };
#ifdef __GNUC__
#define INL inline __attribute__((always_inline)) /* the flags are compile-time per case */
#else
#define INL inline
#endif

static INL float fold_c_(const float *b, const float *d, float sg, float m, int n, const int kl,
			    const int has_d, const int has_e, const float *x, const float *zp, float *e_out,
			    double acc[3])
{
	float mx = -INFINITY;
	for (int j0 = 0; j0 < n; j0 += NB) {
		int j1 = n - j0 < NB ? n : j0 + NB;
		float s = 0, u = 0, a = 0, bm = -INFINITY;
#pragma omp simd reduction(+ : s, u, a) reduction(max : bm)
		for (int j = j0; j < j1; j++) {
			float v = has_d ? b[j] + sg * d[j] : b[j], t = v - m, e = ods_exp2f(t);
			bm = v > bm ? v : bm;
			s += e;
			u += e * t;
			if (kl == ODS_SMX_KL_EX)
				a += e * x[j];
			else if (kl == ODS_SMX_KL_DIFF)
				a += x[j] * (zp[j] - v);
			if (has_e)
				e_out[j] = e;
		}
		acc[0] += s;
		acc[1] += u;
		acc[2] += a;
		mx = bm > mx ? bm : mx;
	}
	return mx;
}

static float fold_c(const float *b, const float *d, float sg, float m, int n, int kl,
		    const float *x, const float *zp, float *e_out, double acc[3])
{
	int o = kl | (d ? 4 : 0) | (e_out ? 8 : 0);
/* a case's flags are its bits (0-2 kl, 4 d, 8 e_out): the cases ablate uses */
#define FOLD_C(o) \
	case o: \
		return fold_c_(b, d, sg, m, n, (o) & 3, (o) >> 2 & 1, (o) >> 3 & 1, x, zp, e_out, acc)
	switch (o) {
		FOLD_C(ODS_SMX_KL_NONE | 4);
		FOLD_C(ODS_SMX_KL_DIFF);
		FOLD_C(ODS_SMX_KL_NONE | 8);
		FOLD_C(ODS_SMX_KL_EX | 8);
	default:
		return fold_c_(b, d, sg, m, n, kl, d != NULL, e_out != NULL, x, zp, e_out, acc);
	}
#undef FOLD_C
}

/* 2^d and w 2^-d from one range reduction, |d| <= 126 (see exp2pm_512). */
static INL void exp2pm_c(float dv, float w, float *ep, float *em)
{
	float r = (dv + 12582912.0f) - 12582912.0f, f = dv - r, f2 = f * f, sp, sm;
	float ev = (ODS_EXP2_C4 * f2 + ODS_EXP2_C2) * f2 + ODS_EXP2_C0;
	float od = ((ODS_EXP2_C5 * f2 + ODS_EXP2_C3) * f2 + ODS_EXP2_C1) * f;
	uint32_t bp = (uint32_t)((int32_t)r + 127) << 23, bm = (uint32_t)(127 - (int32_t)r) << 23;
	memcpy(&sp, &bp, sizeof sp);
	memcpy(&sm, &bm, sizeof sm);
	*ep = (ev + od) * sp;
	*em = (ev - od) * w * sm;
}

/* fk: the node's column count when it is known at compile time (1 to 4; p
 * given when has_p): d is made in the loop of the sums, w required; 0: d is
 * made first, chunk by chunk, by cols_c. */
static INL double node_c_(float *d, const float *p, const float *const *col, const float *c,
			     int nk, const float *w, const float *b0, const float *b1, const int on0,
			     const int on1, const int has_b1, const int pair, const int fk,
			     const int has_p, const float m[2], float mx[2], double acc[2][3], int n)
{
	const float *k0 = fk >= 1 ? col[0] : NULL, *k1 = fk >= 2 ? col[1] : NULL,
		    *k2 = fk >= 3 ? col[2] : NULL, *k3 = fk >= 4 ? col[3] : NULL;
	float c0 = fk >= 1 ? c[0] : 0, c1 = fk >= 2 ? c[1] : 0, c2 = fk >= 3 ? c[2] : 0,
	      c3 = fk >= 4 ? c[3] : 0, x0 = -INFINITY, x1 = -INFINITY;
	/* the references as values (m might alias d, which the loop stores) */
	const float m0 = m[0], m1 = m[1];
	double pd = 0;
/* d[j], added in the order of cols_c (the same roundings) */
#define DV(j) \
	(fk ? (dv = has_p ? p[j] : 0.0f, dv += c0 * k0[j], dv = fk >= 2 ? dv + c1 * k1[j] : dv, \
	       dv = fk >= 3 ? dv + c2 * k2[j] : dv, dv = fk >= 4 ? dv + c3 * k3[j] : dv, d[j] = dv) \
	    : d[j])
	for (int j0 = 0; j0 < n; j0 += NB) {
		int j1 = n - j0 < NB ? n : j0 + NB;
		float a = 0, s0 = 0, u0 = 0, s1 = 0, u1 = 0, y0 = -INFINITY, y1 = -INFINITY;
		if (!fk) {
			cols_c(d, p, col, c, nk, j0, j1); /* d over the chunk, in L1 for the sums */
			if (w) {
#pragma omp simd reduction(+ : a)
				for (int j = j0; j < j1; j++)
					a += w[j] * d[j];
			}
		}
		if (pair) {
#pragma omp simd reduction(+ : a, s0, u0, s1, u1) reduction(max : y0, y1)
			for (int j = j0; j < j1; j++) {
				float dv, ep, em;
				dv = DV(j);
				float t = b0[j] - dv;
				if (fk)
					a += w[j] * dv;
				exp2pm_c(dv, w[j], &ep, &em);
				y0 = t > y0 ? t : y0;
				s0 += em;
				u0 += em * t;
				y1 = dv > y1 ? dv : y1;
				s1 += ep;
				u1 += ep * dv;
			}
		} else if (on0 || on1 || fk) {
#pragma omp simd reduction(+ : a, s0, u0, s1, u1) reduction(max : y0, y1)
			for (int j = j0; j < j1; j++) {
				float dv;
				dv = DV(j);
				if (fk)
					a += w[j] * dv;
				if (on0) {
					float v = b0[j] - dv, t = v - m0, e = ods_exp2f(t);
					y0 = v > y0 ? v : y0;
					s0 += e;
					u0 += e * t;
				}
				if (on1) {
					float v = has_b1 ? b1[j] + dv : dv, t = v - m1, e = ods_exp2f(t);
					y1 = v > y1 ? v : y1;
					s1 += e;
					u1 += e * t;
				}
			}
		}
		pd += a;
		acc[0][0] += s0;
		acc[0][1] += u0;
		acc[1][0] += s1;
		acc[1][1] += u1;
		x0 = y0 > x0 ? y0 : x0;
		x1 = y1 > x1 ? y1 : x1;
	}
#undef DV
	if (on0)
		mx[0] = x0;
	if (on1)
		mx[1] = x1;
	return pd;
}

/* A node's case (on bits 1 ablate, 2 only, 4 b1, 8 pair) with the column
 * count compiled in where it is 1 to 4 (ablate alone, both, pair; w given). */
#define NODE_FK(o, fk, hp) \
	node_c_(d, p, col, c, nk, w, b0, b1, (o) & 1, (o) >> 1 & 1, (o) >> 2 & 1, (o) >> 3 & 1, fk, hp, \
		m, mx, acc, n)
#define NODE_K(o) \
	switch (w && nk <= 4 ? nk * 2 + (p != NULL) : 0) { \
	case 2: return NODE_FK(o, 1, 0); \
	case 3: return NODE_FK(o, 1, 1); \
	case 4: return NODE_FK(o, 2, 0); \
	case 5: return NODE_FK(o, 2, 1); \
	case 6: return NODE_FK(o, 3, 0); \
	case 7: return NODE_FK(o, 3, 1); \
	case 8: return NODE_FK(o, 4, 0); \
	case 9: return NODE_FK(o, 4, 1); \
	default: return NODE_FK(o, 0, 0); \
	}

static double node_c(float *d, const float *p, const float *const *col, const float *c, int nk,
		     const float *w, const float *b0, const float *b1, const int on[2], const float m[2],
		     float mx[2], double acc[2][3], int n)
{
	switch ((on[0] ? 1 : 0) | (on[1] ? 2 : 0) | (on[1] && b1 ? 4 : 0)) {
	case 1:
		NODE_K(1);
	case 2:
		return NODE_FK(2, 0, 0);
	case 3:
		NODE_K(3);
	case 6:
		return NODE_FK(6, 0, 0);
	case 7:
		return NODE_FK(7, 0, 0);
	default:
		return NODE_FK(0, 0, 0);
	}
}

static double node_pair_c(float *d, const float *p, const float *const *col, const float *c, int nk,
			  const float *w, const float *b0, float mx[2], double acc[2][3], int n)
{
	const float *b1 = NULL, m[2] = {0.0f, 0.0f};
	NODE_K(11);
}
#undef NODE_K
#undef NODE_FK

/* ---- AVX-512 ---- */

#ifdef SMX_X86
#define T512 __attribute__((target("avx512f")))
#define AI __attribute__((always_inline))

static inline T512 AI __mmask16 tail16(int left)
{
	return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* 2^t for t up to 127: 2^round(t) p(t - round(t)), p the degree-5
 * polynomial of ods_exp2f (a 32-entry table with a degree-2 polynomial, tried
 * instead, was slower: the table lookup and extra multiply cost more than
 * the three FMAs they save). On Zen 4, measured: FMAs and multiplies share
 * two pipes, adds, max, roundscale share two others where scalef takes two
 * slots; a fold's sums use FMAs (s + e as e * 1 + s) so that both pairs
 * carry 7 of its 14 slots, a node's add s (its correction's FMAs load the
 * FMA pipes) and subtract nothing when summed against 0 (13 slots). */
static inline T512 AI __m512 exp2_512(__m512 t)
{
	__m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 f = _mm512_sub_ps(t, r);
	__m512 p = _mm512_set1_ps(ODS_EXP2_C5);
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(ODS_EXP2_C4));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(ODS_EXP2_C3));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(ODS_EXP2_C2));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(ODS_EXP2_C1));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(ODS_EXP2_C0));
	return _mm512_scalef_ps(p, r);
}

/* v for the lanes of k (others 0); neg: sg = -1 (an add or a subtract, not
 * an FMA: that keeps the FMA ports for exp) */
static inline T512 AI __m512 v512(const float *b, const float *d, int neg, int j, __mmask16 k)
{
	__m512 v = _mm512_maskz_loadu_ps(k, b + j);
	if (!d)
		return v;
	return neg ? _mm512_sub_ps(v, _mm512_maskz_loadu_ps(k, d + j))
		   : _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, d + j));
}

T512 static double axpy512(float *d, const float *p, const float *const *col, const float *c,
			   int nk, const float *w, int n)
{
	__m512 a = _mm512_setzero_ps();
	int j = 0;
	/* four vectors at a time: four independent chains of nk FMAs */
	for (; j + 64 <= n; j += 64) {
		__m512 v0, v1, v2, v3;
		if (p) {
			v0 = _mm512_loadu_ps(p + j);
			v1 = _mm512_loadu_ps(p + j + 16);
			v2 = _mm512_loadu_ps(p + j + 32);
			v3 = _mm512_loadu_ps(p + j + 48);
		} else {
			v0 = v1 = v2 = v3 = _mm512_setzero_ps();
		}
		for (int q = 0; q < nk; q++) {
			const float *cq = col[q] + j;
			__m512 cc = _mm512_set1_ps(c[q]);
			v0 = _mm512_fmadd_ps(cc, _mm512_loadu_ps(cq), v0);
			v1 = _mm512_fmadd_ps(cc, _mm512_loadu_ps(cq + 16), v1);
			v2 = _mm512_fmadd_ps(cc, _mm512_loadu_ps(cq + 32), v2);
			v3 = _mm512_fmadd_ps(cc, _mm512_loadu_ps(cq + 48), v3);
		}
		_mm512_storeu_ps(d + j, v0);
		_mm512_storeu_ps(d + j + 16, v1);
		_mm512_storeu_ps(d + j + 32, v2);
		_mm512_storeu_ps(d + j + 48, v3);
		if (w) {
			a = _mm512_fmadd_ps(_mm512_loadu_ps(w + j), v0, a);
			a = _mm512_fmadd_ps(_mm512_loadu_ps(w + j + 16), v1, a);
			a = _mm512_fmadd_ps(_mm512_loadu_ps(w + j + 32), v2, a);
			a = _mm512_fmadd_ps(_mm512_loadu_ps(w + j + 48), v3, a);
		}
	}
	for (; j < n; j += 16) {
		__mmask16 k = tail16(n - j);
		__m512 v = p ? _mm512_maskz_loadu_ps(k, p + j) : _mm512_setzero_ps();
		for (int q = 0; q < nk; q++)
			v = _mm512_fmadd_ps(_mm512_set1_ps(c[q]), _mm512_maskz_loadu_ps(k, col[q] + j), v);
		_mm512_mask_storeu_ps(d + j, k, v);
		if (w)
			a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w + j), v, a);
	}
	return _mm512_reduce_add_ps(a);
}

T512 static int find512(const float *b, const float *d, float sg, int n, float x)
{
	__m512 vx = _mm512_set1_ps(x);
	int j = 0, neg = sg < 0;
	/* four vectors per test while none matches */
	for (; j + 64 <= n; j += 64) {
		__mmask16 e0 = _mm512_cmp_ps_mask(v512(b, d, neg, j, 0xffff), vx, _CMP_EQ_OQ);
		__mmask16 e1 = _mm512_cmp_ps_mask(v512(b, d, neg, j + 16, 0xffff), vx, _CMP_EQ_OQ);
		__mmask16 e2 = _mm512_cmp_ps_mask(v512(b, d, neg, j + 32, 0xffff), vx, _CMP_EQ_OQ);
		__mmask16 e3 = _mm512_cmp_ps_mask(v512(b, d, neg, j + 48, 0xffff), vx, _CMP_EQ_OQ);
		if (e0 | e1 | e2 | e3)
			return j + (e0 ? __builtin_ctz(e0)
				    : e1 ? 16 + __builtin_ctz(e1)
				    : e2 ? 32 + __builtin_ctz(e2)
					 : 48 + __builtin_ctz(e3));
	}
	for (; j < n; j += 16) {
		__mmask16 k = tail16(n - j);
		__mmask16 eq = _mm512_mask_cmp_ps_mask(k, v512(b, d, sg < 0, j, k), vx, _CMP_EQ_OQ);
		if (eq)
			return j + __builtin_ctz(eq);
	}
	return -1;
}

T512 static float combine512(float *out, const float *b, const float *d, float sg, int n)
{
	__m512 mx = _mm512_set1_ps(-INFINITY);
	for (int j = 0; j < n; j += 16) {
		__mmask16 k = tail16(n - j);
		__m512 v = v512(b, d, sg < 0, j, k);
		_mm512_mask_storeu_ps(out + j, k, v);
		mx = _mm512_mask_max_ps(mx, k, mx, v);
	}
	return _mm512_reduce_max_ps(mx);
}

T512 static float vmax512(const float *b, const float *d, float sg, int n)
{
	__m512 mx = _mm512_set1_ps(-INFINITY);
	for (int j = 0; j < n; j += 16) {
		__mmask16 k = tail16(n - j);
		mx = _mm512_mask_max_ps(mx, k, mx, v512(b, d, sg < 0, j, k));
	}
	return _mm512_reduce_max_ps(mx);
}

/* The sums of one vector of v against vm (lanes outside k: nothing);
 * returns its terms e. s + e is an FMA (e * 1 + s) when s_fma, else an add:
 * see exp2_512. */
static inline T512 AI __m512 sums16_(__m512 v, __m512 t, __mmask16 k, __m512 *mx, __m512 *s,
				     __m512 *u, const int s_fma)
{
	__m512 e = _mm512_maskz_mov_ps(k, exp2_512(t));
	*mx = _mm512_mask_max_ps(*mx, k, *mx, v);
	*s = s_fma ? _mm512_fmadd_ps(e, _mm512_set1_ps(1.0f), *s) : _mm512_add_ps(*s, e);
	*u = _mm512_fmadd_ps(e, t, *u);
	return e;
}

static inline T512 AI __m512 sums16(__m512 v, __m512 vm, __mmask16 k, __m512 *mx, __m512 *s,
				    __m512 *u)
{
	return sums16_(v, _mm512_sub_ps(v, vm), k, mx, s, u, 1);
}

/* The same in a node kernel, where the correction's FMAs load the FMA pipes:
 * s + e is an add, and against m = 0 (rel) v is its own t. */
static inline T512 AI void nsums16(__m512 v, __m512 vm, const int rel, __mmask16 k, __m512 *mx,
				   __m512 *s, __m512 *u)
{
	sums16_(v, rel ? v : _mm512_sub_ps(v, vm), k, mx, s, u, 0);
}

/* One vector of the fold; lanes outside k contribute nothing. */
static inline T512 AI void fold16(const float *b, const float *d, int neg, __m512 vm, int j,
				  __mmask16 k, const int kl, const float *x, const float *zp,
				  float *e_out, __m512 *mx, __m512 *s, __m512 *u, __m512 *a)
{
	__m512 v = v512(b, d, neg, j, k), e = sums16(v, vm, k, mx, s, u);
	if (kl == ODS_SMX_KL_EX)
		*a = _mm512_fmadd_ps(e, _mm512_maskz_loadu_ps(k, x + j), *a);
	else if (kl == ODS_SMX_KL_DIFF)
		*a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + j),
				     _mm512_sub_ps(_mm512_maskz_loadu_ps(k, zp + j), v), *a);
	if (e_out)
		_mm512_mask_storeu_ps(e_out + j, k, e);
}

static inline T512 AI float fold512_(const float *b, const float *d, int neg, float m, int n,
				     const int kl, const float *x, const float *zp, float *e_out,
				     double acc[3])
{
	const __m512 vm = _mm512_set1_ps(m);
	__m512 z0 = _mm512_setzero_ps(), mx0 = _mm512_set1_ps(-INFINITY), mx1 = mx0, mx2 = mx0, mx3 = mx0;
	__m512 s0 = z0, s1 = z0, s2 = z0, s3 = z0, u0 = z0, u1 = z0, u2 = z0, u3 = z0;
	__m512 a0 = z0, a1 = z0, a2 = z0, a3 = z0;
	int j = 0;
	/* four chains of accumulators: more independent work per iteration, and
	 * each lane sums at most n / 64 terms */
	for (; j + 64 <= n; j += 64) {
		fold16(b, d, neg, vm, j, 0xffff, kl, x, zp, e_out, &mx0, &s0, &u0, &a0);
		fold16(b, d, neg, vm, j + 16, 0xffff, kl, x, zp, e_out, &mx1, &s1, &u1, &a1);
		fold16(b, d, neg, vm, j + 32, 0xffff, kl, x, zp, e_out, &mx2, &s2, &u2, &a2);
		fold16(b, d, neg, vm, j + 48, 0xffff, kl, x, zp, e_out, &mx3, &s3, &u3, &a3);
	}
	for (; j < n; j += 16)
		fold16(b, d, neg, vm, j, tail16(n - j), kl, x, zp, e_out, &mx0, &s0, &u0, &a0);
	acc[0] += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
	acc[1] += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(u0, u1), _mm512_add_ps(u2, u3)));
	acc[2] += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
	return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(mx0, mx1), _mm512_max_ps(mx2, mx3)));
}

/* One vector of a node: d from p and the columns, stored; the dot with w. */
static inline T512 AI __m512 node_d16(float *d, const float *p, const float *const *col,
				      const float *c, int nk, const float *w, int j, __mmask16 k,
				      __m512 *pa)
{
	__m512 v = p ? _mm512_maskz_loadu_ps(k, p + j) : _mm512_setzero_ps();
	for (int q = 0; q < nk; q++)
		v = _mm512_fmadd_ps(_mm512_set1_ps(c[q]), _mm512_maskz_loadu_ps(k, col[q] + j), v);
	_mm512_mask_storeu_ps(d + j, k, v);
	if (w)
		*pa = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w + j), v, *pa);
	return v;
}

/* 2^d and w 2^-d from one range reduction (|d| below ~100, w below 2^16):
 * p(f) and p(-f) from the even and odd parts of p; 9 slots on the FMA pipes
 * for the two with their sums, against 12 for two exp2_512. */
static inline T512 AI void exp2pm_512(__m512 dv, __m512 w, __m512 *ep, __m512 *em)
{
	__m512 r = _mm512_roundscale_ps(dv, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 f = _mm512_sub_ps(dv, r), f2 = _mm512_mul_ps(f, f);
	__m512 ev = _mm512_fmadd_ps(f2, _mm512_set1_ps(ODS_EXP2_C4), _mm512_set1_ps(ODS_EXP2_C2));
	__m512 od = _mm512_fmadd_ps(f2, _mm512_set1_ps(ODS_EXP2_C5), _mm512_set1_ps(ODS_EXP2_C3));
	ev = _mm512_fmadd_ps(f2, ev, _mm512_set1_ps(ODS_EXP2_C0));
	od = _mm512_mul_ps(_mm512_fmadd_ps(f2, od, _mm512_set1_ps(ODS_EXP2_C1)), f);
	*ep = _mm512_scalef_ps(_mm512_add_ps(ev, od), r);
	*em = _mm512_scalef_ps(_mm512_mul_ps(_mm512_sub_ps(ev, od), w), _mm512_sub_ps(_mm512_setzero_ps(), r));
}

/* One vector of a paired node: ablate t = b0 - d with terms w 2^-d, only
 * t = d with terms 2^d, both against 0. */
static inline T512 AI void pair16(__m512 dv, __m512 b0, __m512 w, __mmask16 k, __m512 *x0, __m512 *s0,
				  __m512 *u0, __m512 *x1, __m512 *s1, __m512 *u1)
{
	__m512 ep, em, t = _mm512_sub_ps(b0, dv);
	exp2pm_512(dv, w, &ep, &em);
	ep = _mm512_maskz_mov_ps(k, ep);
	em = _mm512_maskz_mov_ps(k, em);
	*x0 = _mm512_mask_max_ps(*x0, k, *x0, t);
	*s0 = _mm512_add_ps(*s0, em);
	*u0 = _mm512_fmadd_ps(em, t, *u0);
	*x1 = _mm512_mask_max_ps(*x1, k, *x1, dv);
	*s1 = _mm512_add_ps(*s1, ep);
	*u1 = _mm512_fmadd_ps(ep, dv, *u1);
}

/* on0, on1, has_b1, rel0 (m[0] == 0), rel1 (m[1] == 0 without b1), pair
 * (both on and against 0, no b1, w = 2^b0: pair16): compile-time in each
 * specialization */
static inline T512 AI double node512_(float *d, const float *p, const float *const *col,
				      const float *c, int nk, const float *w, const float *b0,
				      const float *b1, const int on0, const int on1, const int has_b1,
				      const int rel0, const int rel1, const int pair, const float m[2],
				      float mx[2], double acc[2][3], int n)
{
	const __m512 m0 = _mm512_set1_ps(m[0]), m1 = _mm512_set1_ps(m[1]);
	__m512 pa = _mm512_setzero_ps(), pb = pa, ninf = _mm512_set1_ps(-INFINITY);
	__m512 x0 = ninf, s0 = pa, u0 = pa, x1 = ninf, s1 = pa, u1 = pa;
	__m512 y0 = ninf, r0 = pa, q0 = pa, y1 = ninf, r1 = pa, q1 = pa;
	int j = 0;
	/* two vectors per iteration when one condition is on (independent chains) */
	for (; j + 32 <= n; j += 32) {
		__m512 da = node_d16(d, p, col, c, nk, w, j, 0xffff, &pa);
		__m512 db = node_d16(d, p, col, c, nk, w, j + 16, 0xffff, &pb);
		if (pair) {
			pair16(da, _mm512_loadu_ps(b0 + j), _mm512_loadu_ps(w + j), 0xffff, &x0, &s0, &u0, &x1,
			       &s1, &u1);
			pair16(db, _mm512_loadu_ps(b0 + j + 16), _mm512_loadu_ps(w + j + 16), 0xffff, &y0, &r0,
			       &q0, &y1, &r1, &q1);
			continue;
		}
		if (on0) {
			nsums16(_mm512_sub_ps(_mm512_loadu_ps(b0 + j), da), m0, rel0, 0xffff, &x0, &s0, &u0);
			nsums16(_mm512_sub_ps(_mm512_loadu_ps(b0 + j + 16), db), m0, rel0, 0xffff, &y0, &r0,
				&q0);
		}
		if (on1) {
			nsums16(has_b1 ? _mm512_add_ps(_mm512_loadu_ps(b1 + j), da) : da, m1, rel1, 0xffff,
				&x1, &s1, &u1);
			nsums16(has_b1 ? _mm512_add_ps(_mm512_loadu_ps(b1 + j + 16), db) : db, m1, rel1,
				0xffff, &y1, &r1, &q1);
		}
	}
	for (; j < n; j += 16) {
		__mmask16 k = tail16(n - j);
		__m512 dv = node_d16(d, p, col, c, nk, w, j, k, &pa);
		if (pair) {
			pair16(dv, _mm512_maskz_loadu_ps(k, b0 + j), _mm512_maskz_loadu_ps(k, w + j), k, &x0, &s0,
			       &u0, &x1, &s1, &u1);
			continue;
		}
		if (on0)
			nsums16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, b0 + j), dv), m0, rel0, k, &x0, &s0,
				&u0);
		if (on1)
			nsums16(has_b1 ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, b1 + j), dv) : dv, m1, rel1,
				k, &x1, &s1, &u1);
	}
	if (on0) {
		acc[0][0] += _mm512_reduce_add_ps(_mm512_add_ps(s0, r0));
		acc[0][1] += _mm512_reduce_add_ps(_mm512_add_ps(u0, q0));
		mx[0] = _mm512_reduce_max_ps(_mm512_max_ps(x0, y0));
	}
	if (on1) {
		acc[1][0] += _mm512_reduce_add_ps(_mm512_add_ps(s1, r1));
		acc[1][1] += _mm512_reduce_add_ps(_mm512_add_ps(u1, q1));
		mx[1] = _mm512_reduce_max_ps(_mm512_max_ps(x1, y1));
	}
	return w ? _mm512_reduce_add_ps(_mm512_add_ps(pa, pb)) : 0.0;
}

T512 static double node512(float *d, const float *p, const float *const *col, const float *c,
			   int nk, const float *w, const float *b0, const float *b1, const int on[2],
			   const float m[2], float mx[2], double acc[2][3], int n)
{
	int o = (on[0] ? 1 : 0) | (on[1] ? 2 : 0) | (on[1] && b1 ? 4 : 0) | (on[0] && m[0] == 0 ? 8 : 0) |
		(on[1] && !b1 && m[1] == 0 ? 16 : 0);
/* a case's flags are its bits (1 ablate, 2 only, 4 b1, 8 ablate against 0,
 * 16 only against 0): one compile-time specialization per case */
#define NODE(o) \
	case o: \
		return node512_(d, p, col, c, nk, w, b0, b1, (o) & 1, (o) >> 1 & 1, (o) >> 2 & 1, \
				(o) >> 3 & 1, (o) >> 4 & 1, 0, m, mx, acc, n)
	switch (o) {
		NODE(1);
		NODE(2);
		NODE(3);
		NODE(6);
		NODE(7);
		NODE(9);
		NODE(11);
		NODE(15);
		NODE(18);
		NODE(19);
		NODE(27);
	default:
		return axpy512(d, p, col, c, nk, w, n);
	}
#undef NODE
}

T512 static double node_pair512(float *d, const float *p, const float *const *col, const float *c,
				int nk, const float *w, const float *b0, float mx[2], double acc[2][3], int n)
{
	const float m[2] = {0.0f, 0.0f};
	return node512_(d, p, col, c, nk, w, b0, NULL, 1, 1, 0, 1, 1, 1, m, mx, acc, n);
}

/* one specialization per case (the hot one: a condition's, no x, no e_out) */
T512 static float fold512(const float *b, const float *d, float sg, float m, int n, int kl,
			  const float *x, const float *zp, float *e_out, double acc[3])
{
	int neg = sg < 0;
	if (e_out)
		return kl == ODS_SMX_KL_EX     ? fold512_(b, d, neg, m, n, ODS_SMX_KL_EX, x, zp, e_out, acc)
		       : kl == ODS_SMX_KL_DIFF ? fold512_(b, d, neg, m, n, ODS_SMX_KL_DIFF, x, zp, e_out, acc)
					       : fold512_(b, d, neg, m, n, ODS_SMX_KL_NONE, x, zp, e_out, acc);
	switch (kl) {
	case ODS_SMX_KL_EX:
		return fold512_(b, d, neg, m, n, ODS_SMX_KL_EX, x, zp, NULL, acc);
	case ODS_SMX_KL_DIFF:
		return fold512_(b, d, neg, m, n, ODS_SMX_KL_DIFF, x, zp, NULL, acc);
	default:
		return neg ? fold512_(b, d, 1, m, n, ODS_SMX_KL_NONE, x, zp, NULL, acc)
			   : fold512_(b, d, 0, m, n, ODS_SMX_KL_NONE, x, zp, NULL, acc);
	}
}
#endif

/* ---- dispatch ---- */

int ods_smx_init(void)
{
	const char *env = getenv("ODS_SIMD");
	use512 = 0;
#ifdef SMX_X86
	__builtin_cpu_init();
	use512 = __builtin_cpu_supports("avx512f") && !(env && !strcmp(env, "generic"));
#else
	(void)env;
#endif
	return use512;
}

double ods_smx_axpy(float *d, const float *p, const float *const *col, const float *c, int nk,
		    const float *w, int n)
{
#ifdef SMX_X86
	if (use512)
		return axpy512(d, p, col, c, nk, w, n);
#endif
	return axpy_c(d, p, col, c, nk, w, n);
}

float ods_smx_combine(float *v, const float *b, const float *d, float sg, int n)
{
#ifdef SMX_X86
	if (use512)
		return combine512(v, b, d, sg, n);
#endif
	return combine_c(v, b, d, sg, n);
}

float ods_smx_vmax(const float *b, const float *d, float sg, int n)
{
#ifdef SMX_X86
	if (use512)
		return vmax512(b, d, sg, n);
#endif
	return vmax_c(b, d, sg, n);
}

float ods_smx_at(const float *b, const float *d, float sg, int j)
{
	return d ? b[j] + sg * d[j] : b[j];
}

int ods_smx_find(const float *b, const float *d, float sg, int n, float x)
{
#ifdef SMX_X86
	if (use512)
		return find512(b, d, sg, n, x);
#endif
	/* a vectorized test per 64 values, then the one that matched */
	for (int j0 = 0; j0 < n; j0 += 64) {
		int j1 = n - j0 < 64 ? n : j0 + 64, hit = 0;
		if (d) {
#pragma omp simd reduction(| : hit)
			for (int j = j0; j < j1; j++)
				hit |= b[j] + sg * d[j] == x;
		} else {
#pragma omp simd reduction(| : hit)
			for (int j = j0; j < j1; j++)
				hit |= b[j] == x;
		}
		for (int j = j0; hit && j < j1; j++)
			if (ods_smx_at(b, d, sg, j) == x)
				return j;
	}
	return -1;
}

double ods_smx_node(float *d, const float *p, const float *const *col, const float *c, int nk,
		    const float *w, const float *b0, const float *b1, const int on[2], const float m[2],
		    float mx[2], double acc[2][3], int n)
{
#ifdef SMX_X86
	if (use512)
		return node512(d, p, col, c, nk, w, b0, b1, on, m, mx, acc, n);
#endif
	return node_c(d, p, col, c, nk, w, b0, b1, on, m, mx, acc, n);
}

double ods_smx_node_pair(float *d, const float *p, const float *const *col, const float *c, int nk,
			 const float *w, const float *b0, float mx[2], double acc[2][3], int n)
{
#ifdef SMX_X86
	if (use512)
		return node_pair512(d, p, col, c, nk, w, b0, mx, acc, n);
#endif
	return node_pair_c(d, p, col, c, nk, w, b0, mx, acc, n);
}

float ods_smx_fold(const float *b, const float *d, float sg, float m, int n, int kl,
		   const float *x, const float *zp, float *e_out, double acc[3])
{
#ifdef SMX_X86
	if (use512)
		return fold512(b, d, sg, m, n, kl, x, zp, e_out, acc);
#endif
	return fold_c(b, d, sg, m, n, kl, x, zp, e_out, acc);
}
