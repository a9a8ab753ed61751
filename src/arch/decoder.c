/* decoder.c - the one decoder-only transformer that runs every family.
 *
 * A family is two things: a table of tensor names (below) and the wiring
 * flags that its config parser (src/model/config.c) sets in struct
 * ods_config. The block is
 *
 *   a = norm_in ? n1(x) : x
 *   o = O(attn(rope(qknorm(Q a)), rope(qknorm(K a)), V a))     [norm_out: o =
 * pa(o)] parallel:   x = x + o + mlp(parallel == 2 ? n2(x) : a) sequential: x =
 * x + o                                       [norm_res: x = n1(x)] m =
 * mlp(norm_in ? n2(x) : x)                    [norm_out: m = pf(m)] x = x + m
 * [norm_res: x = n2(x)]
 *
 * then h = project_out(final_norm(x)), each part present only when the
 * family has it. Sizes: D = d_model, E = d_embed, F = d_ff, H heads, KV
 * key/value heads, hd = head_dim, T = batch tokens, V = vocabulary.
 */
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tensor roles. Names below are without ".weight" / ".bias"; '*' stands for
 * the layer index (and a second '*' for the head of per-head norms). */
enum role {
	R_EMBED,
	R_POS,
	R_NORM_F,
	R_LM_HEAD,
	R_PROJ_IN,
	R_PROJ_OUT,
	R_LN1,
	R_LN2,
	R_POST_ATTN,
	R_POST_FF,
	R_QKV,
	R_Q,
	R_K,
	R_V,
	R_O,
	R_QN,
	R_KN,
	R_UP,
	R_GATE,
	R_DOWN,
	R_COUNT
};

struct family {
	const char *model_types[5];
	const char *base; /* optional prefix of every name but lm_head ("model.") */
	const char *name[R_COUNT];
};

static const struct family families[] = {
	{{"gpt2"},
         "transformer.",
         {[R_EMBED] = "wte",
          [R_POS] = "wpe",
          [R_NORM_F] = "ln_f",
          [R_LM_HEAD] = "lm_head",
          [R_LN1] = "h.*.ln_1",
          [R_LN2] = "h.*.ln_2",
          [R_QKV] = "h.*.attn.c_attn",
          [R_O] = "h.*.attn.c_proj",
          [R_UP] = "h.*.mlp.c_fc",
          [R_DOWN] = "h.*.mlp.c_proj"}},
	{{"gpt_neox"},
         "gpt_neox.",
         {[R_EMBED] = "embed_in",
          [R_NORM_F] = "final_layer_norm",
          [R_LM_HEAD] = "embed_out",
          [R_LN1] = "layers.*.input_layernorm",
          [R_LN2] = "layers.*.post_attention_layernorm",
          [R_QKV] = "layers.*.attention.query_key_value",
          [R_O] = "layers.*.attention.dense",
          [R_UP] = "layers.*.mlp.dense_h_to_4h",
          [R_DOWN] = "layers.*.mlp.dense_4h_to_h"}},
	{{"opt"},
         "model.",
         {[R_EMBED] = "decoder.embed_tokens",
          [R_POS] = "decoder.embed_positions",
          [R_NORM_F] = "decoder.final_layer_norm",
          [R_LM_HEAD] = "lm_head",
          [R_PROJ_IN] = "decoder.project_in",
          [R_PROJ_OUT] = "decoder.project_out",
          [R_LN1] = "decoder.layers.*.self_attn_layer_norm",
          [R_LN2] = "decoder.layers.*.final_layer_norm",
          [R_Q] = "decoder.layers.*.self_attn.q_proj",
          [R_K] = "decoder.layers.*.self_attn.k_proj",
          [R_V] = "decoder.layers.*.self_attn.v_proj",
          [R_O] = "decoder.layers.*.self_attn.out_proj",
          [R_UP] = "decoder.layers.*.fc1",
          [R_DOWN] = "decoder.layers.*.fc2"}},
	{{"llama", "mistral", "qwen2", "stablelm", "gemma"},
         "model.",
         {[R_EMBED] = "embed_tokens",
          [R_NORM_F] = "norm",
          [R_LM_HEAD] = "lm_head",
          [R_LN1] = "layers.*.input_layernorm",
          [R_LN2] = "layers.*.post_attention_layernorm",
          [R_Q] = "layers.*.self_attn.q_proj",
          [R_K] = "layers.*.self_attn.k_proj",
          [R_V] = "layers.*.self_attn.v_proj",
          [R_O] = "layers.*.self_attn.o_proj",
          [R_QN] = "layers.*.self_attn.q_layernorm.norms.*",
          [R_KN] = "layers.*.self_attn.k_layernorm.norms.*",
          [R_UP] = "layers.*.mlp.up_proj",
          [R_GATE] = "layers.*.mlp.gate_proj",
          [R_DOWN] = "layers.*.mlp.down_proj"}},
	{{"gemma2"},
         "model.",
         {[R_EMBED] = "embed_tokens",
          [R_NORM_F] = "norm",
          [R_LM_HEAD] = "lm_head",
          [R_LN1] = "layers.*.input_layernorm",
          [R_POST_ATTN] = "layers.*.post_attention_layernorm",
          [R_LN2] = "layers.*.pre_feedforward_layernorm",
          [R_POST_FF] = "layers.*.post_feedforward_layernorm",
          [R_Q] = "layers.*.self_attn.q_proj",
          [R_K] = "layers.*.self_attn.k_proj",
          [R_V] = "layers.*.self_attn.v_proj",
          [R_O] = "layers.*.self_attn.o_proj",
          [R_UP] = "layers.*.mlp.up_proj",
          [R_GATE] = "layers.*.mlp.gate_proj",
          [R_DOWN] = "layers.*.mlp.down_proj"}},
	{{"olmo2"},
         "model.",
         {[R_EMBED] = "embed_tokens",
          [R_NORM_F] = "norm",
          [R_LM_HEAD] = "lm_head",
          [R_POST_ATTN] = "layers.*.post_attention_layernorm",
          [R_POST_FF] = "layers.*.post_feedforward_layernorm",
          [R_Q] = "layers.*.self_attn.q_proj",
          [R_K] = "layers.*.self_attn.k_proj",
          [R_V] = "layers.*.self_attn.v_proj",
          [R_O] = "layers.*.self_attn.o_proj",
          [R_QN] = "layers.*.self_attn.q_norm",
          [R_KN] = "layers.*.self_attn.k_norm",
          [R_UP] = "layers.*.mlp.up_proj",
          [R_GATE] = "layers.*.mlp.gate_proj",
          [R_DOWN] = "layers.*.mlp.down_proj"}},
};

