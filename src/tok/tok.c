/* tok.c - the public tokenizer API (include/odscope/tok.h) and the encode
 * pipeline, which follows HF tokenizers step by step:
 *
 *   text -> added tokens with normalized=false split out (leftmost-longest)
 *        -> each gap normalized (norm.c: NFC, Prepend, Replace steps)
 *        -> added tokens with normalized=true split out of it
 *        -> each gap through the pre-tokenizer stages (Split, Metaspace,
 *           ByteLevel: a rewrite, then a split)
 *        -> each piece through the BPE model (bpe.c)
 *
 * A split turns the matches of its regex and the gaps between them into
 * pieces by HF's SplitDelimiterBehavior; empty pieces are dropped. Each piece
 * carries whether it starts at offset 0 of the original text (HF's
 * offsets_original().0 == 0), which Metaspace's prepend_scheme "first" asks.
 */
#include "tok/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int encode_level(struct ods_tok *tok, int level, const char *s, size_t n, int at0,
			struct ods_ids *out, struct ods_err *err);

static struct ods_tok *tok_new(const char *path)
{
	struct ods_tok *tok = ods_xcalloc(1, sizeof *tok);

	tok->path = ods_xstrdup(path);
	tok->unk_id = -1;
	for (int b = 0; b < 256; b++)
		tok->byte_id[b] = tok->fallback_id[b] = -1;
	return tok;
}

/* Open a model directory (or, when model_dir is a file, that tokenizer.json):
 * tokenizer.json if present, else vocab.json + merges.txt; ODS_ENOTFOUND
 * when neither is there. */
int ods_tok_open(struct ods_tok **out, const char *model_dir, struct ods_err *err)
{
	char p[4096], v[4096], m[4096];

	*out = NULL;
	if (!ods_path_exists(model_dir))
		return ods_err_set(err, ODS_ENOTFOUND, "%s: no such file or directory", model_dir);
	if (!ods_path_is_dir(model_dir))
		return ods_tok_open_json(out, model_dir, err);
	ods_path_join(p, sizeof p, model_dir, "tokenizer.json");
	if (ods_path_exists(p))
		return ods_tok_open_json(out, p, err);
	ods_path_join(v, sizeof v, model_dir, "vocab.json");
	ods_path_join(m, sizeof m, model_dir, "merges.txt");
	if (ods_path_exists(v) && ods_path_exists(m))
		return ods_tok_open_vocab_merges(out, v, m, err);
	return ods_err_set(err, ODS_ENOTFOUND,
			   "%s: no tokenizer found (tokenizer.json, or vocab.json + merges.txt)",
			   model_dir);
}

/* Open one tokenizer.json; on failure *out is NULL and err names the file and key. */
int ods_tok_open_json(struct ods_tok **out, const char *path, struct ods_err *err)
{
	struct ods_tok *tok = tok_new(path);
	int rc = ods_tok_load_json(tok, path, err);

	*out = NULL;
	if (rc) {
		ods_tok_free(tok);
		return rc;
	}
	*out = tok;
	return 0;
}

/* Open a vocab.json + merges.txt pair (GPT-2 pre-tokenization, no prefix space). */
int ods_tok_open_vocab_merges(struct ods_tok **out, const char *vocab_path,
			      const char *merges_path, struct ods_err *err)
{
	struct ods_tok *tok = tok_new(vocab_path);
	int rc = ods_tok_load_vm(tok, vocab_path, merges_path, err);

	*out = NULL;
	if (rc) {
		ods_tok_free(tok);
		return rc;
	}
	*out = tok;
	return 0;
}

