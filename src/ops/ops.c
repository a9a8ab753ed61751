/* ops.c - forward-pass kernels (see include/odscope/ops.h). */
#include "odscope/ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

static int n_threads_ = 1;

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

void ods_gelu_tanh(float *x, size_t n)
{
	const float k = 0.7978845608028654f; /* sqrt(2/pi) */
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
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
	return (size_t)max_len * (size_t)max_len;
}

void ods_attention(float *out, const float *q, int ldq, const float *k, int ldk, const float *v,
		   int ldv, int n_head, int hd, int n_seq, const int *seq_off, float scale,
		   float *scratch)
{
	int ldo = n_head * hd;
	int max_len = 0;
	for (int s = 0; s < n_seq; s++)
		if (seq_off[s + 1] - seq_off[s] > max_len)
			max_len = seq_off[s + 1] - seq_off[s];
#pragma omp parallel
	{
		float *S = scratch + (size_t)omp_get_thread_num() * ods_attention_scratch_size(max_len);
#pragma omp for schedule(dynamic, 1) collapse(2)
		for (int s = 0; s < n_seq; s++) {
			for (int h = 0; h < n_head; h++) {
				int r0 = seq_off[s], L = seq_off[s + 1] - r0;
				const float *qs = q + (size_t)r0 * ldq + h * hd;
				const float *ks = k + (size_t)r0 * ldk + h * hd;
				const float *vs = v + (size_t)r0 * ldv + h * hd;
				float *os = out + (size_t)r0 * ldo + h * hd;
				if (L == 0)
					continue;
				/* S[L, L] = scale * Q K^T (only the causal lower triangle is used) */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hd, scale, qs, ldq, ks,
					    ldk, 0.0f, S, L);
				for (int i = 0; i < L; i++) {
					float *row = S + (size_t)i * L, mx = row[0], sum = 0;
					for (int j = 1; j <= i; j++)
						mx = row[j] > mx ? row[j] : mx;
					for (int j = 0; j <= i; j++) {
						row[j] = expf(row[j] - mx);
						sum += row[j];
					}
					float inv = 1.0f / sum;
					for (int j = 0; j <= i; j++)
						row[j] *= inv;
					for (int j = i + 1; j < L; j++)
						row[j] = 0.0f;
				}
				/* O[L, hd] = P V */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hd, L, 1.0f, S, L, vs,
					    ldv, 0.0f, os, ldo);
			}
		}
	}
}
