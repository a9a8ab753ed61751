/* ops.h - numeric kernels of the forward pass, one function per op with a
 * fixed argument order: (out, in, weights..., sizes). Dimension letters:
 * T tokens in the batch, C input width, OC output width.
 *
 * Threads: OpenMP is the one owner of threads. BLAS is set single-threaded
 * (ods_ops_init) and large products are split across the OpenMP team by
 * output columns, one single-threaded sgemm per thread.
 * Nothing here allocates except ods_attention's per-thread scratch (caller's).
 */
#ifndef ODS_OPS_H
#define ODS_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Debian's OpenBLAS picks its AVX2 (Haswell) kernels on AMD CPUs with
 * AVX-512; its AVX-512 kernels are about 1.8x faster there. If the CPU has
 * AVX-512 and OPENBLAS_CORETYPE is unset, set it to SKYLAKEX and re-exec the
 * program (argv as given to main) once; returns only if nothing was done. */
void ods_ops_prefer_avx512(char **argv);

/* Set BLAS to one thread and OpenMP to n_threads (0: all cores). Returns the
 * count. */
int ods_ops_init(int n_threads);
int ods_ops_threads(void);

enum ods_wlayout {
	ODS_W_IN_OUT, /* W[C, OC]  (GPT-2 Conv1D) */
	ODS_W_OUT_IN, /* W[OC, C]  (nn.Linear, unembedding) */
};

/* out[T, OC] = in[T, C] @ W (+ bias[OC] if non-NULL). */
void ods_matmul(float *out, const float *in, const float *w, int layout, const float *bias, int T,
                int C, int OC);

/* The same product with W stored as F32, F16 or BF16 (enum ods_dtype):
 * 16-bit weights are converted tile by tile into per-thread scratch, so the
 * full matrix never exists in F32. w points to W's first element. */
void ods_matmul_mat(float *out, const float *in, const void *w, int dtype, int layout,
                    const float *bias, int T, int C, int OC);

/* Columns j0 .. j1 of ods_matmul_mat's out[T, OC] (row stride OC), on the
 * calling thread only (for callers that split work across threads
 * themselves); 0 <= j0 <= j1 <= OC. */
void ods_matmul_cols(float *out, const float *in, const void *w, int dtype, int layout,
                     const float *bias, int T, int C, int OC, int j0, int j1);

/* dst[n] = src[off .. off + n) of an F32/F16/BF16/F64 array, as float32. */
void ods_cvt_f32(float *dst, const void *src, int dtype, size_t off, size_t n);

/* out[T, C] = LayerNorm(in[T, C]) * w[C] + b[C]; out may equal in. */
void ods_layernorm(float *out, const float *in, const float *w, const float *b, int T, int C,
                   float eps);

/* out[T, C] = in * rsqrt(mean(in^2) + eps) * w[C]; out may equal in. */
void ods_rmsnorm(float *out, const float *in, const float *w, int T, int C, float eps);

/* LayerNorm without bias of each head of x[T, n_head * hd] in place, head h
 * scaled by w[h * hd .. (h + 1) * hd). */
void ods_layernorm_heads(float *x, const float *w, int T, int n_head, int hd, float eps);

/* Activations, in place over n values. */
void ods_gelu_tanh(float *x, size_t n);
void ods_gelu_erf(float *x, size_t n);
void ods_relu(float *x, size_t n);
void ods_silu(float *x, size_t n);
/* x[i] = act(x[i]) * y[i] (gated MLPs), act an enum ods_act. */
void ods_act_mul(float *x, const float *y, size_t n, int act);

/* x[i] = c tanh(x[i] / c) */
void ods_softcap(float *x, size_t n, float c);

/* RoPE, HF rotate-half layout, on the first rot dims of each head of
 * x[T, n_head * hd] (row stride ld): for i < rot/2, with a = x[i], b = x[i +
 * rot/2]: x[i] = a cos - b sin, x[i + rot/2] = b cos + a sin, at angle pos[t] *
 * f_i. cos, sin: [max_pos, rot/2] tables (ods_rope_tables). */
void ods_rope(float *x, int ld, int T, int n_head, int hd, int rot, const int *pos,
              const float *cos, const float *sin);
/* cos/sin[n_pos, rot/2] for inverse frequencies inv_freq[rot/2] (angles in
 * double). */
void ods_rope_tables(float *cos, float *sin, int n_pos, int rot, const double *inv_freq);

/* x[T, C] += y[T, C] */
void ods_add(float *x, const float *y, size_t n);

/* Causal multi-head self-attention over independent sequences.
 * q: [T, *] row stride ldq, head h at column h*hd; k, v: [T, *] strides
 * ldk, ldv, KV head g at column g*hd; query head h reads KV head
 * h / (n_head / n_kv_head) (grouped-query attention).
 * out[T, n_head*hd] (row stride n_head*hd). seq_off[n_seq+1]: sequence s is
 * rows seq_off[s]..seq_off[s+1]-1. Scores s = scale q.k, then
 * softcap tanh(s / softcap) when softcap > 0; query i sees keys j <= i, and
 * only j > i - window when window > 0 (HF's sliding window).
 * scratch: ods_attention_scratch_size(max_len) floats per OpenMP thread, times
 * ods_ops_threads(). */
struct ods_attn {
	int n_head, n_kv_head, hd;
	float scale, softcap;
	int window;
};
size_t ods_attention_scratch_size(int max_len);
void ods_attention(float *out, const float *q, int ldq, const float *k, int ldk, const float *v,
                   int ldv, const struct ods_attn *a, int n_seq, const int *seq_off,
                   float *scratch);

#endif
