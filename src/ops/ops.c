/* ops.c - forward-pass kernels (see include/odscope/ops.h). */
#include "odscope/ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int n_threads_ = 1;

/* Attention query rows per task: a block attends to keys [0, end of block). */
#define ATT_BQ 64

/* expf to about 2 ulp (Cephes polynomial after range reduction by ln 2),
 * branch-free so that loops over it vectorize. */
static inline float exp_approx(float x)
{
	float n, r, p;
	int32_t e;
	uint32_t bits;
	x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
	n = floorf(x * 1.44269504088896341f + 0.5f);
	r = x - n * 0.693359375f + n * 2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	e = (int32_t)n + 127;
	bits = (uint32_t)e << 23;
	float scale;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

void ods_ops_prefer_avx512(char **argv)
{
	const char *core = openblas_get_corename();
	if (getenv("OPENBLAS_CORETYPE") || getenv("ODSCOPE_BLAS_REEXEC"))
		return;
	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
	    !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq") ||
	    !__builtin_cpu_supports("avx512cd"))
		return;
	if (!core || (strcasecmp(core, "haswell") && strcasecmp(core, "zen")))
		return;
	setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 1);
	setenv("ODSCOPE_BLAS_REEXEC", "1", 1);
	execv("/proc/self/exe", argv);
	/* exec failed: go on with the kernels already loaded */
}

int ods_ops_init(int n_threads)
{
	openblas_set_num_threads(1);
	if (n_threads <= 0)
		n_threads = omp_get_num_procs();
	omp_set_num_threads(n_threads);
	n_threads_ = n_threads;
	return n_threads;
}

int ods_ops_threads(void)
{
	return n_threads_;
}

void ods_matmul(float *out, const float *in, const float *w, int layout, const float *bias, int T,
		int C, int OC)
{
	/* Split the output columns across threads in multiples of 16 floats. */
	int nt = n_threads_;
	if ((long)T * C * OC < 1L << 18)
		nt = 1;
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), n = omp_get_num_threads();
		int per = ((OC + n - 1) / n + 15) & ~15;
		int j0 = t * per, j1 = j0 + per < OC ? j0 + per : OC;
		if (j1 > j0) {
			int nj = j1 - j0;
			if (bias) {
				for (int i = 0; i < T; i++)
					memcpy(out + (size_t)i * OC + j0, bias + j0, (size_t)nj * sizeof *out);
			}
			if (layout == ODS_W_IN_OUT)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, nj, C, 1.0f, in, C,
					    w + j0, OC, bias ? 1.0f : 0.0f, out + j0, OC);
			else
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, nj, C, 1.0f, in, C,
					    w + (size_t)j0 * C, C, bias ? 1.0f : 0.0f, out + j0, OC);
		}
	}
}

void ods_layernorm(float *out, const float *in, const float *w, const float *b, int T, int C,
		   float eps)
{
#pragma omp parallel for schedule(static)
	for (int i = 0; i < T; i++) {
		const float *x = in + (size_t)i * C;
		float *y = out + (size_t)i * C;
		double s = 0, ss = 0;
		for (int j = 0; j < C; j++)
			s += x[j];
		double mean = s / C;
		for (int j = 0; j < C; j++) {
			double d = x[j] - mean;
			ss += d * d;
		}
		float rstd = (float)(1.0 / sqrt(ss / C + eps)), m = (float)mean;
		for (int j = 0; j < C; j++)
			y[j] = (x[j] - m) * rstd * w[j] + (b ? b[j] : 0.0f);
	}
}

/* 0.5 v (1 + tanh(u)) = v * sigmoid(2u), u = sqrt(2/pi) (v + 0.044715 v^3) */
void ods_gelu_tanh(float *x, size_t n)
{
	const float k2 = 2.0f * 0.7978845608028654f;
#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = v / (1.0f + exp_approx(-k2 * (v + 0.044715f * v * v * v)));
	}
}

void ods_gelu_erf(float *x, size_t n)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void ods_relu(float *x, size_t n)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0 ? x[i] : 0.0f;
}

void ods_add(float *x, const float *y, size_t n)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

size_t ods_attention_scratch_size(int max_len)
{
	return (size_t)ATT_BQ * (size_t)max_len;
}

void ods_attention(float *out, const float *q, int ldq, const float *k, int ldk, const float *v,
		   int ldv, int n_head, int hd, int n_seq, const int *seq_off, float scale,
		   float *scratch)
{
	int ldo = n_head * hd, n_task = 0;
	int max_len = 0;
	for (int s = 0; s < n_seq; s++) {
		int L = seq_off[s + 1] - seq_off[s];
		max_len = L > max_len ? L : max_len;
		n_task += (L + ATT_BQ - 1) / ATT_BQ;
	}
	/* tasks: (query block of a sequence) x head; a block of rows [i0, i1)
	 * needs keys [0, i1) only, so the masked half is never computed. */
#pragma omp parallel
	{
		float *S = scratch + (size_t)omp_get_thread_num() * ods_attention_scratch_size(max_len);
#pragma omp for schedule(dynamic, 1)
		for (int task = 0; task < n_task * n_head; task++) {
			int h = task % n_head, b = task / n_head, s = 0, nb;
			while (b >= (nb = (seq_off[s + 1] - seq_off[s] + ATT_BQ - 1) / ATT_BQ)) {
				b -= nb;
				s++;
			}
			int r0 = seq_off[s], L = seq_off[s + 1] - r0;
			int i0 = b * ATT_BQ, i1 = i0 + ATT_BQ < L ? i0 + ATT_BQ : L, nq = i1 - i0;
			const float *qs = q + (size_t)(r0 + i0) * ldq + h * hd;
			const float *ks = k + (size_t)r0 * ldk + h * hd;
			const float *vs = v + (size_t)r0 * ldv + h * hd;
			float *os = out + (size_t)(r0 + i0) * ldo + h * hd;
			/* S[nq, i1] = scale * Q[i0:i1] K[0:i1]^T */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, i1, hd, scale, qs, ldq, ks, ldk,
				    0.0f, S, i1);
			for (int i = 0; i < nq; i++) {
				float *row = S + (size_t)i * i1, mx = row[0], sum = 0;
				int n = i0 + i + 1; /* keys 0..i0+i */
				for (int j = 1; j < n; j++)
					mx = row[j] > mx ? row[j] : mx;
#pragma omp simd reduction(+ : sum)
				for (int j = 0; j < n; j++) {
					row[j] = exp_approx(row[j] - mx);
					sum += row[j];
				}
				float inv = 1.0f / sum;
				for (int j = 0; j < n; j++)
					row[j] *= inv;
				for (int j = n; j < i1; j++)
					row[j] = 0.0f;
			}
			/* O[nq, hd] = P V[0:i1] */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, i1, 1.0f, S, i1, vs, ldv,
				    0.0f, os, ldo);
		}
	}
}