/* Release the handle and everything it owns; NULL is a no-op. */
void ods_tok_free(struct ods_tok *tok)
{
	if (!tok)
		return;
	for (int i = 0; i < TOK_MAX_STAGES; i++) {
		pcre2_match_data_free(tok->stage[i].md);
		pcre2_code_free(tok->stage[i].re);
		free(tok->stage[i].buf);
	}
	pcre2_match_data_free(tok->word_md);
	pcre2_code_free(tok->word_re);
	pcre2_match_context_free(tok->mctx);
	if (tok->jit_stack)
		pcre2_jit_stack_free(tok->jit_stack);
	for (int i = 0; i < tok->n_added; i++) {
		free(tok->added[i].content);
		free(tok->added[i].match);
	}
	free(tok->added);
	free(tok->added_raw.idx);
	free(tok->added_norm.idx);
	free(tok->is_added);
	free(tok->piece_off);
	free(tok->piece_len);
	free(tok->pieces);
	free(tok->bytes_off);
	free(tok->bytes_len);
	free(tok->bytes);
	free(tok->vocab.slot);
	ods_tok_merges_release(&tok->merges);
	ods_tok_cache_release(&tok->cache);
	free(tok->sym);
	free(tok->heap);
	free(tok->wbuf);
	ods_tok_norm_release(tok);
	free(tok->cp_buf);
	free(tok->pre_ids);
	free(tok->post_ids);
	free(tok->path);
	free(tok);
}

/* Per-id tables for ids [0, n_vocab), all unused (contract in tok_int.h). */
void ods_tok_alloc_ids(struct ods_tok *tok, int32_t n_vocab)
{
	ODS_ASSERT(!tok->piece_off && n_vocab >= 0);
	tok->n_vocab = n_vocab;
	tok->piece_off = ods_xmalloc(((size_t)n_vocab + 1) * sizeof *tok->piece_off);
	tok->piece_len = ods_xcalloc((size_t)n_vocab + 1, sizeof *tok->piece_len);
	tok->is_added = ods_xcalloc((size_t)n_vocab + 1, sizeof *tok->is_added);
	memset(tok->piece_off, 0xff, ((size_t)n_vocab + 1) * sizeof *tok->piece_off);
}

/* Copy a piece into the arena as id's piece (contract in tok_int.h). */
void ods_tok_set_piece(struct ods_tok *tok, int32_t id, const char *s, size_t n)
{
	ODS_ASSERT(id >= 0 && id < tok->n_vocab);
	if (tok->n_pieces + n + 1 > tok->cap_pieces) {
		tok->cap_pieces = tok->cap_pieces ? tok->cap_pieces : 1u << 16;
		while (tok->cap_pieces < tok->n_pieces + n + 1)
			tok->cap_pieces *= 2;
		tok->pieces = ods_xrealloc(tok->pieces, tok->cap_pieces);
	}
	ODS_ASSERT(tok->n_pieces + n < UINT32_MAX);
	memcpy(tok->pieces + tok->n_pieces, s, n);
	tok->pieces[tok->n_pieces + n] = 0;
	tok->piece_off[id] = (uint32_t)tok->n_pieces;
	tok->piece_len[id] = (uint32_t)n;
	tok->n_pieces += n + 1;
}

/* HF compiles its regexes with Oniguruma, whose \s is Unicode White_Space;
 * PCRE2's \s with UCP also takes U+180E. Rewrite \s and \S (inside and
 * outside classes) as the White_Space property; returns a malloc'd pattern. */
static char *onig_to_pcre2(const char *p)
{
	size_t n = strlen(p), o = 0;
	char *out = ods_xmalloc(8 * n + 1);

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\\' || i + 1 == n) {
			out[o++] = p[i];
			continue;
		}
		if (p[i + 1] == 's' || p[i + 1] == 'S') {
			memcpy(out + o, p[i + 1] == 's' ? "\\p{White_Space}" : "\\P{White_Space}", 15);
			o += 15;
		} else if (p[i + 1] == 'Q') { /* \Q...\E is literal: copy it as is */
			const char *e = strstr(p + i + 2, "\\E");
			size_t end = e ? (size_t)(e - p) + 2 : n;
			memcpy(out + o, p + i, end - i);
			o += end - i;
			i = end - 1;
			continue;
		} else {
			out[o++] = p[i];
			out[o++] = p[i + 1];
		}
		i++;
	}
	out[o] = 0;
	return out;
}

