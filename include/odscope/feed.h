/* feed.h - a corpus through a model: tokenize each document, cut it into
 * windows, pack windows of many documents into batches, run the forward pass,
 * and hand the final hidden states of the selected inputs to a consumer.
 *
 * Inputs (DESIGN §1, §5):
 *  - positions "all": every position of every window except the first of
 *    each document; documents longer than ctx are cut into windows starting
 *    every stride tokens, and a position is an input once, in the first window
 *    that reaches it. gold = the next token of the document (-1 for the last).
 *  - positions "word:N": per document, the last token of its N-th
 *    whitespace-separated word, run on the document's prefix up to that word;
 *    gold = the first token of word N+1 (documents with fewer words skipped).
 *
 * Ownership: the consumer's rows are borrowed for the call only.
 */
#ifndef ODS_FEED_H
#define ODS_FEED_H

#include <stdint.h>

#include "odscope/corpus.h"
#include "odscope/err.h"
#include "odscope/model.h"
#include "odscope/progress.h"
#include "odscope/tok.h"

struct ods_feed_opts {
	int ctx;            /* window length (<= n_ctx) */
	int stride;         /* <= ctx */
	int batch;          /* tokens per forward batch (>= ctx) */
	int64_t max_tokens; /* 0: no limit */
	int word_n;         /* 0: positions "all"; N: "word:N" */
	int special;        /* prepend the post-processor's leading special tokens (BOS) to each document */
};

/* The default window: the model's maximum, at most ODS_FEED_MAX_CTX tokens
 * (Llama-3.1 declares 131072 positions; windows that long are rarely wanted
 * and their scratch would not fit in memory). */
#define ODS_FEED_MAX_CTX 2048
int ods_feed_default_ctx(const struct ods_model *m);

/* Parse "all" or "word:N" into opts->word_n. */
int ods_feed_parse_positions(const char *s, int *word_n);

/* rows[n, D] final hidden states of n inputs; gold[n] next-token ids (-1: none). */
typedef int (*ods_feed_fn)(void *ctx, const float *rows, const int32_t *gold, int n,
			   struct ods_err *err);

struct ods_feed_count {
	int64_t n_docs, n_tokens, n_inputs;
};

/* Run the whole corpus. counts[V] (may be NULL) receives the token counts of
 * every document read. prog (may be NULL) is updated. */
int ods_feed_run(const struct ods_model *m, struct ods_tok *tok, struct ods_corpus *corpus,
		 const struct ods_feed_opts *opts, ods_feed_fn fn, void *ctx, int64_t *counts,
		 struct ods_feed_count *cnt, struct ods_progress *prog, struct ods_err *err);

#endif
