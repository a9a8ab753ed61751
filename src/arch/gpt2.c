/* gpt2.c - the GPT-2 family: learned positions, pre-LN blocks, fused qkv
 * Conv1D ([in, out] weights), gelu_new MLP, final ln_f, tied or untied lm_head.
 * Both key layouts load: original ("wte.weight", "h.0.…") and prefixed
 * ("transformer.wte.weight", …, optional "lm_head.weight"). The unembedding
 * is wte unless config.json sets tie_word_embeddings false, as in HF.
 *
 * Sizes: D = n_embd, F = d_ff, V = vocab, P = n_positions, T = batch tokens.
 */
#include "odscope/model.h"
#include "odscope/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gpt2_layer {
	const float *ln1_w, *ln1_b;   /* [D] */
	const float *qkv_w, *qkv_b;   /* [D, 3D], [3D] */
	const float *o_w, *o_b;       /* [D, D], [D] */
	const float *ln2_w, *ln2_b;   /* [D] */
	const float *fc_w, *fc_b;     /* [D, F], [F] */
	const float *proj_w, *proj_b; /* [F, D], [D] */
};

struct gpt2_weights {
	const float *wte;           /* [V, D] */
	const float *wpe;           /* [P, D] */
	const float *lnf_w, *lnf_b; /* [D] */
	struct gpt2_layer *layers;  /* [n_layer] */
};

static int gpt2_load(struct ods_model *m, struct ods_err *err)
{
	const struct ods_config *c = &m->cfg;
	struct gpt2_weights *w = ods_xcalloc(1, sizeof *w);
	const char *pre = ods_st_find(&m->st, "wte.weight") ? "" : "transformer.";
	int64_t D = c->d_model, F = c->d_ff, V = c->n_vocab, P = c->n_ctx;
	char name[256];
	int rc = 0;

#define W(dst, n_dim, ...) \
	do { \
		const int64_t shape_[] = {__VA_ARGS__}; \
		if (!rc) \
			rc = ods_model_weight(m, &(dst), name, n_dim, shape_, err); \
	} while (0)

	m->w = w;
	w->layers = ods_xcalloc((size_t)c->n_layer, sizeof *w->layers);
	snprintf(name, sizeof name, "%swte.weight", pre);
	W(w->wte, 2, V, D);
	snprintf(name, sizeof name, "%swpe.weight", pre);
	W(w->wpe, 2, P, D);
	for (int l = 0; l < c->n_layer && !rc; l++) {
		struct gpt2_layer *L = &w->layers[l];
#define LW(dst, suffix, n_dim, ...) \
	do { \
		snprintf(name, sizeof name, "%sh.%d.%s", pre, l, suffix); \
		W(dst, n_dim, __VA_ARGS__); \
	} while (0)
		LW(L->ln1_w, "ln_1.weight", 1, D);
		LW(L->ln1_b, "ln_1.bias", 1, D);
		LW(L->qkv_w, "attn.c_attn.weight", 2, D, 3 * D);
		LW(L->qkv_b, "attn.c_attn.bias", 1, 3 * D);
		LW(L->o_w, "attn.c_proj.weight", 2, D, D);
		LW(L->o_b, "attn.c_proj.bias", 1, D);
		LW(L->ln2_w, "ln_2.weight", 1, D);
		LW(L->ln2_b, "ln_2.bias", 1, D);
		LW(L->fc_w, "mlp.c_fc.weight", 2, D, F);
		LW(L->fc_b, "mlp.c_fc.bias", 1, F);
		LW(L->proj_w, "mlp.c_proj.weight", 2, F, D);
		LW(L->proj_b, "mlp.c_proj.bias", 1, D);
#undef LW
	}
	snprintf(name, sizeof name, "%sln_f.weight", pre);
	W(w->lnf_w, 1, D);
	snprintf(name, sizeof name, "%sln_f.bias", pre);
	W(w->lnf_b, 1, D);
	/* As in HF: lm_head.weight is used only when the config unties it. */
	if (!rc && !c->tie_word_embeddings) {
		snprintf(name, sizeof name, "lm_head.weight");
		W(m->unemb, 2, V, D);
		m->tied = 0;
		m->weight_dtype = ods_dtype_name(ods_st_find(&m->st, name)->dtype);
	} else if (!rc) {
		m->unemb = w->wte;
		m->tied = 1;
		snprintf(name, sizeof name, "%swte.weight", pre);
		m->weight_dtype = ods_dtype_name(ods_st_find(&m->st, name)->dtype);
	}
#undef W
	return rc;
}

