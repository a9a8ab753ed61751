/* ops.c - forward-pass kernels (see include/odscope/ops.h). */
#include "odscope/ops.h"
#include "odscope/fastmath.h"
#include "odscope/model.h"
#include "odscope/st.h"
#include "odscope/util.h"

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

void ods_cvt_f32(float *dst, const void *src, int dtype, size_t off, size_t n)
{
	const uint8_t *p = src;
	switch (dtype) {
	case ODS_DT_F32:
		memcpy(dst, p + 4 * off, n * sizeof *dst);
		break;
	case ODS_DT_BF16:
		p += 2 * off;
#pragma omp simd
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			uint32_t u;
			memcpy(&h, p + 2 * i, 2);
			u = (uint32_t)h << 16;
			memcpy(&dst[i], &u, 4);
		}
		break;
	case ODS_DT_F16:
		p += 2 * off;
#ifdef __FLT16_MANT_DIG__
#pragma omp simd
		for (size_t i = 0; i < n; i++) {
			_Float16 h;
			memcpy(&h, p + 2 * i, 2);
			dst[i] = (float)h;
		}
#else
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			dst[i] = ods_f16_to_f32(h);
		}
#endif
		break;
	case ODS_DT_F64:
		p += 8 * off;
		for (size_t i = 0; i < n; i++) {
			double d;
			memcpy(&d, p + 8 * i, 8);
			dst[i] = (float)d;
		}
		break;
	default:
		ODS_ASSERT(!"ods_cvt_f32: not a float dtype");
	}
}

/* Rows of W converted per tile: at most this many floats of scratch per thread. */
#define MAT_TILE_FLOATS (1 << 19)

void ods_matmul(float *out, const float *in, const float *w, int layout, const float *bias, int T,
                int C, int OC)
{
	ods_matmul_mat(out, in, w, ODS_DT_F32, layout, bias, T, C, OC);
}

/* Columns j0 .. j1 of out[T, OC] on the calling thread: single-threaded
 * sgemms in tiles of columns whose weights are converted to F32 first unless
 * stored as F32. */
static void mat_cols(float *out, const float *in, const void *w, int dtype, int layout,
                     const float *bias, int T, int C, int OC, int j0, int j1)
{
	int f32 = dtype == ODS_DT_F32;
	int nb = f32 ? (j1 > j0 ? j1 - j0 : 1) : MAT_TILE_FLOATS / C;
	float *buf = NULL;
	if (!f32) {
		nb = nb < 16 ? 16 : nb & ~15;
		if (j1 > j0)
			buf = ods_xmalloc((size_t)(nb < j1 - j0 ? nb : j1 - j0) * C * sizeof *buf);
	}
	for (int c0 = j0; c0 < j1; c0 += nb) {
		int nj = c0 + nb < j1 ? nb : j1 - c0;
		const float *wt; /* the tile's weights, row stride ldw */
		int ldw;
		if (bias) {
			for (int i = 0; i < T; i++)
				memcpy(out + (size_t)i * OC + c0, bias + c0, (size_t)nj * sizeof *out);
		}
		if (layout == ODS_W_OUT_IN) {
			/* rows c0..c0+nj of W[OC, C] are contiguous */
			if (f32) {
				wt = (const float *)w + (size_t)c0 * C;
			} else {
				ods_cvt_f32(buf, w, dtype, (size_t)c0 * C, (size_t)nj * C);
				wt = buf;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, nj, C, 1.0f, in, C, wt, C,
			            bias ? 1.0f : 0.0f, out + c0, OC);
		} else {
			/* columns c0..c0+nj of W[C, OC] (converted: buf[C, nj]) */
			if (f32) {
				wt = (const float *)w + c0;
				ldw = OC;
			} else {
				for (int r = 0; r < C; r++)
					ods_cvt_f32(buf + (size_t)r * nj, w, dtype, (size_t)r * OC + c0,
					            (size_t)nj);
				wt = buf;
				ldw = nj;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, nj, C, 1.0f, in, C, wt,
			            ldw, bias ? 1.0f : 0.0f, out + c0, OC);
		}
	}
	free(buf);
}