struct norm {
	const float *w, *b; /* [C]; b NULL for RMSNorm / bias-free LayerNorm */
};

struct lin {
	struct ods_mat w; /* [out, in] (nn.Linear) or [in, out] (Conv1D) */
	const float *b;   /* [out] or NULL */
};

struct layer {
	struct norm n1, n2, pa, pf; /* input, pre-MLP, post-attention, post-MLP */
	struct lin qkv, q, k, v, o, up, gate, down;
	struct norm qn, kn; /* [H hd], [KV hd] */
};

struct ods_decoder {
	struct ods_mat embed;         /* [V, E] */
	struct ods_mat pos;           /* [n_ctx + pos_offset, D] learned positions */
	struct lin proj_in, proj_out; /* [D, E], [E, D] */
	struct norm nf;               /* [D] */
	struct layer *layers;         /* [n_layer] */
	double *inv_freq;             /* [rotary_dim / 2] RoPE inverse frequencies */
};

/* Binding state: the model, its family and the name prefix in use. */
struct binder {
	struct ods_model *m;
	const struct family *fam;
	const char *base;
	struct ods_err *err;
	int rc;
};

/* name = base + pattern with '*' replaced by layer then head, + suffix. */
static void role_name(const struct binder *b, char *out, size_t cap, int role, int layer, int head,
                      const char *suffix)
{
	const char *p = b->fam->name[role];
	size_t o = 0;
	int stars = 0;
	if (role != R_LM_HEAD)
		o += (size_t)snprintf(out, cap, "%s", b->base);
	for (; *p && o + 12 < cap; p++) {
		if (*p == '*')
			o += (size_t)snprintf(out + o, cap - o, "%d", stars++ ? head : layer);
		else
			out[o++] = *p;
	}
	snprintf(out + o, cap - o, "%s", suffix);
}