/* Compile a pre-tokenizer regex into a stage (contract in tok_int.h). */
int ods_tok_stage_regex(struct ods_tok *tok, struct tok_stage *s, const char *pattern,
			int literal, const char *key, struct ods_err *err)
{
	int ec;
	PCRE2_SIZE eo;
	uint32_t opt = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
	char *pat = literal ? ods_xstrdup(pattern) : onig_to_pcre2(pattern);

	s->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opt, &ec, &eo, NULL);
	free(pat);
	if (!s->re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ec, msg, sizeof msg);
		return ods_err_set(err, ODS_EUNSUPPORTED,
				   "%s: %s: regex not supported by PCRE2 at offset %zu: %s", tok->path,
				   key, (size_t)eo, (const char *)msg);
	}
	s->jit = pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE) == 0;
	s->md = pcre2_match_data_create_from_pattern(s->re, NULL);
	if (!s->md)
		ods_die_oom(sizeof(PCRE2_SIZE) * 2);
	if (!tok->mctx) {
		tok->mctx = pcre2_match_context_create(NULL);
		if (!tok->mctx)
			ods_die_oom(256);
		tok->jit_stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, NULL);
		if (tok->jit_stack)
			pcre2_jit_stack_assign(tok->mctx, NULL, tok->jit_stack);
	}
	return 0;
}

