/* model.h - Hugging Face model directories: config, weights, forward pass.
 *
 * ods_model_open reads DIR/config.json into a typed struct ods_config, maps
 * the safetensors weights and binds them by the family's tensor names. The
 * forward pass takes a batch of independent sequences packed into one token
 * array and returns the final hidden states (after the final norm: what the
 * unembedding multiplies). Families: gpt2, gpt_neox, opt, llama, mistral,
 * qwen2, gemma2, olmo2, stablelm; all run by one decoder whose wiring comes
 * from struct ods_config.
 *
 * Ownership: ods_model_open returns a heap handle freed with ods_model_free;
 * ods_fwd_open returns scratch buffers freed with ods_fwd_free. A model may be
 * shared by several ods_fwd states; one ods_fwd is used by one caller at a
 * time.
 */
#ifndef ODS_MODEL_H
#define ODS_MODEL_H

#include <stdint.h>

#include "odscope/err.h"
#include "odscope/st.h"

enum ods_act { ODS_ACT_GELU_TANH, ODS_ACT_GELU_ERF, ODS_ACT_RELU, ODS_ACT_SILU };
enum ods_norm { ODS_NORM_LAYER, ODS_NORM_RMS };
enum ods_qkv {
	ODS_QKV_SPLIT,       /* q_proj, k_proj, v_proj */
	ODS_QKV_FUSED,       /* one [q | k | v] projection (GPT-2 c_attn) */
	ODS_QKV_FUSED_HEADS, /* one projection laid out per head [H, 3, hd] (GPT-NeoX)
	                      */
};
enum ods_qknorm {
	ODS_QKNORM_NONE,
	ODS_QKNORM_FULL,    /* RMSNorm over the whole q / k projection (OLMo-2) */
	ODS_QKNORM_HEAD_LN, /* LayerNorm (no bias) per head, one weight per head
	                       (StableLM) */
};
enum ods_rope { ODS_ROPE_DEFAULT, ODS_ROPE_LINEAR, ODS_ROPE_LLAMA3 };

#define ODS_MAX_LAYERS 512

/* Everything the forward pass needs to know about a model: sizes and the
 * block wiring. One decoder (src/arch/decoder.c) runs every family; the
 * family parsers in config.c translate each family's config keys (and its
 * HF defaults) into these fields. */
struct ods_config {
	char model_type[32];
	int n_layer;
	int d_model;   /* D: residual stream width */
	int d_embed;   /* width of the token embedding (OPT word_embed_proj_dim; else D)
	                */
	int d_out;     /* width of the final hidden state h that W_U multiplies */
	int n_head;    /* H */
	int n_kv_head; /* KV heads (grouped-query attention when < H) */
	int head_dim;  /* hd */
	int d_ff;      /* F */
	int n_vocab;   /* V: rows of the unembedding */
	int n_ctx;     /* maximum positions */
	double norm_eps;

	/* wiring */
	int norm;       /* enum ods_norm, for every norm of the model */
	int norm_bias;  /* LayerNorms have a bias */
	int norm_plus1; /* RMSNorm scales by (1 + w) (Gemma) */
	int norm_in;    /* norm before each sublayer (pre-LN) */
	int norm_out;   /* norm on each sublayer's output, before the residual add */
	int norm_res;   /* norm after the residual add (post-LN: OPT-350m) */
	int final_norm; /* final norm before the unembedding */
	int parallel;   /* 0: sequential; 1: x + attn(n1(x)) + mlp(n1(x)); 2: ...
	                   mlp(n2(x)) */
	int qkv;        /* enum ods_qkv */
	int conv1d;     /* matrices stored [in, out] (GPT-2 Conv1D) rather than [out, in]
	                 */
	int qkv_bias, o_bias, mlp_bias;
	int qk_norm;     /* enum ods_qknorm */
	int act;         /* enum ods_act */
	int gated;       /* MLP down(act(gate(x)) * up(x)); else down(act(up(x))) */
	int learned_pos; /* learned absolute positions (row = position + pos_offset)
	                  */
	int pos_offset;  /* OPT: 2 */
	int embed_scale; /* multiply the embedding by sqrt(D) (Gemma) */
	int proj_io;     /* OPT project_in / project_out around the blocks (d_embed != D)
	                  */
	int rotary_dim;  /* RoPE on the first rotary_dim dims of each head (0: no RoPE)
	                  */
	double rope_theta;
	int rope_type;                                     /* enum ods_rope */
	double rope_factor, rope_low_freq, rope_high_freq; /* linear / llama3 scaling */
	int rope_orig_ctx;
	double attn_scale;                     /* multiplies q.k (1/sqrt(hd) by default) */
	int scale_attn_by_inverse_layer_idx;   /* GPT-2: and 1 / (layer index + 1) */
	double attn_softcap;                   /* scores c tanh(s / c) when > 0 (Gemma-2) */
	double final_softcap;                  /* logits c tanh(z / c) when > 0 (Gemma-2) */
	int window;                            /* sliding-window size of the layers marked below */
	unsigned char sliding[ODS_MAX_LAYERS]; /* layer l attends to the last `window`
	                                          keys only */