static int has(const struct binder *b, int role, int layer, const char *suffix)
{
	char name[256];
	role_name(b, name, sizeof name, role, layer, 0, suffix);
	return ods_st_find(&b->m->st, name) != NULL;
}

static const float *vec(struct binder *b, int role, int layer, int head, const char *suffix,
                        int64_t n)
{
	char name[256];
	const float *p = NULL;
	if (b->rc)
		return NULL;
	role_name(b, name, sizeof name, role, layer, head, suffix);
	b->rc = ods_model_weight(b->m, &p, name, 1, &n, b->err);
	return p;
}

/* A heap float array owned by the model. */
static float *owned(struct ods_model *m, size_t n)
{
	float *p = ods_xmalloc(n * sizeof *p);
	m->owned = ods_xrealloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *m->owned);
	m->owned[m->n_owned++] = p;
	return p;
}

static void bind_norm(struct binder *b, struct norm *n, int role, int layer, int64_t C)
{
	const struct ods_config *c = &b->m->cfg;
	n->w = vec(b, role, layer, 0, ".weight", C);
	n->b = c->norm == ODS_NORM_LAYER && c->norm_bias ? vec(b, role, layer, 0, ".bias", C)
	                                                 : NULL;
	if (!b->rc && c->norm_plus1) {
		/* Gemma: x * (1 + w), computed once in float32 as HF does */
		float *w = owned(b->m, (size_t)C);
		for (int64_t i = 0; i < C; i++)
			w[i] = 1.0f + n->w[i];
		n->w = w;
	}
}

/* Per-head norm weights [n_head, hd] gathered from one tensor per head
 * (StableLM). */
static const float *head_norm(struct binder *b, int role, int layer, int n_head, int hd)
{
	float *w;
	if (b->rc)
		return NULL;
	w = owned(b->m, (size_t)n_head * hd);
	for (int h = 0; h < n_head && !b->rc; h++) {
		const float *p = vec(b, role, layer, h, ".weight", hd);
		if (p)
			memcpy(w + (size_t)h * hd, p, (size_t)hd * sizeof *w);
	}
	return w;
}

static void bind_lin(struct binder *b, struct lin *l, int role, int layer, int64_t in, int64_t out,
                     int bias)
{
	char name[256];
	if (b->rc)
		return;
	role_name(b, name, sizeof name, role, layer, 0, ".weight");
	if (b->m->cfg.conv1d)
		b->rc = ods_model_mat(b->m, &l->w, name, in, out, b->err);
	else
		b->rc = ods_model_mat(b->m, &l->w, name, out, in, b->err);
	l->b = bias ? vec(b, role, layer, 0, ".bias", out) : NULL;
}

static void bind_layer(struct binder *b, struct layer *L, int l)
{
	const struct ods_config *c = &b->m->cfg;
	int64_t D = c->d_model, F = c->d_ff, hd = c->head_dim;
	int64_t QD = (int64_t)c->n_head * hd, KD = (int64_t)c->n_kv_head * hd;

	if (c->norm_in || c->norm_res) {
		bind_norm(b, &L->n1, R_LN1, l, D);
		if (c->parallel != 1)
			bind_norm(b, &L->n2, R_LN2, l, D);
	}
	if (c->norm_out) {
		bind_norm(b, &L->pa, R_POST_ATTN, l, D);
		bind_norm(b, &L->pf, R_POST_FF, l, D);
	}
	if (c->qkv == ODS_QKV_SPLIT) {
		bind_lin(b, &L->q, R_Q, l, D, QD, c->qkv_bias);
		bind_lin(b, &L->k, R_K, l, D, KD, c->qkv_bias);
		bind_lin(b, &L->v, R_V, l, D, KD, c->qkv_bias);
	} else {
		bind_lin(b, &L->qkv, R_QKV, l, D, QD + 2 * KD, c->qkv_bias);
	}
	bind_lin(b, &L->o, R_O, l, QD, D, c->o_bias);
	if (c->qk_norm == ODS_QKNORM_FULL) {
		L->qn.w = vec(b, R_QN, l, 0, ".weight", QD);
		L->kn.w = vec(b, R_KN, l, 0, ".weight", KD);
	} else if (c->qk_norm == ODS_QKNORM_HEAD_LN) {
		L->qn.w = head_norm(b, R_QN, l, c->n_head, (int)hd);
		L->kn.w = head_norm(b, R_KN, l, c->n_kv_head, (int)hd);
	}
	bind_lin(b, &L->up, R_UP, l, D, F, c->mlp_bias);
	if (c->gated)
		bind_lin(b, &L->gate, R_GATE, l, D, F, c->mlp_bias);
	bind_lin(b, &L->down, R_DOWN, l, F, D, c->mlp_bias);
}

