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

/* Debian's OpenBLAS picks its AVX2 (Haswell) kernels on AMD CPUs with
 * AVX-512; its AVX-512 kernels are about 1.8x faster there. If the CPU has
 * AVX-512 and OPENBLAS_CORETYPE is unset, set it to SKYLAKEX and re-exec the
 * program (argv as given to main) once; returns only if nothing was done. */
void ods_ops_prefer_avx512(char **argv);

/* Set BLAS to one thread and OpenMP to n_threads (0: all cores). Returns the count. */
int ods_ops_init(int n_threads);
int ods_ops_threads(void);

enum ods_wlayout {
	ODS_W_IN_OUT, /* W[C, OC]  (GPT-2 Conv1D) */
	ODS_W_OUT_IN, /* W[OC, C]  (nn.Linear, unembedding) */
};

/* out[T, OC] = in[T, C] @ W (+ bias[OC] if non-NULL). */
void ods_matmul(float *out, const float *in, const float *w, int layout, const float *bias,
		int T, int C, int OC);

/* out[T, C] = LayerNorm(in[T, C]) * w[C] + b[C]; out may equal in. */
void ods_layernorm(float *out, const float *in, const float *w, const float *b, int T, int C,
		   float eps);

/* Activations, in place over n values. */
void ods_gelu_tanh(float *x, size_t n);
void ods_gelu_erf(float *x, size_t n);
void ods_relu(float *x, size_t n);

/* x[T, C] += y[T, C] */
void ods_add(float *x, const float *y, size_t n);

/* Causal multi-head self-attention over independent sequences.
 * q, k, v: [T, *] with row strides ldq, ldk, ldv (head h at column h*hd);
 * out[T, n_head*hd] (row stride n_head*hd). seq_off[n_seq+1]: sequence s is
 * rows seq_off[s]..seq_off[s+1]-1. scale multiplies q.k.
 * scratch: ods_attention_scratch_size(max_len) floats per OpenMP thread, times
 * ods_ops_threads(). */
size_t ods_attention_scratch_size(int max_len);
void ods_attention(float *out, const float *q, int ldq, const float *k, int ldk, const float *v,
		   int ldv, int n_head, int hd, int n_seq, const int *seq_off, float scale,
		   float *scratch);

#endif