static void gpt2_release(struct ods_model *m)
{
	struct gpt2_weights *w = m->w;
	free(w->layers);
	free(w);
	m->w = NULL;
}

static void gpt2_forward(const struct ods_model *m, struct ods_fwd *f, const int32_t *ids, int T,
			 const int *seq_off, int n_seq, float *hidden)
{
	const struct ods_config *c = &m->cfg;
	const struct gpt2_weights *w = m->w;
	int D = c->d_model, F = c->d_ff, H = c->n_head, hd = c->head_dim;
	float eps = (float)c->norm_eps;

	/* x[T, D] = wte[ids] + wpe[position within its sequence] */
	for (int s = 0; s < n_seq; s++) {
		for (int i = seq_off[s]; i < seq_off[s + 1]; i++) {
			const float *te = w->wte + (size_t)ids[i] * D;
			const float *pe = w->wpe + (size_t)(i - seq_off[s]) * D;
			float *x = f->x + (size_t)i * D;
			for (int j = 0; j < D; j++)
				x[j] = te[j] + pe[j];
		}
	}
	for (int l = 0; l < c->n_layer; l++) {
		const struct gpt2_layer *L = &w->layers[l];
		float scale = c->scale_attn_weights ? 1.0f / sqrtf((float)hd) : 1.0f;
		if (c->scale_attn_by_inverse_layer_idx)
			scale /= (float)(l + 1);
		/* attention: x += c_proj(attn(c_attn(ln_1(x)))) */
		ods_layernorm(f->xn, f->x, L->ln1_w, L->ln1_b, T, D, eps);
		ods_matmul(f->qkv, f->xn, L->qkv_w, ODS_W_IN_OUT, L->qkv_b, T, D, 3 * D);
		ods_attention(f->att, f->qkv, 3 * D, f->qkv + D, 3 * D, f->qkv + 2 * D, 3 * D, H, hd,
			      n_seq, seq_off, scale, f->scratch);
		ods_matmul(f->xn, f->att, L->o_w, ODS_W_IN_OUT, L->o_b, T, D, D);
		ods_add(f->x, f->xn, (size_t)T * D);
		/* MLP: x += c_proj(act(c_fc(ln_2(x)))) */
		ods_layernorm(f->xn, f->x, L->ln2_w, L->ln2_b, T, D, eps);
		ods_matmul(f->ff, f->xn, L->fc_w, ODS_W_IN_OUT, L->fc_b, T, D, F);
		if (c->act == ODS_ACT_GELU_TANH)
			ods_gelu_tanh(f->ff, (size_t)T * F);
		else if (c->act == ODS_ACT_GELU_ERF)
			ods_gelu_erf(f->ff, (size_t)T * F);
		else
			ods_relu(f->ff, (size_t)T * F);
		ods_matmul(f->xn, f->ff, L->proj_w, ODS_W_IN_OUT, L->proj_b, T, F, D);
		ods_add(f->x, f->xn, (size_t)T * D);
	}
	ods_layernorm(hidden, f->x, w->lnf_w, w->lnf_b, T, D, eps);
}

const struct ods_arch ods_arch_gpt2 = {
	.model_type = "gpt2",
	.load = gpt2_load,
	.release = gpt2_release,
	.forward = gpt2_forward,
};