/* HF's RoPE inverse frequencies, with linear or llama3 scaling. */
static double *rope_inv_freq(const struct ods_config *c)
{
	int half = c->rotary_dim / 2;
	double *f = ods_xmalloc((size_t)half * sizeof *f);
	for (int i = 0; i < half; i++) {
		double inv = 1.0 / pow(c->rope_theta, 2.0 * i / c->rotary_dim);
		if (c->rope_type == ODS_ROPE_LINEAR) {
			inv /= c->rope_factor;
		} else if (c->rope_type == ODS_ROPE_LLAMA3) {
			double wavelen = 2 * M_PI / inv;
			double low_wl = c->rope_orig_ctx / c->rope_low_freq;
			double high_wl = c->rope_orig_ctx / c->rope_high_freq;
			if (wavelen > low_wl) {
				inv /= c->rope_factor;
			} else if (wavelen >= high_wl) {
				double s = (c->rope_orig_ctx / wavelen - c->rope_low_freq) /
				           (c->rope_high_freq - c->rope_low_freq);
				inv = (1 - s) * inv / c->rope_factor + s * inv;
			}
		}
		f[i] = inv;
	}
	return f;
}

int ods_decoder_load(struct ods_model *m, struct ods_err *err)
{
	const struct ods_config *c = &m->cfg;
	struct ods_decoder *w = ods_xcalloc(1, sizeof *w);
	struct binder b = {.m = m, .err = err};
	int64_t D = c->d_model, E = c->d_embed, V = c->n_vocab;
	char name[256];

	for (size_t i = 0; i < sizeof families / sizeof families[0] && !b.fam; i++)
		for (int j = 0; j < 5 && families[i].model_types[j]; j++)
			if (!strcmp(families[i].model_types[j], c->model_type))
				b.fam = &families[i];
	ODS_ASSERT(b.fam); /* ods_config_load refuses other model types */
	m->w = w;
	/* The base-model prefix is optional (checkpoints of the bare model lack it).
	 */
	b.base = b.fam->base;
	if (!has(&b, R_EMBED, 0, ".weight"))
		b.base = "";
	if (!has(&b, R_EMBED, 0, ".weight"))
		b.base = b.fam->base;

	role_name(&b, name, sizeof name, R_EMBED, 0, 0, ".weight");
	b.rc = ods_model_mat(m, &w->embed, name, V, E, err);
	if (!b.rc && c->learned_pos) {
		role_name(&b, name, sizeof name, R_POS, 0, 0, ".weight");
		b.rc = ods_model_mat(m, &w->pos, name, c->n_ctx + c->pos_offset, D, err);
	}
	if (c->proj_io) {
		bind_lin(&b, &w->proj_in, R_PROJ_IN, 0, E, D, 0);
		bind_lin(&b, &w->proj_out, R_PROJ_OUT, 0, D, E, 0);
	}
	w->layers = ods_xcalloc((size_t)c->n_layer, sizeof *w->layers);
	for (int l = 0; l < c->n_layer && !b.rc; l++)
		bind_layer(&b, &w->layers[l], l);
	if (c->final_norm)
		bind_norm(&b, &w->nf, R_NORM_F, 0, D);
	if (c->rotary_dim)
		w->inv_freq = rope_inv_freq(c);
	if (b.rc)
		return b.rc;
	/* As in HF: lm_head is used only when the config unties it. */
	if (c->tie_word_embeddings) {
		m->unemb = w->embed;
		m->tied = 1;
	} else {
		role_name(&b, name, sizeof name, R_LM_HEAD, 0, 0, ".weight");
		if ((b.rc = ods_model_mat(m, &m->unemb, name, V, c->d_out, err)))
			return b.rc;
		m->tied = 0;
	}
	m->weight_dtype = ods_dtype_name(m->unemb.dtype);
	return 0;
}

