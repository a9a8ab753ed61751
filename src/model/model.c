/* model.c - open a model directory and run its forward pass (see
 * include/odscope/model.h). */
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/util.h"

#include <stdlib.h>
#include <string.h>

int ods_model_weight(struct ods_model *m, const float **out, const char *name, int n_dim,
                     const int64_t *shape, struct ods_err *err)
{
	float *p;
	int owned, rc = ods_st_get_f32(&m->st, name, n_dim, shape, &p, &owned, err);
	if (rc)
		return rc;
	if (owned) {
		m->owned = ods_xrealloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *m->owned);
		m->owned[m->n_owned++] = p;
	}
	*out = p;
	return 0;
}

int ods_model_mat(struct ods_model *m, struct ods_mat *out, const char *name, int64_t rows,
                  int64_t cols, struct ods_err *err)
{
	const int64_t shape[2] = {rows, cols};
	const struct ods_tensor *t = ods_st_find(&m->st, name);
	memset(out, 0, sizeof *out);
	out->rows = rows;
	out->cols = cols;
	if (t && t->n_dim == 2 && t->shape[0] == rows && t->shape[1] == cols &&
	    (t->dtype == ODS_DT_F16 || t->dtype == ODS_DT_BF16)) {
		out->data = t->data; /* stays 16-bit; kernels convert per tile */
		out->dtype = t->dtype;
		return 0;
	}
	/* F32 (borrowed when aligned), F64 (converted) and every error case */
	out->dtype = ODS_DT_F32;
	return ods_model_weight(m, (const float **)&out->data, name, 2, shape, err);
}

int ods_model_open(struct ods_model **out, const char *dir, struct ods_err *err)
{
	struct ods_model *m = ods_xcalloc(1, sizeof *m);
	int rc;

	*out = NULL;
	m->dir = ods_xstrdup(dir);
	if (!ods_path_is_dir(dir)) {
		rc = ods_err_set(err, ODS_ENOTFOUND, "%s: not a model directory", dir);
		goto fail;
	}
	if ((rc = ods_config_load(&m->cfg, dir, err)))
		goto fail;
	if ((rc = ods_st_open_dir(&m->st, dir, err)))
		goto fail;
	m->hash = ods_fnv1a(m->cfg.hash, &m->st.hash, sizeof m->st.hash);
	if ((rc = ods_decoder_load(m, err)))
		goto fail;
	*out = m;
	return 0;
fail:
	ods_model_free(m);
	return rc;
}

void ods_model_free(struct ods_model *m)
{
	if (!m)
		return;
	ods_decoder_free(m->w);
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	ods_st_release(&m->st);
	free(m->dir);
	free(m);
}

static size_t max3(size_t a, size_t b, size_t c)
{
	return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

struct ods_fwd *ods_fwd_open(const struct ods_model *m, int max_tok, int max_len)
{
	const struct ods_config *c = &m->cfg;
	struct ods_fwd *f = ods_xcalloc(1, sizeof *f);
	size_t T = (size_t)max_tok, D = (size_t)c->d_model, sf = sizeof(float);
	size_t QD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_kv_head * c->head_dim;
	size_t F = (size_t)c->d_ff, half = (size_t)c->rotary_dim / 2;

	f->max_tok = max_tok;
	f->max_len = max_len;
	f->x = ods_xmalloc(T * D * sf);
	f->xn = ods_xmalloc(T * max3(D, (size_t)c->d_embed, (size_t)c->d_out) * sf);
	f->xn2 = ods_xmalloc(T * D * sf);
	f->qkv = ods_xmalloc(T * (QD + 2 * KD) * sf);
	f->q = ods_xmalloc(T * QD * sf);
	f->k = ods_xmalloc(T * KD * sf);
	f->v = ods_xmalloc(T * KD * sf);
	f->att = ods_xmalloc(T * (QD > D ? QD : D) * sf);
	f->ff = ods_xmalloc(T * F * sf);
	f->ff2 = c->gated ? ods_xmalloc(T * F * sf) : NULL;
	f->pos = ods_xmalloc(T * sizeof *f->pos);
	if (half) {
		f->cos = ods_xmalloc((size_t)max_len * half * sf);
		f->sin = ods_xmalloc((size_t)max_len * half * sf);
		ods_rope_tables(f->cos, f->sin, max_len, c->rotary_dim, ods_decoder_inv_freq(m->w));
	}
	f->scratch =
		ods_xmalloc(ods_attention_scratch_size(max_len) * (size_t)ods_ops_threads() * sf);
	return f;
}

void ods_fwd_free(struct ods_fwd *f)
{
	if (!f)
		return;
	free(f->x);
	free(f->xn);
	free(f->xn2);
	free(f->qkv);
	free(f->q);
	free(f->k);
	free(f->v);
	free(f->att);
	free(f->ff);
	free(f->ff2);
	free(f->pos);
	free(f->cos);
	free(f->sin);
	free(f->scratch);
	free(f);
}

int ods_model_forward(const struct ods_model *m, struct ods_fwd *fwd, const int32_t *ids, int n_tok,
                      const int *seq_off, int n_seq, float *hidden, struct ods_err *err)
{
	if (n_tok > fwd->max_tok)
		return ods_err_set(err, ODS_EINVAL, "batch of %d tokens exceeds the %d prepared",
		                   n_tok, fwd->max_tok);
	if (seq_off[0] != 0 || seq_off[n_seq] != n_tok)
		return ods_err_set(err, ODS_EINVAL, "sequence offsets do not cover the batch");
	for (int s = 0; s < n_seq; s++) {
		int L = seq_off[s + 1] - seq_off[s];
		if (L < 0 || L > m->cfg.n_ctx || L > fwd->max_len)
			return ods_err_set(
				err, ODS_EINVAL, "sequence of %d tokens exceeds the context of %d",
				L, m->cfg.n_ctx < fwd->max_len ? m->cfg.n_ctx : fwd->max_len);
	}
	for (int i = 0; i < n_tok; i++)
		if (ids[i] < 0 || ids[i] >= m->cfg.n_vocab)
			return ods_err_set(err, ODS_EINVAL,
			                   "token id %d is outside the vocabulary [0, %d)", ids[i],
			                   m->cfg.n_vocab);
	ods_decoder_forward(m, fwd, ids, n_tok, seq_off, n_seq, hidden);
	return 0;
}

void ods_model_logits(const struct ods_model *m, const float *hidden, int n, float *logits)
{
	ods_matmul_mat(logits, hidden, m->unemb.data, m->unemb.dtype, ODS_W_OUT_IN, NULL, n,
	               m->cfg.d_out, m->cfg.n_vocab);
}

void ods_model_softcap(const struct ods_model *m, float *logits, int n)
{
	if (m->cfg.final_softcap > 0)
		ods_softcap(logits, (size_t)n * m->cfg.n_vocab, (float)m->cfg.final_softcap);
}

void ods_model_unemb_rows(const struct ods_model *m, int t0, int t1, float *out)
{
	ODS_ASSERT(t0 >= 0 && t0 <= t1 && t1 <= m->cfg.n_vocab);
	ods_cvt_f32(out, m->unemb.data, m->unemb.dtype, (size_t)t0 * m->cfg.d_out,
	            (size_t)(t1 - t0) * m->cfg.d_out);
}