void ods_matmul_mat(float *out, const float *in, const void *w, int dtype, int layout,
                    const float *bias, int T, int C, int OC)
{
	/* the output columns split across threads in multiples of 16 floats */
	int nt = n_threads_;
	if ((long)T * C * OC < 1L << 18)
		nt = 1;
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), n = omp_get_num_threads();
		int per = ((OC + n - 1) / n + 15) & ~15;
		int j0 = t * per, j1 = j0 + per < OC ? j0 + per : OC;
		mat_cols(out, in, w, dtype, layout, bias, T, C, OC, j0, j1);
	}
}

void ods_matmul_cols(float *out, const float *in, const void *w, int dtype, int layout,
                     const float *bias, int T, int C, int OC, int j0, int j1)
{
	ODS_ASSERT(0 <= j0 && j0 <= j1 && j1 <= OC);
	mat_cols(out, in, w, dtype, layout, bias, T, C, OC, j0, j1);
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

void ods_rmsnorm(float *out, const float *in, const float *w, int T, int C, float eps)
{
#pragma omp parallel for schedule(static)
	for (int i = 0; i < T; i++) {
		const float *x = in + (size_t)i * C;
		float *y = out + (size_t)i * C;
		double ss = 0;
		for (int j = 0; j < C; j++)
			ss += (double)x[j] * x[j];
		float r = (float)(1.0 / sqrt(ss / C + eps));
		for (int j = 0; j < C; j++)
			y[j] = x[j] * r * w[j];
	}
}

void ods_layernorm_heads(float *x, const float *w, int T, int n_head, int hd, float eps)
{
#pragma omp parallel for schedule(static)
	for (int i = 0; i < T * n_head; i++) {
		int h = i % n_head;
		ods_layernorm(x + (size_t)i * hd, x + (size_t)i * hd, w + (size_t)h * hd, NULL, 1,
		              hd, eps);
	}
}

/* 0.5 v (1 + tanh(u)) = v * sigmoid(2u), u = sqrt(2/pi) (v + 0.044715 v^3) */
void ods_gelu_tanh(float *x, size_t n)
{
	const float k2 = 2.0f * 0.7978845608028654f;
#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = v / (1.0f + ods_expf(-k2 * (v + 0.044715f * v * v * v)));
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

/* v * sigmoid(v) */
void ods_silu(float *x, size_t n)
{
#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] / (1.0f + ods_expf(-x[i]));
}

void ods_act_mul(float *x, const float *y, size_t n, int act)
{
	switch (act) {
	case ODS_ACT_GELU_TANH:
		ods_gelu_tanh(x, n);
		break;
	case ODS_ACT_GELU_ERF:
		ods_gelu_erf(x, n);
		break;
	case ODS_ACT_RELU:
		ods_relu(x, n);
		break;
	default:
		ods_silu(x, n);
	}
	if (!y)
		return;
#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] *= y[i];
}

void ods_softcap(float *x, size_t n, float c)
{
#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] = c * ods_tanhf(x[i] / c);
}

void ods_rope_tables(float *cos_t, float *sin_t, int n_pos, int rot, const double *inv_freq)
{
	int half = rot / 2;
	for (int p = 0; p < n_pos; p++)
		for (int i = 0; i < half; i++) {
			double a = p * inv_freq[i];
			cos_t[(size_t)p * half + i] = (float)cos(a);
			sin_t[(size_t)p * half + i] = (float)sin(a);
		}
}

void ods_rope(float *x, int ld, int T, int n_head, int hd, int rot, const int *pos,
              const float *cos_t, const float *sin_t)
{
	int half = rot / 2;
#pragma omp parallel for schedule(static)
	for (int t = 0; t < T; t++) {
		const float *c = cos_t + (size_t)pos[t] * half, *s = sin_t + (size_t)pos[t] * half;
		for (int h = 0; h < n_head; h++) {
			float *v = x + (size_t)t * ld + (size_t)h * hd;
			for (int i = 0; i < half; i++) {
				float a = v[i], b = v[i + half];
				v[i] = a * c[i] - b * s[i];
				v[i + half] = b * c[i] + a * s[i];
			}
		}
	}
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
                   int ldv, const struct ods_attn *a, int n_seq, const int *seq_off, float *scratch)
{
	int n_head = a->n_head, hd = a->hd, group = a->n_head / a->n_kv_head, win = a->window;
	int ldo = n_head * hd, n_task = 0, max_len = 0;
	float scale = a->scale, cap = a->softcap;
	for (int s = 0; s < n_seq; s++) {
		int L = seq_off[s + 1] - seq_off[s];
		max_len = L > max_len ? L : max_len;
		n_task += (L + ATT_BQ - 1) / ATT_BQ;
	}
	/* tasks: (query block of a sequence) x head; a block of rows [i0, i1)
	 * needs keys [k0, i1) only (k0 > 0 under a sliding window), so the
	 * masked part is never computed. */
#pragma omp parallel
	{
		float *S = scratch +
		           (size_t)omp_get_thread_num() * ods_attention_scratch_size(max_len);
#pragma omp for schedule(dynamic, 1)
		for (int task = 0; task < n_task * n_head; task++) {
			int h = task % n_head, b = task / n_head, s = 0, nb;
			while (b >= (nb = (seq_off[s + 1] - seq_off[s] + ATT_BQ - 1) / ATT_BQ)) {
				b -= nb;
				s++;
			}
			int r0 = seq_off[s], L = seq_off[s + 1] - r0, g = h / group;
			int i0 = b * ATT_BQ, i1 = i0 + ATT_BQ < L ? i0 + ATT_BQ : L, nq = i1 - i0;
			int k0 = win > 0 && i0 - win + 1 > 0 ? i0 - win + 1 : 0, nk = i1 - k0;
			const float *qs = q + (size_t)(r0 + i0) * ldq + h * hd;
			const float *ks = k + (size_t)(r0 + k0) * ldk + g * hd;
			const float *vs = v + (size_t)(r0 + k0) * ldv + g * hd;
			float *os = out + (size_t)(r0 + i0) * ldo + h * hd;
			/* S[nq, nk] = scale * Q[i0:i1] K[k0:i1]^T */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, hd, scale, qs,
			            ldq, ks, ldk, 0.0f, S, nk);
			for (int i = 0; i < nq; i++) {
				float *row = S + (size_t)i * nk, mx = -INFINITY, sum = 0;
				int j1 = i0 + i + 1 - k0; /* keys k0 .. i0+i */
				int j0 =
					win > 0 && j1 - win > 0 ? j1 - win : 0; /* and > i0+i-win */
				if (cap > 0) {
#pragma omp simd
					for (int j = j0; j < j1; j++)
						row[j] = cap * ods_tanhf(row[j] / cap);
				}
				for (int j = j0; j < j1; j++)
					mx = row[j] > mx ? row[j] : mx;
#pragma omp simd reduction(+ : sum)
				for (int j = j0; j < j1; j++) {
					row[j] = ods_expf(row[j] - mx);
					sum += row[j];
				}
				float inv = 1.0f / sum;
				for (int j = 0; j < j0; j++)
					row[j] = 0.0f;
				for (int j = j0; j < j1; j++)
					row[j] *= inv;
				for (int j = j1; j < nk; j++)
					row[j] = 0.0f;
			}
			/* O[nq, hd] = P V[k0:i1] */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, nk, 1.0f, S,
			            nk, vs, ldv, 0.0f, os, ldo);
		}
	}
}