/* Build one leftmost-longest set over the added tokens whose normalized flag is `norm`. */
static void added_set_build(struct ods_tok *tok, struct tok_added_set *set, int norm)
{
	int count[256] = { 0 }, fill[256];

	set->n = 0;
	for (int i = 0; i < tok->n_added; i++)
		if (tok->added[i].n_match && !tok->added[i].normalized == !norm) {
			count[(uint8_t)tok->added[i].match[0]]++;
			set->n++;
		}
	set->idx = ods_xmalloc(((size_t)set->n + 1) * sizeof *set->idx);
	set->first[0] = 0;
	for (int b = 0; b < 256; b++) {
		set->first[b + 1] = set->first[b] + count[b];
		fill[b] = set->first[b];
	}
	for (int i = 0; i < tok->n_added; i++) {
		const struct tok_added *a = &tok->added[i];
		int b, j;
		if (!a->n_match || !a->normalized != !norm)
			continue;
		b = (uint8_t)a->match[0];
		/* insertion keeping longest first (stable for equal lengths) */
		j = fill[b]++;
		while (j > set->first[b] && tok->added[set->idx[j - 1]].n_match < a->n_match) {
			set->idx[j] = set->idx[j - 1];
			j--;
		}
		set->idx[j] = i;
	}
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* The bytes a model piece stands for, into out (capacity >= n); returns the
 * length. Byte-level pieces decode through the byte alphabet; otherwise
 * "<0xNN>" is the byte NN (byte_fallback, as HF's ByteFallback decoder reads
 * it) and each space_rep is a space. */
static size_t piece_bytes(const struct ods_tok *tok, const char *s, size_t n, char *out)
{
	size_t o = 0, nr = tok->n_space_rep;

	if (tok->byte_level)
		return ods_tok_from_byte_level(s, n, out);
	if (tok->byte_fallback && n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' &&
	    hex_digit(s[3]) >= 0 && hex_digit(s[4]) >= 0) {
		out[0] = (char)(hex_digit(s[3]) << 4 | hex_digit(s[4]));
		return 1;
	}
	for (size_t i = 0; i < n;) {
		if (nr && i + nr <= n && !memcmp(s + i, tok->space_rep, nr)) {
			out[o++] = ' ';
			i += nr;
		} else {
			out[o++] = s[i++];
		}
	}
	return o;
}

/* May the model cut words before each space_rep that follows another
 * character? Only when no merge joins a piece that is not all space_rep to a
 * piece starting with space_rep (then no merge ever crosses such a point),
 * space_rep is itself a piece (so a pending unk ends there, as HF's does),
 * and ignore_merges is off (it looks at whole pre-tokens). */
static int can_word_split(const struct ods_tok *tok)
{
	const char *rep = tok->space_rep;
	size_t nr = tok->n_space_rep;

	if (tok->byte_level || !nr || tok->ignore_merges || ods_tok_vocab_find(tok, rep, nr) < 0)
		return 0;
	for (size_t i = 0; i < tok->merges.cap; i++) {
		const struct tok_merge_slot *m = &tok->merges.slot[i];
		int32_t l, r;
		const char *pl;
		size_t nl;
		int all_rep = 1;

		if (m->key == UINT64_MAX)
			continue;
		l = (int32_t)(m->key >> 32);
		r = (int32_t)(m->key & 0xffffffffu);
		if (tok->piece_len[r] < nr || memcmp(tok->pieces + tok->piece_off[r], rep, nr) != 0)
			continue;
		pl = tok->pieces + tok->piece_off[l];
		nl = tok->piece_len[l];
		for (size_t k = 0; k < nl && all_rep; k += nr)
			all_rep = k + nr <= nl && !memcmp(pl + k, rep, nr);
		if (!all_rep || nl == 0)
			return 0;
	}
	return 1;
}

/* Derived tables once vocab, merges and added tokens are in (contract in tok_int.h). */
int ods_tok_finish(struct ods_tok *tok, struct ods_err *err)
{
	size_t total = 0;
	int need_word = 0;

	for (int b = 0; b < 256; b++) {
		char c = (char)b, buf[8];
		size_t len = tok->byte_level ? ods_tok_to_byte_level(&c, 1, buf) : 1;
		if (!tok->byte_level)
			buf[0] = c;
		tok->byte_id[b] = tok->byte_level || b < 0x80 ? ods_tok_vocab_find(tok, buf, len) : -1;
		if (tok->byte_fallback) {
			snprintf(buf, sizeof buf, "<0x%02X>", (unsigned)b);
			tok->fallback_id[b] = ods_tok_vocab_find(tok, buf, 6);
		}
	}
	for (int i = 0; i < tok->n_added; i++) {
		struct tok_added *a = &tok->added[i];
		const char *m = a->content;
		size_t len = a->len;

		/* normalized tokens are matched in normalized text: normalize them too */
		if (a->normalized)
			m = ods_tok_normalize(tok, a->content, a->len, &len);
		a->match = ods_xmalloc(len + 1);
		memcpy(a->match, m, len);
		a->match[len] = 0;
		a->n_match = len;
		tok->is_added[a->id] = i + 1;
		need_word |= a->single_word;
	}
	added_set_build(tok, &tok->added_raw, 0);
	added_set_build(tok, &tok->added_norm, 1);
	if (need_word) {
		int ec;
		PCRE2_SIZE eo;
		/* Rust regex's Unicode \\w, which HF uses for single_word */
		tok->word_re = pcre2_compile((PCRE2_SPTR)
					     "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]",
					     PCRE2_ZERO_TERMINATED,
					     PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &ec, &eo, NULL);
		ODS_ASSERT(tok->word_re);
		tok->word_md = pcre2_match_data_create_from_pattern(tok->word_re, NULL);
		if (!tok->word_md)
			ods_die_oom(64);
	}
	tok->word_split = can_word_split(tok);

	/* raw bytes of every id: added tokens stand for their content */
	tok->bytes_off = ods_xmalloc(((size_t)tok->n_vocab + 1) * sizeof *tok->bytes_off);
	tok->bytes_len = ods_xcalloc((size_t)tok->n_vocab + 1, sizeof *tok->bytes_len);
	for (int32_t id = 0; id < tok->n_vocab; id++)
		total += tok->piece_off[id] == UINT32_MAX ? 0 : tok->piece_len[id];
	for (int i = 0; i < tok->n_added; i++)
		total += tok->added[i].len;
	tok->bytes = ods_xmalloc(total + 1);
	tok->n_bytes = 0;
	for (int32_t id = 0; id < tok->n_vocab; id++) {
		size_t len;
		tok->bytes_off[id] = UINT32_MAX;
		if (tok->piece_off[id] == UINT32_MAX)
			continue;
		if (tok->is_added[id]) {
			const struct tok_added *a = &tok->added[tok->is_added[id] - 1];
			memcpy(tok->bytes + tok->n_bytes, a->content, a->len);
			len = a->len;
		} else {
			len = piece_bytes(tok, tok->pieces + tok->piece_off[id], tok->piece_len[id],
					  tok->bytes + tok->n_bytes);
		}
		tok->bytes_off[id] = (uint32_t)tok->n_bytes;
		tok->bytes_len[id] = (uint32_t)len;
		tok->n_bytes += len;
	}
	(void)err;
	return 0;
}

/* ---- encode ---- */

/* Rust's char::is_whitespace (Unicode White_Space). */
static int is_ws(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

/* Code point starting at s[i] (valid UTF-8); *len gets its byte length. */
static uint32_t cp_at(const char *s, size_t i, size_t *len)
{
	const uint8_t *p = (const uint8_t *)s + i;
	if (p[0] < 0x80) {
		*len = 1;
		return p[0];
	}
	if (p[0] < 0xe0) {
		*len = 2;
		return (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
	}
	if (p[0] < 0xf0) {
		*len = 3;
		return (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
	}
	*len = 4;
	return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
	       (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
}

/* Start of the code point that ends right before s[i] (i > 0). */
static size_t cp_before(const char *s, size_t i)
{
	do
		i--;
	while (i > 0 && ((uint8_t)s[i] & 0xc0) == 0x80);
	return i;
}

/* Is the code point at s[i] a word character (Unicode \w as Rust's regex has it)? */
static int word_at(struct ods_tok *tok, const char *s, size_t n, size_t i)
{
	return pcre2_match(tok->word_re, (PCRE2_SPTR)s, n, i, PCRE2_NO_UTF_CHECK, tok->word_md,
			   NULL) > 0;
}

static int pretok(struct ods_tok *tok, int i, const char *s, size_t n, int at0,
		  struct ods_ids *out, struct ods_err *err);

/* The pieces of one split, combined from its items (gaps and matches) by the
 * stage's behavior; the pending piece goes to the next stage when the next
 * item cannot join it. */
struct split_state {
	struct ods_tok *tok;
	int next, at0;
	const char *s;
	struct ods_ids *out;
	struct ods_err *err;
	size_t a, b;    /* the pending piece s[a..b) */
	int have, match; /* a piece is pending; the last item was a match */
};

static int split_flush(struct split_state *p)
{
	if (!p->have)
		return 0;
	p->have = 0;
	return pretok(p->tok, p->next, p->s + p->a, p->b - p->a, p->at0 && p->a == 0, p->out,
		      p->err);
}

/* One item s[a..b) of a split, in text order (HF NormalizedString::split:
 * the fold of each SplitDelimiterBehavior, written forwards). */
static int split_item(struct split_state *p, int behavior, size_t a, size_t b, int match)
{
	int rc;

	switch (behavior) {
	case TOK_SPLIT_REMOVED:
		if (match)
			return 0;
		break;
	case TOK_SPLIT_MERGED_PREV: /* a match ends the gap before it */
		if (match && p->have && !p->match) {
			p->b = b;
			p->match = 1;
			return 0;
		}
		break;
	case TOK_SPLIT_MERGED_NEXT: /* a gap ends the match before it */
		if (!match && p->have && p->match) {
			p->b = b;
			p->match = 0;
			return 0;
		}
		break;
	case TOK_SPLIT_CONTIGUOUS: /* adjacent matches are one piece */
		if (match && p->have && p->match) {
			p->b = b;
			return 0;
		}
		break;
	default:
		break;
	}
	if ((rc = split_flush(p)))
		return rc;
	p->a = a;
	p->b = b;
	p->have = 1;
	p->match = match;
	return 0;
}

/* A stage's rewrite of s[0..n) into its buffer: Metaspace (' ' -> rep, rep
 * first per prepend_scheme) or ByteLevel's prefix space. Returns the new
 * length; *s points at the result (unchanged when nothing applies). */
static size_t stage_rewrite(struct tok_stage *st, const char **s, size_t n, int at0)
{
	const char *rep = st->rep, *p = *s;
	size_t nr = st->n_rep, o = 0;
	int starts;

	if (st->add_prefix_space) {
		if (p[0] == ' ')
			return n;
		rep = " ";
		nr = 1;
		starts = 0;
	} else if (st->metaspace) {
		starts = p[0] == ' ' || (n >= nr && memcmp(p, rep, nr) == 0);
		if (!memchr(p, ' ', n) &&
		    (starts || st->prepend == TOK_PREPEND_NEVER ||
		     (st->prepend == TOK_PREPEND_FIRST && !at0)))
			return n;
	} else {
		return n;
	}
	if (st->cap_buf < nr * (n + 1)) {
		st->cap_buf = 2 * nr * (n + 1);
		free(st->buf);
		st->buf = ods_xcalloc(st->cap_buf, 1); /* defined bytes for PCRE2's JIT read-ahead */
	}
	if (!starts && (st->add_prefix_space || st->prepend == TOK_PREPEND_ALWAYS ||
			(st->prepend == TOK_PREPEND_FIRST && at0))) {
		memcpy(st->buf, rep, nr);
		o = nr;
	}
	if (st->add_prefix_space) {
		memcpy(st->buf + o, p, n);
		o += n;
	} else {
		for (size_t k = 0; k < n; k++) {
			if (p[k] == ' ') {
				memcpy(st->buf + o, rep, nr);
				o += nr;
			} else {
				st->buf[o++] = p[k];
			}
		}
	}
	*s = st->buf;
	return o;
}

/* Pre-tokenizer stage i over s[0..n) (at0: it starts at offset 0 of the
 * text), then the model on the final pieces. */
static int pretok(struct ods_tok *tok, int i, const char *s, size_t n, int at0,
		  struct ods_ids *out, struct ods_err *err)
{
	struct tok_stage *st;
	struct split_state sp;
	size_t off = 0, prev = 0;
	int rc;

	if (n == 0)
		return 0;
	if (i == tok->n_stages) {
		ods_tok_model(tok, s, n, out);
		return 0;
	}
	st = &tok->stage[i];
	n = stage_rewrite(st, &s, n, at0);
	if (!st->re)
		return pretok(tok, i + 1, s, n, at0, out, err);
	sp = (struct split_state){ tok, i + 1, at0, s, out, err, 0, 0, 0, 0 };
	while (off < n) {
		PCRE2_SIZE *ov;
		size_t ms, me;

		rc = st->jit ? pcre2_jit_match(st->re, (PCRE2_SPTR)s, n, off, 0, st->md, tok->mctx)
			     : pcre2_match(st->re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, st->md,
					   tok->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(rc, msg, sizeof msg);
			return ods_err_set(err, ODS_EINVAL, "%s: pre-tokenizer regex failed: %s",
					   tok->path, (const char *)msg);
		}
		ov = pcre2_get_ovector_pointer(st->md);
		ms = ov[0] < prev ? prev : ov[0];
		me = ov[1];
		if (me <= ms) { /* empty match: step over one character */
			off = ms + 1;
			while (off < n && ((uint8_t)s[off] & 0xc0) == 0x80)
				off++;
			continue;
		}
		if (ms > prev && (rc = split_item(&sp, st->behavior, prev, ms, 0)))
			return rc;
		if ((rc = split_item(&sp, st->behavior, ms, me, 1)))
			return rc;
		prev = off = me;
	}
	if (prev < n && (rc = split_item(&sp, st->behavior, prev, n, 0)))
		return rc;
	return split_flush(&sp);
}

/* Split s on the added tokens of the level's set (HF AddedVocabulary::find_matches:
 * leftmost-longest, single_word, lstrip, rstrip); the gaps go to the next level. */
static int split_added(struct ods_tok *tok, const struct tok_added_set *set, int next,
		       const char *s, size_t n, int at0, struct ods_ids *out, struct ods_err *err)
{
	size_t i = 0, gap = 0, len;
	int rc;

	if (set->n == 0)
		return encode_level(tok, next, s, n, at0, out, err);
	while (i < n) {
		int b = (uint8_t)s[i], k;
		const struct tok_added *a = NULL;
		size_t ms, me;

		for (k = set->first[b]; k < set->first[b + 1]; k++) {
			const struct tok_added *c = &tok->added[set->idx[k]];
			if (c->n_match <= n - i && memcmp(s + i, c->match, c->n_match) == 0) {
				a = c;
				break;
			}
		}
		if (!a) {
			i++;
			continue;
		}
		ms = i;
		me = i + a->n_match;
		if (a->single_word && ((ms > 0 && word_at(tok, s, n, cp_before(s, ms))) ||
				       (me < n && word_at(tok, s, n, me)))) {
			i = me; /* the matcher goes on after the match, as aho-corasick does */
			continue;
		}
		if (a->lstrip)
			while (ms > gap) {
				size_t at = cp_before(s, ms);
				if (!is_ws(cp_at(s, at, &len)))
					break;
				ms = at;
			}
		if (a->rstrip)
			while (me < n && is_ws(cp_at(s, me, &len)))
				me += len;
		if (ms > gap &&
		    (rc = encode_level(tok, next, s + gap, ms - gap, at0 && gap == 0, out, err)))
			return rc;
		ods_ids_push(out, a->id);
		gap = i = me;
	}
	if (gap < n)
		return encode_level(tok, next, s + gap, n - gap, at0 && gap == 0, out, err);
	return 0;
}

/* Levels: 0 raw added tokens, 1 normalize, 2 normalized added tokens, 3 pre-tokenize;
 * at0: s starts at offset 0 of the text. */
static int encode_level(struct ods_tok *tok, int level, const char *s, size_t n, int at0,
			struct ods_ids *out, struct ods_err *err)
{
	switch (level) {
	case 0:
		return split_added(tok, &tok->added_raw, 1, s, n, at0, out, err);
	case 1:
		s = ods_tok_normalize(tok, s, n, &n);
		return encode_level(tok, 2, s, n, at0, out, err);
	case 2:
		return split_added(tok, &tok->added_norm, 3, s, n, at0, out, err);
	default:
		return pretok(tok, 0, s, n, at0, out, err);
	}
}

/* Encode n bytes of UTF-8; appends ids to out (left as it was on failure). */
int ods_tok_encode(struct ods_tok *tok, const char *text, size_t n, int add_special,
		   struct ods_ids *out, struct ods_err *err)
{
	size_t start = out->n, bad = ods_utf8_valid_prefix(text, n);
	int rc;

	if (bad != n)
		return ods_err_set(err, ODS_EFORMAT, "invalid UTF-8 at byte offset %zu", bad);
	if (add_special)
		for (int i = 0; i < tok->n_pre; i++)
			ods_ids_push(out, tok->pre_ids[i]);
	rc = encode_level(tok, 0, text, n, 1, out, err);
	if (rc) {
		out->n = start;
		return rc;
	}
	if (add_special)
		for (int i = 0; i < tok->n_post; i++)
			ods_ids_push(out, tok->post_ids[i]);
	return 0;
}

/* Max id + 1 (added tokens included). */
int ods_tok_n_vocab(const struct ods_tok *tok)
{
	return tok->n_vocab;
}

/* The piece as written in the vocabulary (added tokens: their content); NULL if unused. */
const char *ods_tok_piece(const struct ods_tok *tok, int32_t id)
{
	if (id < 0 || id >= tok->n_vocab || tok->piece_off[id] == UINT32_MAX)
		return NULL;
	return tok->pieces + tok->piece_off[id];
}

/* The raw bytes of a token into buf (at most cap written); returns the full
 * length (which may exceed cap: then buf holds a prefix), -1 for an unused id. */
int ods_tok_bytes(const struct ods_tok *tok, int32_t id, char *buf, size_t cap)
{
	size_t len;

	if (id < 0 || id >= tok->n_vocab || tok->bytes_off[id] == UINT32_MAX)
		return -1;
	len = tok->bytes_len[id];
	if (cap)
		memcpy(buf, tok->bytes + tok->bytes_off[id], len < cap ? len : cap);
	return (int)len;
}

/* "byte-level BPE", "SentencePiece-style BPE" (characters, with byte fallback
 * or a metaspace), or "character-level BPE". */
const char *ods_tok_kind(const struct ods_tok *tok)
{
	if (tok->byte_level)
		return "byte-level BPE";
	if (tok->byte_fallback || tok->n_space_rep)
		return "SentencePiece-style BPE";
	return "character-level BPE";
}
