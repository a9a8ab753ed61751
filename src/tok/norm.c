/* norm.c - the normalizer of a tokenizer: its steps (tokenizer.json
 * "normalizer", Sequences flattened) applied in order, as HF's
 * normalizers::Sequence does:
 *
 *   NFC      Unicode NFC (nfc.c)
 *   Prepend  the prefix before a non-empty text ("▁" in Llama-2 files)
 *   Replace  every non-overlapping occurrence of a literal, left to right
 *            (" " -> "▁" in Llama-2 and Gemma files)
 *
 * Steps write to tok->nbuf[0] and [1] in turn, so a step never reads the
 * buffer it writes; a step that changes nothing copies nothing.
 */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

/* Append n bytes to b, growing it (contract in tok_int.h). */
void ods_tok_buf_put(struct tok_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->n + n > b->cap) {
		size_t old = b->cap;
		b->cap = b->cap ? b->cap : 4096;
		while (b->cap < b->n + n)
			b->cap *= 2;
		b->p = ods_xrealloc(b->p, b->cap);
		/* defined bytes past the text: PCRE2's JIT may read ahead of a subject */
		memset(b->p + old, 0, b->cap - old);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Replace every occurrence of pat in s[0..n) by rep into out; 0 when pat
 * does not occur (out untouched). */
static int replace(const struct tok_norm *st, const char *s, size_t n, struct tok_buf *out)
{
	const char *at = st->n_pat && n >= st->n_pat ? memmem(s, n, st->pat, st->n_pat) : NULL;
	size_t done = 0;

	if (!at)
		return 0;
	out->n = 0;
	while (at) {
		size_t i = (size_t)(at - s);
		ods_tok_buf_put(out, s + done, i - done);
		ods_tok_buf_put(out, st->rep, st->n_rep);
		done = i + st->n_pat;
		at = n - done >= st->n_pat ? memmem(s + done, n - done, st->pat, st->n_pat) : NULL;
	}
	ods_tok_buf_put(out, s + done, n - done);
	return 1;
}

/* The normalizer steps over s[0..n) (contract in tok_int.h). */
const char *ods_tok_normalize(struct ods_tok *tok, const char *s, size_t n, size_t *len)
{
	for (int i = 0; i < tok->n_norm; i++) {
		const struct tok_norm *st = &tok->norm[i];
		struct tok_buf *o = s == tok->nbuf[0].p ? &tok->nbuf[1] : &tok->nbuf[0];

		switch (st->kind) {
		case TOK_NORM_NFC:
			if (ods_tok_nfc(tok, s, n, o) < 0)
				continue;
			break;
		case TOK_NORM_PREPEND:
			if (n == 0) /* HF prepends to non-empty text only */
				continue;
			o->n = 0;
			ods_tok_buf_put(o, st->rep, st->n_rep);
			ods_tok_buf_put(o, s, n);
			break;
		case TOK_NORM_REPLACE:
			if (!replace(st, s, n, o))
				continue;
			break;
		default:
			ODS_ASSERT(0);
		}
		s = o->n ? o->p : "";
		n = o->n;
	}
	*len = n;
	return s;
}

/* Free the steps and the buffers (contract in tok_int.h). */
void ods_tok_norm_release(struct ods_tok *tok)
{
	for (int i = 0; i < tok->n_norm; i++) {
		free(tok->norm[i].pat);
		free(tok->norm[i].rep);
	}
	tok->n_norm = 0;
	for (int i = 0; i < 2; i++) {
		free(tok->nbuf[i].p);
		tok->nbuf[i] = (struct tok_buf){ 0 };
	}
}