void ods_decoder_free(struct ods_decoder *w)
{
	if (!w)
		return;
	free(w->layers);
	free(w->inv_freq);
	free(w);
}

const double *ods_decoder_inv_freq(const struct ods_decoder *w)
{
	return w->inv_freq;
}

static void norm(const struct ods_config *c, float *out, const float *in, const struct norm *n,
                 int T, int C)
{
	if (c->norm == ODS_NORM_RMS)
		ods_rmsnorm(out, in, n->w, T, C, (float)c->norm_eps);
	else
		ods_layernorm(out, in, n->w, n->b, T, C, (float)c->norm_eps);
}

/* out[T, out] = in[T, in] W (+ b) */
static void linear(const struct ods_config *c, float *out, const float *in, const struct lin *l,
                   int T, int C, int OC)
{
	ods_matmul_mat(out, in, l->w.data, l->w.dtype, c->conv1d ? ODS_W_IN_OUT : ODS_W_OUT_IN,
	               l->b, T, C, OC);
}

/* Self-attention of layer l on a[T, D] into f->xn2[T, D]. */
static void attention(const struct ods_model *m, struct ods_fwd *f, const struct layer *L, int l,
                      const float *a, int T, const int *seq_off, int n_seq)
{
	const struct ods_config *c = &m->cfg;
	int D = c->d_model, H = c->n_head, KV = c->n_kv_head, hd = c->head_dim;
	int QD = H * hd, KD = KV * hd, ld = QD + 2 * KD;
	const float *q = f->q, *k = f->k, *v = f->v;
	int ldq = QD, ldk = KD;
	struct ods_attn at = {H,
	                      KV,
	                      hd,
	                      (float)c->attn_scale,
	                      (float)c->attn_softcap,
	                      c->sliding[l] ? c->window : 0};

	if (c->qkv == ODS_QKV_SPLIT) {
		linear(c, f->q, a, &L->q, T, D, QD);
		linear(c, f->k, a, &L->k, T, D, KD);
		linear(c, f->v, a, &L->v, T, D, KD);
	} else if (c->qkv == ODS_QKV_FUSED) {
		/* qkv[T, QD + 2 KD] = [q | k | v]: use in place */
		linear(c, f->qkv, a, &L->qkv, T, D, ld);
		q = f->qkv, k = f->qkv + QD, v = f->qkv + QD + KD;
		ldq = ldk = ld;
	} else {
		/* qkv[T, H, 3, hd] (GPT-NeoX) -> q, k, v [T, H hd] */
		linear(c, f->qkv, a, &L->qkv, T, D, ld);
#pragma omp parallel for schedule(static)
		for (int t = 0; t < T; t++)
			for (int h = 0; h < H; h++) {
				const float *src = f->qkv + (size_t)t * ld + (size_t)h * 3 * hd;
				size_t o = (size_t)t * QD + (size_t)h * hd;
				memcpy(f->q + o, src, (size_t)hd * sizeof(float));
				memcpy(f->k + o, src + hd, (size_t)hd * sizeof(float));
				memcpy(f->v + o, src + 2 * hd, (size_t)hd * sizeof(float));
			}
	}
	if (c->qk_norm == ODS_QKNORM_FULL) {
		ods_rmsnorm(f->q, f->q, L->qn.w, T, QD, (float)c->norm_eps);
		ods_rmsnorm(f->k, f->k, L->kn.w, T, KD, (float)c->norm_eps);
	} else if (c->qk_norm == ODS_QKNORM_HEAD_LN) {
		ods_layernorm_heads(f->q, L->qn.w, T, H, hd, (float)c->norm_eps);
		ods_layernorm_heads(f->k, L->kn.w, T, KV, hd, (float)c->norm_eps);
	}
	if (c->rotary_dim) {
		ods_rope((float *)q, ldq, T, H, hd, c->rotary_dim, f->pos, f->cos, f->sin);
		ods_rope((float *)k, ldk, T, KV, hd, c->rotary_dim, f->pos, f->cos, f->sin);
	}
	if (c->scale_attn_by_inverse_layer_idx)
		at.scale /= (float)(l + 1);
	ods_attention(f->att, q, ldq, k, ldk, v, ldk, &at, n_seq, seq_off, f->scratch);
	linear(c, f->xn2, f->att, &L->o, T, QD, D);
}

