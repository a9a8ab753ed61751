/* feed.c - corpus -> windows -> batches -> hidden states (see include/odscope/feed.h). */
#include "odscope/feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct feed {
	const struct ods_model *m;
	const struct ods_feed_opts *o;
	struct ods_fwd *fwd;
	ods_feed_fn fn;
	void *ctx;
	int D, B;
	int32_t *ids;   /* [B] batch tokens */
	int32_t *gold;  /* [B] gold of each batch token, or -2: not an input */
	int *seq_off;   /* [B + 1] */
	int n_tok, n_seq;
	float *hidden;  /* [B, D] */
	float *rows;    /* [B, D] inputs' rows */
	int32_t *rgold; /* [B] */
	int64_t n_inputs;
};

int ods_feed_parse_positions(const char *s, int *word_n)
{
	char *end;
	long n;
	if (!strcmp(s, "all")) {
		*word_n = 0;
		return 0;
	}
	if (strncmp(s, "word:", 5))
		return ODS_EINVAL;
	n = strtol(s + 5, &end, 10);
	if (*end || n < 1 || n > 1000000)
		return ODS_EINVAL;
	*word_n = (int)n;
	return 0;
}

static int flush(struct feed *f, struct ods_err *err)
{
	int n = 0, rc;
	if (!f->n_tok)
		return 0;
	f->seq_off[f->n_seq] = f->n_tok;
	rc = ods_model_forward(f->m, f->fwd, f->ids, f->n_tok, f->seq_off, f->n_seq, f->hidden, err);
	if (rc)
		return rc;
	for (int i = 0; i < f->n_tok; i++) {
		if (f->gold[i] == -2)
			continue;
		memcpy(f->rows + (size_t)n * f->D, f->hidden + (size_t)i * f->D, (size_t)f->D * sizeof(float));
		f->rgold[n++] = f->gold[i];
	}
	f->n_tok = f->n_seq = 0;
	f->n_inputs += n;
	return n ? f->fn(f->ctx, f->rows, f->rgold, n, err) : 0;
}

/* Queue a sequence; input positions are [from, n) of the whole document ids. */
static int add_windows(struct feed *f, const int32_t *ids, int n, int from, int only_last,
		       int32_t last_gold, struct ods_err *err)
{
	int collected_to = from;
	for (int start = 0;; start += f->o->stride) {
		int end = start + f->o->ctx < n ? start + f->o->ctx : n, rc;
		if (only_last && end < n)
			continue; /* word:N: only the window holding the last token runs */
		if (f->n_tok + (end - start) > f->B && (rc = flush(f, err)))
			return rc;
		f->seq_off[f->n_seq++] = f->n_tok;
		for (int i = start; i < end; i++) {
			int input = only_last ? i == n - 1 : i >= collected_to;
			f->gold[f->n_tok] = !input ? -2 : only_last ? last_gold : i + 1 < n ? ids[i + 1] : -1;
			f->ids[f->n_tok++] = ids[i];
		}
		collected_to = end;
		if (end >= n)
			return 0;
	}
}

/* word:N of one document: token ids of its prefix through word N, and the gold. */
static int word_input(struct ods_tok *tok, const char *text, size_t len, int N, struct ods_ids *pre,
		      int32_t *gold, struct ods_err *err)
{
	size_t i = 0, end_n = 0, end_n1 = 0;
	int w = 0, rc;
	struct ods_ids full = {0};

	while (i < len && w < N + 1) {
		while (i < len && (text[i] == ' ' || text[i] == '\t'))
			i++;
		if (i >= len)
			break;
		while (i < len && text[i] != ' ' && text[i] != '\t')
			i++;
		if (++w == N)
			end_n = i;
		else if (w == N + 1)
			end_n1 = i;
	}
	pre->n = 0;
	if (w < N + 1)
		return 0; /* too few words: no input */
	if ((rc = ods_tok_encode(tok, text, end_n, 0, pre, err)) ||
	    (rc = ods_tok_encode(tok, text, end_n1, 0, &full, err)))
		goto out;
	/* the prefix must tokenize as a prefix of the longer text */
	if (full.n <= pre->n || memcmp(full.v, pre->v, pre->n * sizeof *pre->v)) {
		pre->n = 0;
		goto out;
	}
	*gold = full.v[pre->n];
out:
	ods_ids_release(&full);
	return rc;
}

/* The ids the post-processor puts before a text (BOS), found by encoding a
 * probe text with and without special tokens. */
static int leading_special(struct ods_tok *tok, struct ods_ids *lead, struct ods_err *err)
{
	struct ods_ids plain = {0}, sp = {0};
	int rc;
	lead->n = 0;
	if (!(rc = ods_tok_encode(tok, "a", 1, 0, &plain, err)) &&
	    !(rc = ods_tok_encode(tok, "a", 1, 1, &sp, err))) {
		for (size_t k = 0; k + plain.n <= sp.n; k++)
			if (!memcmp(sp.v + k, plain.v, plain.n * sizeof *plain.v)) {
				for (size_t i = 0; i < k; i++)
					ods_ids_push(lead, sp.v[i]);
				break;
			}
	}
	ods_ids_release(&plain);
	ods_ids_release(&sp);
	return rc;
}

