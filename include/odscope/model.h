/* model.h - Hugging Face model directories: config, weights, forward pass.
 *
 * ods_model_open reads DIR/config.json into a typed struct ods_config, maps
 * the safetensors weights and binds them through the family's struct ods_arch
 * (one file per family in src/arch/). The forward pass takes a batch of
 * independent sequences packed into one token array and returns the final
 * hidden states (after the final norm: what the unembedding multiplies).
 *
 * Ownership: ods_model_open returns a heap handle freed with ods_model_free;
 * ods_fwd_open returns scratch buffers freed with ods_fwd_free. A model may be
 * shared by several ods_fwd states; one ods_fwd is used by one caller at a time.
 */
#ifndef ODS_MODEL_H
#define ODS_MODEL_H

#include <stdint.h>

#include "odscope/err.h"
#include "odscope/st.h"

enum ods_act { ODS_ACT_GELU_TANH, ODS_ACT_GELU_ERF, ODS_ACT_RELU };

struct ods_config {
	char model_type[32];
	int n_layer;
	int d_model;   /* D */
	int n_head;
	int head_dim;
	int d_ff;
	int n_vocab;   /* V: rows of the unembedding */
	int n_ctx;     /* maximum positions */
	double norm_eps;
	int act;       /* enum ods_act */
	int scale_attn_weights;              /* GPT-2: divide scores by sqrt(head_dim) */
	int scale_attn_by_inverse_layer_idx; /* GPT-2: and by layer index + 1 */
	int tie_word_embeddings;             /* unembedding = input embedding (HF default true) */
	int bos_id, eos_id;                  /* -1 when absent */
	uint64_t hash;                       /* FNV-1a of the config.json bytes */
};

/* Parse DIR/config.json. Unknown model_type, unsupported keys and values are
 * refused with a message naming the key. */
int ods_config_load(struct ods_config *cfg, const char *dir, struct ods_err *err);

struct ods_arch;
struct ods_fwd;

struct ods_model {
	struct ods_config cfg;
	struct ods_st st;
	const struct ods_arch *arch;
	char *dir;
	void *w;            /* the family's weight struct (owned by the arch) */
	const float *unemb; /* [V, D] unembedding (lm_head or tied input embedding) */
	int tied;           /* 1 when the unembedding is the input embedding */
	const char *weight_dtype; /* dtype of the unembedding as stored ("F32", "BF16", ...) */
	uint64_t hash;      /* FNV-1a of config.json and every safetensors header */
	float **owned;      /* converted weight copies, freed with the model */
	int n_owned;
};

/* A family: how its weights are named and how its blocks are wired. */
struct ods_arch {
	const char *model_type;
	int (*load)(struct ods_model *m, struct ods_err *err);
	void (*release)(struct ods_model *m);
	/* hidden[n_tok, D] for the batch; scratch in fwd. */
	void (*forward)(const struct ods_model *m, struct ods_fwd *fwd, const int32_t *ids, int n_tok,
			const int *seq_off, int n_seq, float *hidden);
};

int ods_model_open(struct ods_model **out, const char *dir, struct ods_err *err);
void ods_model_free(struct ods_model *m);

/* Bind tensor `name` of the expected shape as float32 (converted and owned
 * by the model when stored as F16/BF16). For arch loaders. */
int ods_model_weight(struct ods_model *m, const float **out, const char *name, int n_dim,
		     const int64_t *shape, struct ods_err *err);

/* Forward scratch for batches of up to max_tok tokens and sequences of up to
 * max_len tokens. */
struct ods_fwd {
	int max_tok, max_len;
	float *x;      /* [max_tok, D] residual stream */
	float *xn;     /* [max_tok, D] normed input of a sublayer */
	float *qkv;    /* [max_tok, 3D] */
	float *att;    /* [max_tok, D] */
	float *ff;     /* [max_tok, d_ff] */
	float *scratch;/* attention scores, per thread */
};
struct ods_fwd *ods_fwd_open(const struct ods_model *m, int max_tok, int max_len);
void ods_fwd_free(struct ods_fwd *f);

/* Run the model on n_seq independent sequences packed in ids[n_tok]:
 * sequence s is ids[seq_off[s] .. seq_off[s+1]), positions restart at 0.
 * Each sequence must be at most n_ctx (and fwd->max_len) long; ids must be
 * < V. hidden: [n_tok, D] final hidden states. */
int ods_model_forward(const struct ods_model *m, struct ods_fwd *fwd, const int32_t *ids,
		      int n_tok, const int *seq_off, int n_seq, float *hidden, struct ods_err *err);

/* logits[n, V] = hidden[n, D] @ unemb^T (no bias, no soft-cap). */
void ods_model_logits(const struct ods_model *m, const float *hidden, int n, float *logits);

/* Rows t0..t1-1 of the unembedding as float32: out[t1 - t0, D]. Consumers
 * that stream over W_U (token tables, ablation) use this and never assume
 * an F32 copy of the whole [V, D] matrix exists. */
void ods_model_unemb_rows(const struct ods_model *m, int t0, int t1, float *out);

#endif
