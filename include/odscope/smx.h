/* smx.h - block kernels for softmax statistics streamed over the vocabulary
 * (ablate's inner loops), in base-2 units: logits are scaled by log2(e) so
 * that e_j = 2^(v_j - m) needs no multiply.
 *
 * A block's logits are v_j = b[j] + sg d[j] (d NULL: v_j = b[j]), never
 * stored: a rank-k correction d of a base b, as ablate builds them.
 *
 * Each kernel has a portable C version and, on x86-64 CPUs with AVX-512F, an
 * intrinsics version chosen at run time (ods_smx_init). Both compute v with
 * the same rounding (one fused multiply-add), so ods_smx_find and ods_smx_at
 * reproduce the values the other kernels saw; 2^x is evaluated to about
 * 2.2e-7 relative error in both (degree-5 polynomial on [-1/2, 1/2]).
 *
 * Nothing here allocates or keeps state besides the kernel choice.
 */
#ifndef ODS_SMX_H
#define ODS_SMX_H

/* Choose the kernels: the AVX-512 ones when the CPU has AVX-512F, unless the
 * environment sets ODS_SIMD=generic. Call once before any other kernel, from
 * one thread. Returns 1 when the AVX-512 kernels are in use. */
int ods_smx_init(void);

/* d[j] = (p ? p[j] : 0) + sum_k c[k] col[k][j],  j < n,  k < nk.
 * Returns sum_j w[j] d[j] when w is not NULL (else 0). */
double ods_smx_axpy(float *d, const float *p, const float *const *col, const float *c, int nk,
		    const float *w, int n);

/* v[j] = b[j] + sg d[j] stored into v; returns max_j v[j] (n >= 1). */
float ods_smx_combine(float *v, const float *b, const float *d, float sg, int n);

/* max_j v_j (n >= 1). */
float ods_smx_vmax(const float *b, const float *d, float sg, int n);

/* v_j, and the first j < n with v_j == x (-1 if none). */
float ods_smx_at(const float *b, const float *d, float sg, int j);
int ods_smx_find(const float *b, const float *d, float sg, int n, float x);

enum ods_smx_kl {
	ODS_SMX_KL_NONE, /* acc[2] unchanged */
	ODS_SMX_KL_EX,   /* acc[2] += sum e_j x[j] */
	ODS_SMX_KL_DIFF, /* acc[2] += sum x[j] (zp[j] - v_j) */
};

/* One block of the running sums, e_j = 2^(v_j - m) (v_j - m rounded to
 * float: terms far from m carry its relative error), m finite:
 *   acc[0] += sum e_j,   acc[1] += sum e_j (v_j - m),   acc[2] as kl says,
 * (acc[1] against m: the entropy of a peaked distribution is then not a small
 * difference of two numbers of the size of the logits)
 *   e_out[j] = e_j when e_out is not NULL.
 * Returns max_j v_j. The sums are exact only if that maximum is at most
 * about 100 above m (the caller checks and redoes the block otherwise). */
float ods_smx_fold(const float *b, const float *d, float sg, float m, int n, int kl,
		   const float *x, const float *zp, float *e_out, double acc[3]);

/* One node of an ablation plan and the (at most two) conditions on it, in
 * one pass over the block (d is not read back from memory by the sums):
 *   d[j] = (p ? p[j] : 0) + sum_k c[k] col[k][j]   (stored; j < n, k < nk)
 *   returns sum_j w[j] d[j] when w is not NULL (else 0),
 * and for each i with on[i], the sums of ods_smx_fold (kl NONE) against m[i]
 * into acc[i][0..1], with mx[i] = max_j v_j, of
 *   i = 0 (ablate):  v_j = b0[j] - d[j]
 *   i = 1 (only):    v_j = b1[j] + d[j]   (b1 NULL: d[j], the same values as
 *                    with b1 all zeros).
 * Same roundings as axpy followed by fold: d and the maxima are those of the
 * separate kernels, the sums equal theirs up to the order of summation. */
double ods_smx_node(float *d, const float *p, const float *const *col, const float *c, int nk,
		    const float *w, const float *b0, const float *b1, const int on[2], const float m[2],
		    float mx[2], double acc[2][3], int n);

/* ods_smx_node with both conditions against 0 and no b1 (on = {1, 1},
 * m = {0, 0}, b1 NULL) when w[j] = 2^b0[j] (up to the rounding of 2^x) and
 * |d[j]| <= 32 for every j, which the caller guarantees: 2^d and 2^-d come
 * from one range reduction and the ablate terms are w 2^-d, one third less
 * multiply-add work. The same d and maxima as ods_smx_node; the dot agrees
 * with it up to the order of summation, the sums to about 4e-7 relative. */
double ods_smx_node_pair(float *d, const float *p, const float *const *col, const float *c, int nk,
			 const float *w, const float *b0, float mx[2], double acc[2][3], int n);

#endif