/* seq = lead + ids */
static void with_lead(struct ods_ids *seq, const struct ods_ids *lead,
				const struct ods_ids *ids)
{
	seq->n = 0;
	for (size_t i = 0; i < lead->n; i++)
		ods_ids_push(seq, lead->v[i]);
	for (size_t i = 0; i < ids->n; i++)
		ods_ids_push(seq, ids->v[i]);
}

int ods_feed_default_ctx(const struct ods_model *m)
{
	return m->cfg.n_ctx < ODS_FEED_MAX_CTX ? m->cfg.n_ctx : ODS_FEED_MAX_CTX;
}

int ods_feed_run(const struct ods_model *m, struct ods_tok *tok, struct ods_corpus *corpus,
		 const struct ods_feed_opts *o, ods_feed_fn fn, void *ctx, int64_t *counts,
		 struct ods_feed_count *cnt, struct ods_progress *prog, struct ods_err *err)
{
	struct feed f = {0};
	struct ods_ids ids = {0}, pre = {0}, lead = {0}, seq = {0};
	const char *text;
	size_t len;
	int rc;

	memset(cnt, 0, sizeof *cnt);
	f.m = m;
	f.o = o;
	f.fn = fn;
	f.ctx = ctx;
	f.D = m->cfg.d_out;
	f.B = o->batch > o->ctx ? o->batch : o->ctx;
	f.fwd = ods_fwd_open(m, f.B, o->ctx);
	f.ids = ods_xmalloc((size_t)f.B * sizeof *f.ids);
	f.gold = ods_xmalloc((size_t)f.B * sizeof *f.gold);
	f.rgold = ods_xmalloc((size_t)f.B * sizeof *f.rgold);
	f.seq_off = ods_xmalloc((size_t)(f.B + 1) * sizeof *f.seq_off);
	f.hidden = ods_xmalloc((size_t)f.B * f.D * sizeof *f.hidden);
	f.rows = ods_xmalloc((size_t)f.B * f.D * sizeof *f.rows);

	if (o->special && (rc = leading_special(tok, &lead, err)))
		goto out;
	while ((rc = ods_corpus_next(corpus, &text, &len, err)) == 1) {
		ids.n = 0;
		if ((rc = ods_tok_encode(tok, text, len, 0, &ids, err))) {
			ods_err_prefix(err, "%s", ods_corpus_where(corpus));
			break;
		}
		if (o->max_tokens && cnt->n_tokens + (int64_t)ids.n > o->max_tokens)
			ids.n = (size_t)(o->max_tokens - cnt->n_tokens);
		if (!ids.n)
			continue;
		if (ids.n > INT32_MAX / 2) {
			rc = ods_err_set(err, ODS_EINVAL, "%s: document too long", ods_corpus_where(corpus));
			break;
		}
		for (size_t i = 0; i < ids.n; i++) {
			if (ids.v[i] < 0 || ids.v[i] >= m->cfg.n_vocab) {
				rc = ods_err_set(err, ODS_EFORMAT, "%s: token id %d exceeds the model's vocabulary %d",
						 ods_corpus_where(corpus), ids.v[i], m->cfg.n_vocab);
				goto out;
			}
			if (counts)
				counts[ids.v[i]]++;
		}
		if (o->word_n) {
			int32_t gold = -1;
			if ((rc = word_input(tok, text, len, o->word_n, &pre, &gold, err))) {
				ods_err_prefix(err, "%s", ods_corpus_where(corpus));
				break;
			}
			if (pre.n && (with_lead(&seq, &lead, &pre),
				      rc = add_windows(&f, seq.v, (int)seq.n, 0, 1, gold, err)))
				break;
		} else if ((with_lead(&seq, &lead, &ids),
			    rc = add_windows(&f, seq.v, (int)seq.n, 1, 0, -1, err))) {
			break;
		}
		cnt->n_docs++;
		cnt->n_tokens += (int64_t)ids.n;
		if (prog)
			ods_progress_update(prog, cnt->n_tokens, ods_corpus_bytes_done(corpus),
					    ods_corpus_bytes_total(corpus));
		if (o->max_tokens && cnt->n_tokens >= o->max_tokens)
			break;
	}
	if (rc >= 0)
		rc = flush(&f, err);
out:
	cnt->n_inputs = f.n_inputs;
	ods_ids_release(&ids);
	ods_ids_release(&pre);
	ods_ids_release(&lead);
	ods_ids_release(&seq);
	ods_fwd_free(f.fwd);
	free(f.ids);
	free(f.gold);
	free(f.rgold);
	free(f.seq_off);
	free(f.hidden);
	free(f.rows);
	return rc;
}