/* MLP of layer L on a[T, D] into out[T, D]. */
static void mlp(const struct ods_config *c, struct ods_fwd *f, const struct layer *L,
                const float *a, float *out, int T)
{
	int D = c->d_model, F = c->d_ff;
	if (c->gated) {
		linear(c, f->ff, a, &L->gate, T, D, F);
		linear(c, f->ff2, a, &L->up, T, D, F);
		ods_act_mul(f->ff, f->ff2, (size_t)T * F, c->act);
	} else {
		linear(c, f->ff, a, &L->up, T, D, F);
		ods_act_mul(f->ff, NULL, (size_t)T * F, c->act);
	}
	linear(c, out, f->ff, &L->down, T, F, D);
}

static void add2(float *x, const float *y, const float *z, size_t n)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] + y[i] + z[i];
}

void ods_decoder_forward(const struct ods_model *m, struct ods_fwd *f, const int32_t *ids, int T,
                         const int *seq_off, int n_seq, float *hidden)
{
	const struct ods_config *c = &m->cfg;
	const struct ods_decoder *w = m->w;
	int D = c->d_model, E = c->d_embed;
	float *e = c->proj_io ? f->xn : f->x; /* [T, E] token embeddings */
	float es = c->embed_scale ? (float)sqrt((double)D) : 1.0f;

	for (int s = 0; s < n_seq; s++)
		for (int i = seq_off[s]; i < seq_off[s + 1]; i++)
			f->pos[i] = i - seq_off[s];
#pragma omp parallel for schedule(static)
	for (int i = 0; i < T; i++) {
		float *x = e + (size_t)i * E;
		ods_cvt_f32(x, w->embed.data, w->embed.dtype, (size_t)ids[i] * E, (size_t)E);
		if (es != 1.0f)
			for (int j = 0; j < E; j++)
				x[j] *= es;
	}
	if (c->proj_io)
		linear(c, f->x, e, &w->proj_in, T, E, D);
	if (c->learned_pos) {
#pragma omp parallel for schedule(static)
		for (int i = 0; i < T; i++) {
			float *x = f->x + (size_t)i * D, *p = f->xn2 + (size_t)i * D;
			ods_cvt_f32(p, w->pos.data, w->pos.dtype,
			            (size_t)(f->pos[i] + c->pos_offset) * D, (size_t)D);
			for (int j = 0; j < D; j++)
				x[j] += p[j];
		}
	}
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer *L = &w->layers[l];
		const float *a = f->x;
		size_t n = (size_t)T * D;
		if (c->norm_in) {
			norm(c, f->xn, f->x, &L->n1, T, D);
			a = f->xn;
		}
		attention(m, f, L, l, a, T, seq_off, n_seq); /* -> xn2 */
		if (c->norm_out)
			norm(c, f->xn2, f->xn2, &L->pa, T, D);
		if (c->parallel) {
			if (c->parallel == 2) {
				norm(c, f->xn, f->x, &L->n2, T, D);
				a = f->xn;
			}
			mlp(c, f, L, a, f->att, T); /* att is free after the o projection */
			add2(f->x, f->xn2, f->att, n);
			continue;
		}
		ods_add(f->x, f->xn2, n);
		if (c->norm_res)
			norm(c, f->x, f->x, &L->n1, T, D);
		a = f->x;
		if (c->norm_in) {
			norm(c, f->xn, f->x, &L->n2, T, D);
			a = f->xn;
		}
		mlp(c, f, L, a, f->xn2, T);
		if (c->norm_out)
			norm(c, f->xn2, f->xn2, &L->pf, T, D);
		ods_add(f->x, f->xn2, n);
		if (c->norm_res)
			norm(c, f->x, f->x, &L->n2, T, D);
	}
	if (c->proj_io) {
		const float *x = f->x;
		if (c->final_norm) {
			norm(c, f->xn, f->x, &w->nf, T, D);
			x = f->xn;
		}
		linear(c, hidden, x, &w->proj_out, T, D, E);
	} else if (c->final_norm) {
		norm(c, hidden, f->x, &w->nf, T, D);
	} else {
		memcpy(hidden, f->x, (size_t)T * D * sizeof *hidden);
	}
}
