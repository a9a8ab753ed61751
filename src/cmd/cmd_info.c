/* cmd_info.c - `odscope info`: what a model directory holds. */
#include "cmd.h"
#include "odscope/model.h"
#include "odscope/tok.h"

#include <inttypes.h>

static const char *opt_model;

const struct ods_opt opts_info[] = {
	{"--model", OPT_STR, &opt_model, "DIR", "Hugging Face model directory"},
	{0},
};

int cmd_info(void)
{
	struct ods_err err = {0};
	struct ods_model *m;
	struct ods_tok *tok = NULL;
	int64_t n_param = 0, n_dt[ODS_DT_COUNT] = {0};
	const struct ods_config *c;

	if (!opt_model)
		return ods_cmd_usage_error("info", "--model is required");
	if (ods_model_open(&m, opt_model, &err))
		return ods_cmd_fail(&err);
	c = &m->cfg;
	for (int i = 0; i < m->st.n_tensors; i++) {
		n_param += m->st.tensors[i].n_elem;
		n_dt[m->st.tensors[i].dtype]++;
	}
	printf("model        %s\n", opt_model);
	printf("model_type   %s\n", c->model_type);
	printf("layers       %d\n", c->n_layer);
	printf("d_model      %d", c->d_model);
	if (c->d_out != c->d_model)
		printf(" (final hidden state %d, project_out)", c->d_out);
	printf("\n");
	printf("heads        %d (head_dim %d", c->n_head, c->head_dim);
	if (c->n_kv_head != c->n_head)
		printf(", %d key/value heads", c->n_kv_head);
	printf(")\n");
	printf("block        %s%s, %s%s MLP\n", c->norm == ODS_NORM_RMS ? "RMSNorm" : "LayerNorm",
	       c->parallel ? ", parallel residual"
	       : c->norm_res ? ", post-norm"
	       : c->norm_out ? (c->norm_in ? ", sandwich norms" : ", norms after each sublayer")
			     : ", pre-norm",
	       c->gated ? "gated " : "", c->act == ODS_ACT_SILU ? "SiLU" : c->act == ODS_ACT_RELU ? "ReLU" : "GELU");
	if (c->rotary_dim)
		printf("positions    RoPE on %d of %d dims per head, theta %g%s\n", c->rotary_dim,
		       c->head_dim, c->rope_theta,
		       c->rope_type == ODS_ROPE_LLAMA3   ? ", llama3 scaling"
		       : c->rope_type == ODS_ROPE_LINEAR ? ", linear scaling"
							 : "");
	else
		printf("positions    learned\n");
	if (c->window)
		printf("attention    sliding window %d on some layers\n", c->window);
	if (c->final_softcap > 0)
		printf("logits       final soft-cap %g (applied by forward and ablate --faithful)\n",
		       c->final_softcap);
	printf("d_ff         %d\n", c->d_ff);
	printf("vocab        %d\n", c->n_vocab);
	printf("n_ctx        %d\n", c->n_ctx);
	printf("parameters   %" PRId64 " in %d tensors, %d file%s\n", n_param, m->st.n_tensors,
	       m->st.n_files, m->st.n_files == 1 ? "" : "s");
	printf("dtype       ");
	for (int d = 0; d < ODS_DT_COUNT; d++)
		if (n_dt[d])
			printf(" %s x %" PRId64, ods_dtype_name(d), n_dt[d]);
	printf(" (computed in F32)\n");
	printf("unembedding  %s, %s\n", m->tied ? "tied to the input embedding" : "untied (lm_head)",
	       m->weight_dtype);
	if (ods_tok_open(&tok, opt_model, &err) == 0) {
		printf("tokenizer    %s, %d ids\n", ods_tok_kind(tok), ods_tok_n_vocab(tok));
		ods_tok_free(tok);
	} else {
		printf("tokenizer    none (%s)\n", err.msg);
	}
	printf("hash         %016" PRIx64 "\n", m->hash);
	ods_model_free(m);
	return 0;
}