	int tie_word_embeddings; /* unembedding = input embedding */
	int bos_id, eos_id;      /* -1 when absent */
	uint64_t hash;           /* FNV-1a of the config.json bytes */
};

/* Parse DIR/config.json. Unknown model_type, unsupported keys and values are
 * refused with a message naming the key. */
int ods_config_load(struct ods_config *cfg, const char *dir, struct ods_err *err);

struct ods_fwd;
struct ods_decoder;

/* A weight matrix as stored in the file (F32, F16 or BF16), never expanded
 * as a whole: kernels convert it per tile (ops.h ods_matmul_mat). */
struct ods_mat {
	const void *data;
	int dtype; /* enum ods_dtype */
	int64_t rows, cols;
};

struct ods_model {
	struct ods_config cfg;
	struct ods_st st;
	char *dir;
	struct ods_decoder *w;    /* bound weights (src/arch/decoder.c) */
	struct ods_mat unemb;     /* [V, d_out] unembedding (lm_head or tied input embedding) */
	int tied;                 /* 1 when the unembedding is the input embedding */
	const char *weight_dtype; /* dtype of the unembedding as stored ("F32",
	                             "BF16", ...) */
	uint64_t hash;            /* FNV-1a of config.json and every safetensors header */
	float **owned;            /* converted weight copies, freed with the model */
	int n_owned;
};

int ods_model_open(struct ods_model **out, const char *dir, struct ods_err *err);
void ods_model_free(struct ods_model *m);

/* Bind tensor `name` of the expected shape as float32 (converted and owned
 * by the model when not stored as aligned F32). For small tensors. */
int ods_model_weight(struct ods_model *m, const float **out, const char *name, int n_dim,
                     const int64_t *shape, struct ods_err *err);
/* Bind a 2-D matrix as stored (F16/BF16 stay 16-bit in memory; F64 and
 * unaligned F32 are converted to an owned F32 copy). */
int ods_model_mat(struct ods_model *m, struct ods_mat *out, const char *name, int64_t rows,
                  int64_t cols, struct ods_err *err);

/* The decoder (src/arch/decoder.c): binds the family's weights by name, runs
 * the blocks. */
int ods_decoder_load(struct ods_model *m, struct ods_err *err);
void ods_decoder_free(struct ods_decoder *w);
const double *ods_decoder_inv_freq(const struct ods_decoder *w); /* [rotary_dim / 2] */
void ods_decoder_forward(const struct ods_model *m, struct ods_fwd *fwd, const int32_t *ids,
                         int n_tok, const int *seq_off, int n_seq, float *hidden);

/* Forward scratch for batches of up to max_tok tokens and sequences of up to
 * max_len tokens. Owned by the caller of ods_fwd_open. */
struct ods_fwd {
	int max_tok, max_len;
	float *x;         /* [max_tok, D] residual stream */
	float *xn;        /* [max_tok, max(D, d_embed, d_out)] normed input / sublayer output */
	float *xn2;       /* [max_tok, D] second norm (parallel residual) / MLP output */
	float *qkv;       /* [max_tok, (H + 2 KV) hd] fused projection */
	float *q;         /* [max_tok, H hd] */
	float *k, *v;     /* [max_tok, KV hd] */
	float *att;       /* [max_tok, H hd] */
	float *ff;        /* [max_tok, F] */
	float *ff2;       /* [max_tok, F] gate (gated MLPs) */
	float *cos, *sin; /* [max_len, rotary_dim / 2] RoPE tables */
	int *pos;         /* [max_tok] position of each token within its sequence */
	float *scratch;   /* attention scores, per thread */
};
struct ods_fwd *ods_fwd_open(const struct ods_model *m, int max_tok, int max_len);
void ods_fwd_free(struct ods_fwd *f);

/* Run the model on n_seq independent sequences packed in ids[n_tok]:
 * sequence s is ids[seq_off[s] .. seq_off[s+1]), positions restart at 0.
 * Each sequence must be at most n_ctx (and fwd->max_len) long; ids must be
 * < V. hidden: [n_tok, d_out] final hidden states. */
int ods_model_forward(const struct ods_model *m, struct ods_fwd *fwd, const int32_t *ids, int n_tok,
                      const int *seq_off, int n_seq, float *hidden, struct ods_err *err);

/* logits[n, V] = hidden[n, d_out] @ unemb^T (raw: no soft-cap). */
void ods_model_logits(const struct ods_model *m, const float *hidden, int n, float *logits);
/* The model's own final soft-cap c tanh(z / c) over logits[n, V], when it has
 * one. */
void ods_model_softcap(const struct ods_model *m, float *logits, int n);

/* Rows t0..t1-1 of the unembedding as float32: out[t1 - t0, D]. Consumers
 * that stream over W_U (token tables, ablation) use this and never assume
 * an F32 copy of the whole [V, D] matrix exists. */
void ods_model_unemb_rows(const struct ods_model *m, int t0, int t1, float *out);

#endif
