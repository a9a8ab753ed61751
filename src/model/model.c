/* model.c - open a model directory and run its forward pass (see include/odscope/model.h). */
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/util.h"

#include <stdlib.h>
#include <string.h>

extern const struct ods_arch ods_arch_gpt2;

static const struct ods_arch *const archs[] = {
	&ods_arch_gpt2,
};

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

int ods_model_open(struct ods_model **out, const char *dir, struct ods_err *err)
{
	struct ods_model *m = ods_xcalloc(1, sizeof *m);
	int rc;
	size_t i;

	*out = NULL;
	m->dir = ods_xstrdup(dir);
	if (!ods_path_is_dir(dir)) {
		rc = ods_err_set(err, ODS_ENOTFOUND, "%s: not a model directory", dir);
		goto fail;
	}
	if ((rc = ods_config_load(&m->cfg, dir, err)))
		goto fail;
	for (i = 0; i < sizeof archs / sizeof archs[0]; i++)
		if (!strcmp(archs[i]->model_type, m->cfg.model_type))
			m->arch = archs[i];
	ODS_ASSERT(m->arch); /* ods_config_load refuses unknown families */
	if ((rc = ods_st_open_dir(&m->st, dir, err)))
		goto fail;
	m->hash = ods_fnv1a(m->cfg.hash, &m->st.hash, sizeof m->st.hash);
	if ((rc = m->arch->load(m, err)))
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
	if (m->arch && m->w)
		m->arch->release(m);
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	ods_st_release(&m->st);
	free(m->dir);
	free(m);
}

struct ods_fwd *ods_fwd_open(const struct ods_model *m, int max_tok, int max_len)
{
	struct ods_fwd *f = ods_xcalloc(1, sizeof *f);
	size_t T = (size_t)max_tok, D = (size_t)m->cfg.d_model;
	size_t qkv = (size_t)m->cfg.n_head * m->cfg.head_dim * 3;

	f->max_tok = max_tok;
	f->max_len = max_len;
	f->x = ods_xmalloc(T * D * sizeof(float));
	f->xn = ods_xmalloc(T * D * sizeof(float));
	f->qkv = ods_xmalloc(T * qkv * sizeof(float));
	f->att = ods_xmalloc(T * (size_t)m->cfg.n_head * m->cfg.head_dim * sizeof(float));
	f->ff = ods_xmalloc(T * (size_t)m->cfg.d_ff * sizeof(float));
	f->scratch = ods_xmalloc(ods_attention_scratch_size(max_len) * (size_t)ods_ops_threads() *
				 sizeof(float));
	return f;
}

void ods_fwd_free(struct ods_fwd *f)
{
	if (!f)
		return;
	free(f->x);
	free(f->xn);
	free(f->qkv);
	free(f->att);
	free(f->ff);
	free(f->scratch);
	free(f);
}

int ods_model_forward(const struct ods_model *m, struct ods_fwd *fwd, const int32_t *ids,
		      int n_tok, const int *seq_off, int n_seq, float *hidden, struct ods_err *err)
{
	if (n_tok > fwd->max_tok)
		return ods_err_set(err, ODS_EINVAL, "batch of %d tokens exceeds the %d prepared", n_tok,
				   fwd->max_tok);
	if (seq_off[0] != 0 || seq_off[n_seq] != n_tok)
		return ods_err_set(err, ODS_EINVAL, "sequence offsets do not cover the batch");
	for (int s = 0; s < n_seq; s++) {
		int L = seq_off[s + 1] - seq_off[s];
		if (L < 0 || L > m->cfg.n_ctx || L > fwd->max_len)
			return ods_err_set(err, ODS_EINVAL, "sequence of %d tokens exceeds the context of %d",
					   L, m->cfg.n_ctx < fwd->max_len ? m->cfg.n_ctx : fwd->max_len);
	}
	for (int i = 0; i < n_tok; i++)
		if (ids[i] < 0 || ids[i] >= m->cfg.n_vocab)
			return ods_err_set(err, ODS_EINVAL, "token id %d is outside the vocabulary [0, %d)",
					   ids[i], m->cfg.n_vocab);
	m->arch->forward(m, fwd, ids, n_tok, seq_off, n_seq, hidden);
	return 0;
}

void ods_model_logits(const struct ods_model *m, const float *hidden, int n, float *logits)
{
	ods_matmul(logits, hidden, m->unemb, ODS_W_OUT_IN, NULL, n, m->cfg.d_model, m->cfg.n_vocab);
}

void ods_model_unemb_rows(const struct ods_model *m, int t0, int t1, float *out)
{
	ODS_ASSERT(t0 >= 0 && t0 <= t1 && t1 <= m->cfg.n_vocab);
	memcpy(out, m->unemb + (size_t)t0 * m->cfg.d_model,
	       (size_t)(t1 - t0) * m->cfg.d_model * sizeof *out);
}
