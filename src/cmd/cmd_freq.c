/* cmd_freq.c - `odscope freq`: token counts of a corpus at tokenizer speed
 * (no forward pass), or imported from a token_id<TAB>count file; stored as a
 * counts table that `scan --freq ID` links runs to. */
#include "cmd.h"
#include "odscope/corpus.h"
#include "odscope/link.h"
#include "odscope/model.h"
#include "odscope/progress.h"
#include "odscope/store.h"
#include "odscope/tok.h"

#include <stdlib.h>

static const char *opt_model, *opt_corpus, *opt_counts, *opt_field, *opt_db = ODS_DEFAULT_DB;

const struct ods_opt opts_freq[] = {
	{"--model", OPT_STR, &opt_model, "DIR", "model directory (its tokenizer and vocabulary size)"},
	{"--corpus", OPT_STR, &opt_corpus, "F", "corpus to count (as for scan)"},
	{"--field", OPT_STR, &opt_field, "NAME", "JSONL field holding the text (default: text)"},
	{"--counts", OPT_STR, &opt_counts, "FILE", "import token_id<TAB>count lines"},
	{"--db", OPT_STR, &opt_db, "DB", "database (default: " ODS_DEFAULT_DB ")"},
	{0},
};

static int count_corpus(struct ods_tok *tok, int V, int64_t *counts, uint64_t *hash,
			struct ods_err *err)
{
	struct ods_corpus *c;
	struct ods_ids ids = {0};
	struct ods_progress prog;
	const char *text;
	size_t len;
	int64_t n = 0;
	int rc;

	if ((rc = ods_corpus_open(&c, opt_corpus, opt_field, err)))
		return rc;
	*hash = ods_corpus_hash(c);
	ods_progress_init(&prog, "freq");
	while ((rc = ods_corpus_next(c, &text, &len, err)) == 1) {
		ids.n = 0;
		if ((rc = ods_tok_encode(tok, text, len, 0, &ids, err))) {
			ods_err_prefix(err, "%s", ods_corpus_where(c));
			break;
		}
		for (size_t i = 0; i < ids.n; i++) {
			if (ids.v[i] >= V) {
				rc = ods_err_set(err, ODS_EFORMAT, "%s: token id %d exceeds the model's vocabulary %d",
						 ods_corpus_where(c), ids.v[i], V);
				goto out;
			}
			counts[ids.v[i]]++;
		}
		n += (int64_t)ids.n;
		ods_progress_update(&prog, n, ods_corpus_bytes_done(c), ods_corpus_bytes_total(c));
	}
	if (!rc && n == 0)
		rc = ods_err_set(err, ODS_EINVAL, "%s: empty corpus: no tokens", opt_corpus);
	if (!rc)
		ods_progress_end(&prog, n);
out:
	ods_ids_release(&ids);
	ods_corpus_free(c);
	return rc;
}

int cmd_freq(void)
{
	struct ods_err err = {0};
	struct ods_model *m = NULL;
	struct ods_tok *tok = NULL;
	struct ods_db *db = NULL;
	int64_t *counts = NULL, id = 0, total = 0, distinct = 0;
	uint64_t hash = 0;
	char mh[17];
	int rc, V;

	if (!opt_model)
		return ods_cmd_usage_error("freq", "--model is required");
	if (!!opt_corpus == !!opt_counts)
		return ods_cmd_usage_error("freq", "give exactly one of --corpus and --counts");
	if ((rc = ods_model_open(&m, opt_model, &err)))
		goto out;
	V = m->cfg.n_vocab;
	counts = ods_xcalloc((size_t)V, sizeof *counts);
	if (opt_corpus) {
		if ((rc = ods_tok_open(&tok, opt_model, &err)) ||
		    (rc = count_corpus(tok, V, counts, &hash, &err)))
			goto out;
	} else if ((rc = ods_counts_read(opt_counts, V, counts, &hash, &err))) {
		goto out;
	}
	ods_hex64(mh, m->hash);
	if ((rc = ods_db_open(&db, opt_db, 0, &err)) || (rc = ods_db_begin(db, &err)))
		goto out;
	if ((rc = ods_db_store_model(db, m, tok, opt_model, &err)) ||
	    (rc = ods_db_store_counts(db, mh, opt_corpus ? "corpus" : "import",
				      opt_corpus ? opt_corpus : opt_counts, hash, counts, V, &id, &err)) ||
	    (rc = ods_db_commit(db, &err))) {
		ods_db_rollback(db);
		goto out;
	}
	for (int t = 0; t < V; t++) {
		total += counts[t];
		distinct += counts[t] > 0;
	}
	printf("counts %lld: %lld tokens, %lld distinct ids (use: odscope scan --freq %lld)\n",
	       (long long)id, (long long)total, (long long)distinct, (long long)id);
out:
	ods_db_close(db);
	ods_tok_free(tok);
	ods_model_free(m);
	free(counts);
	return rc ? ods_cmd_fail(&err) : 0;
}
