/* cmd_forward.c - `odscope forward`: final hidden states and logits as .npy. */
#include "cmd.h"
#include "odscope/model.h"
#include "odscope/npy.h"
#include "odscope/ops.h"
#include "odscope/tok.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *opt_model, *opt_text, *opt_ids, *opt_out;
static int opt_threads, opt_special;

const struct ods_opt opts_forward[] = {
	{"--model", OPT_STR, &opt_model, "DIR", "Hugging Face model directory"},
	{"--text", OPT_STR, &opt_text, "S", "text input (tokenized with the model's tokenizer)"},
	{"--ids", OPT_STR, &opt_ids, "1,2,3", "token ids input (no tokenizer needed)"},
	{"--special", OPT_FLAG, &opt_special, NULL, "with --text: add the post-processor's BOS/EOS"},
	{"--out", OPT_STR, &opt_out, "P", "output prefix: P.hidden.npy, P.logits.npy"},
	{"--threads", OPT_INT, &opt_threads, "N", "threads (default: all cores)"},
	{0},
};

static int parse_ids(const char *s, struct ods_ids *ids, struct ods_err *err)
{
	while (*s) {
		char *end;
		long v;
		errno = 0;
		v = strtol(s, &end, 10);
		if (end == s || errno || v < 0 || v > INT32_MAX || (*end && *end != ','))
			return ods_err_set(err, ODS_EINVAL, "--ids: bad token id at '%s'", s);
		ods_ids_push(ids, (int32_t)v);
		s = *end ? end + 1 : end;
	}
	return 0;
}

int cmd_forward(void)
{
	struct ods_err err = {0};
	struct ods_model *m = NULL;
	struct ods_ids ids = {0};
	struct ods_fwd *fwd = NULL;
	float *hidden = NULL, *logits = NULL;
	int *seq_off = NULL, n_seq, T, rc;
	char path[4096];

	if (!opt_model || !opt_out)
		return ods_cmd_usage_error("forward", "--model and --out are required");
	if (!!opt_text == !!opt_ids)
		return ods_cmd_usage_error("forward", "give exactly one of --text and --ids");
	if (opt_ids && parse_ids(opt_ids, &ids, &err))
		return ods_cmd_usage_error("forward", "%s", err.msg);
	ods_ops_init(opt_threads);
	if ((rc = ods_model_open(&m, opt_model, &err)))
		goto out;
	if (opt_text) {
		struct ods_tok *tok;
		if ((rc = ods_tok_open(&tok, opt_model, &err)))
			goto out;
		rc = ods_tok_encode(tok, opt_text, strlen(opt_text), opt_special, &ids, &err);
		ods_tok_free(tok);
		if (rc)
			goto out;
	}
	if (ids.n == 0) {
		rc = ods_err_set(&err, ODS_EINVAL, "forward: the input has no tokens");
		goto out;
	}
	if (ids.n > INT32_MAX / 2) {
		rc = ods_err_set(&err, ODS_EINVAL, "forward: input too long");
		goto out;
	}
	/* Inputs longer than n_ctx run as independent windows of n_ctx tokens. */
	T = (int)ids.n;
	n_seq = (T + m->cfg.n_ctx - 1) / m->cfg.n_ctx;
	seq_off = ods_xmalloc((size_t)(n_seq + 1) * sizeof *seq_off);
	for (int s = 0; s <= n_seq; s++)
		seq_off[s] = s * m->cfg.n_ctx < T ? s * m->cfg.n_ctx : T;
	fwd = ods_fwd_open(m, T, T < m->cfg.n_ctx ? T : m->cfg.n_ctx);
	hidden = ods_xmalloc((size_t)T * m->cfg.d_out * sizeof *hidden);
	logits = ods_xmalloc((size_t)T * m->cfg.n_vocab * sizeof *logits);
	if ((rc = ods_model_forward(m, fwd, ids.v, T, seq_off, n_seq, hidden, &err)))
		goto out;
	ods_model_logits(m, hidden, T, logits);
	ods_model_softcap(m, logits, T); /* the model's own output (Gemma-2 final soft-cap) */
	snprintf(path, sizeof path, "%s.hidden.npy", opt_out);
	if ((rc = ods_npy_write_f32(path, hidden, T, m->cfg.d_out, &err)))
		goto out;
	snprintf(path, sizeof path, "%s.logits.npy", opt_out);
	rc = ods_npy_write_f32(path, logits, T, m->cfg.n_vocab, &err);
out:
	ods_fwd_free(fwd);
	ods_model_free(m);
	ods_ids_release(&ids);
	free(seq_off);
	free(hidden);
	free(logits);
	return rc ? ods_cmd_fail(&err) : 0;
}
