/* tok_load.c - tokenizer.json (HF tokenizers' serialization) and the GPT-2
 * vocab.json + merges.txt pair into struct ods_tok. The cJSON trees never
 * leave this file.
 *
 * Accepted tokenizer.json (anything else is refused with ODS_EUNSUPPORTED
 * naming the file and the JSON key):
 *   model          type "BPE", vocab, merges ("a b" strings or [a, b] arrays),
 *                  unk_token (a piece of the vocab), ignore_merges,
 *                  byte_fallback, fuse_unk; dropout null/0, no
 *                  continuing_subword_prefix / end_of_word_suffix
 *   added_tokens   id, content, special, lstrip, rstrip, normalized, single_word
 *   normalizer     null, NFC, Prepend, Replace (String pattern), or a Sequence
 *                  of those
 *   pre_tokenizer  null, ByteLevel (add_prefix_space, use_regex), Metaspace
 *                  (replacement, prepend_scheme or the older add_prefix_space,
 *                  split), Split (Regex or String pattern, any behavior,
 *                  invert false), or a Sequence of those with ByteLevel last.
 *                  With ByteLevel the model works on bytes (GPT-2 style),
 *                  without it on characters (SentencePiece style: Llama-2,
 *                  Mistral, Gemma)
 *   post_processor null, ByteLevel, TemplateProcessing ("single"),
 *                  RobertaProcessing, BertProcessing, or a Sequence of those
 *   truncation, padding and decoder are ignored (they do not change the ids
 *   of one text that odscope asks for).
 */
#include "tok/tok_int.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The regex of HF's ByteLevel pre-tokenizer (GPT-2's). */
static const char gpt2_regex[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Largest id we accept (guards the per-id tables against absurd files). */
#define MAX_ID (1 << 26)

struct jr {
	struct ods_tok *tok;
	struct ods_err *err;
	const char *path;
};

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static int is_null(const cJSON *v)
{
	return !v || cJSON_IsNull(v);
}

/* Integer value in [0, MAX_ID), or -1. */
static int32_t as_id(const cJSON *v)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble >= MAX_ID)
		return -1;
	return (int32_t)v->valuedouble;
}

/* Optional boolean key; *out keeps its default when absent. */
static int get_bool(struct jr *r, const cJSON *o, const char *key, const char *where, int *out)
{
	const cJSON *v = get(o, key);
	if (is_null(v))
		return 0;
	if (!cJSON_IsBool(v))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: %s.%s must be true or false", r->path,
				   where, key);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* Parse a JSON file into *root (caller deletes). */
static int parse_file(const char *path, cJSON **root, struct ods_err *err)
{
	char *data;
	size_t len;
	const char *end = NULL;
	int rc = ods_file_read(path, &data, &len, err);

	if (rc)
		return rc;
	*root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (!*root) {
		const char *at = end ? end : cJSON_GetErrorPtr();
		size_t off = at && at >= data && at <= data + len ? (size_t)(at - data) : len;
		free(data);
		return ods_err_set(err, ODS_EFORMAT, "%s: malformed JSON near byte %zu", path, off);
	}
	free(data);
	return 0;
}

/* Max id over the object's values; checks they are ids. */
static int vocab_max_id(struct jr *r, const cJSON *vocab, const char *key, int32_t *max)
{
	const cJSON *e;

	if (!cJSON_IsObject(vocab))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: %s must be an object", r->path, key);
	cJSON_ArrayForEach(e, vocab) {
		int32_t id = as_id(e);
		if (id < 0)
			return ods_err_set(r->err, ODS_EFORMAT,
					   "%s: %s: '%s' must map to an id in [0, %d)", r->path, key,
					   e->string, MAX_ID);
		if (id > *max)
			*max = id;
	}
	return 0;
}

static void vocab_fill(struct ods_tok *tok, const cJSON *vocab)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, vocab)
		ods_tok_set_piece(tok, as_id(e), e->string, strlen(e->string));
	ods_tok_vocab_build(tok);
}

/* One merge (a, b) of rank `rank`; `where` names it in messages. */
static int merge_add(struct jr *r, const char *a, size_t na, const char *b, size_t nb, int32_t rank,
		     const char *where, char **buf, size_t *cap)
{
	struct ods_tok *tok = r->tok;
	int32_t ia = ods_tok_vocab_find(tok, a, na), ib = ods_tok_vocab_find(tok, b, nb), im;

	if (na + nb + 1 > *cap) {
		*cap = 2 * (na + nb + 1);
		*buf = ods_xrealloc(*buf, *cap);
	}
	memcpy(*buf, a, na);
	memcpy(*buf + na, b, nb);
	(*buf)[na + nb] = 0;
	im = ods_tok_vocab_find(tok, *buf, na + nb);
	if (ia < 0 || ib < 0 || im < 0) {
		const char *miss = ia < 0 ? a : ib < 0 ? b : *buf;
		int nmiss = (int)(ia < 0 ? na : ib < 0 ? nb : na + nb);
		return ods_err_set(r->err, ODS_EFORMAT, "%s: %s: '%.*s' is not in the vocabulary",
				   r->path, where, nmiss, miss);
	}
	ods_tok_merges_put(&tok->merges, ia, ib, rank, im);
	return 0;
}

static int load_merges_json(struct jr *r, const cJSON *merges)
{
	const cJSON *e;
	int32_t rank = 0;
	char *buf = NULL, where[64];
	size_t cap = 0;
	int rc = 0;

	if (!cJSON_IsArray(merges))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: model.merges must be an array", r->path);
	ods_tok_merges_init(&r->tok->merges, (size_t)cJSON_GetArraySize(merges));
	cJSON_ArrayForEach(e, merges) {
		snprintf(where, sizeof where, "model.merges[%d]", rank);
		if (cJSON_IsString(e)) {
			const char *s = e->valuestring, *sp = strchr(s, ' ');
			if (!sp) {
				rc = ods_err_set(r->err, ODS_EFORMAT, "%s: %s: '%s' is not \"a b\"",
						 r->path, where, s);
				break;
			}
			rc = merge_add(r, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, where, &buf,
				       &cap);
		} else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 &&
			   cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
			   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
			const char *a = cJSON_GetArrayItem(e, 0)->valuestring;
			const char *b = cJSON_GetArrayItem(e, 1)->valuestring;
			rc = merge_add(r, a, strlen(a), b, strlen(b), rank, where, &buf, &cap);
		} else {
			rc = ods_err_set(r->err, ODS_EFORMAT,
					 "%s: %s must be a string \"a b\" or an array [a, b]", r->path,
					 where);
		}
		if (rc)
			break;
		rank++;
	}
	free(buf);
	return rc;
}

static int load_model(struct jr *r, const cJSON *model, const cJSON *added)
{
	const cJSON *v, *vocab = get(model, "vocab"), *e;
	int32_t max = -1, max_added = -1, n_model;
	int rc, n = 0;

	if (!cJSON_IsObject(model))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: missing key 'model'", r->path);
	v = get(model, "type");
	if (!is_null(v) && !(cJSON_IsString(v) && strcmp(v->valuestring, "BPE") == 0))
		return ods_err_set(r->err, ODS_EUNSUPPORTED,
				   "%s: model.type '%s' is not supported (only 'BPE')", r->path,
				   cJSON_IsString(v) ? v->valuestring : "?");
	v = get(model, "dropout");
	if (!is_null(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
		return ods_err_set(r->err, ODS_EUNSUPPORTED, "%s: model.dropout is not supported",
				   r->path);
	v = get(model, "continuing_subword_prefix");
	if (!is_null(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
		return ods_err_set(r->err, ODS_EUNSUPPORTED,
				   "%s: model.continuing_subword_prefix is not supported", r->path);
	v = get(model, "end_of_word_suffix");
	if (!is_null(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
		return ods_err_set(r->err, ODS_EUNSUPPORTED,
				   "%s: model.end_of_word_suffix is not supported", r->path);
	if ((rc = get_bool(r, model, "ignore_merges", "model", &r->tok->ignore_merges)) ||
	    (rc = get_bool(r, model, "byte_fallback", "model", &r->tok->byte_fallback)) ||
	    (rc = get_bool(r, model, "fuse_unk", "model", &r->tok->fuse_unk)))
		return rc;
	if (!vocab)
		return ods_err_set(r->err, ODS_EFORMAT, "%s: missing key 'model.vocab'", r->path);
	if ((rc = vocab_max_id(r, vocab, "model.vocab", &max)))
		return rc;
	if (!get(model, "merges"))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: missing key 'model.merges'", r->path);

	/* added tokens: check them before allocating */
	if (!is_null(added) && !cJSON_IsArray(added))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: added_tokens must be an array", r->path);
	cJSON_ArrayForEach(e, added) {
		if (as_id(get(e, "id")) < 0)
			return ods_err_set(r->err, ODS_EFORMAT,
					   "%s: added_tokens[%d].id must be an integer id", r->path, n);
		if (!cJSON_IsString(get(e, "content")))
			return ods_err_set(r->err, ODS_EFORMAT,
					   "%s: added_tokens[%d].content must be a string", r->path,
					   n);
		n++;
	}
	n_model = cJSON_GetArraySize(vocab);
	/* added tokens get ids up to n_model + n - 1 (see below) */
	ods_tok_alloc_ids(r->tok, max + 1 > n_model + n ? max + 1 : n_model + n);
	vocab_fill(r->tok, vocab);
	if ((rc = load_merges_json(r, get(model, "merges"))))
		return rc;
	v = get(model, "unk_token");
	if (!is_null(v) && !cJSON_IsString(v))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: model.unk_token must be a string or null",
				   r->path);
	if (cJSON_IsString(v)) {
		/* HF would fail at the first unknown character: refuse it up front */
		r->tok->unk_id = ods_tok_vocab_find(r->tok, v->valuestring, strlen(v->valuestring));
		if (r->tok->unk_id < 0)
			return ods_err_set(r->err, ODS_EFORMAT,
					   "%s: model.unk_token '%s' is not in model.vocab", r->path,
					   v->valuestring);
	}

	/* The ids of added tokens are HF's (AddedVocabulary::add_tokens), not the
	 * "id" keys, which agree in every file HF wrote: a content already known
	 * keeps its id, a new one gets the next id after the model's vocab and
	 * the added tokens so far. Empty contents are ignored, as HF does. */
	r->tok->added = ods_xcalloc((size_t)n + 1, sizeof *r->tok->added);
	n = 0;
	cJSON_ArrayForEach(e, added) {
		struct tok_added *a = &r->tok->added[r->tok->n_added];
		const char *content = get(e, "content")->valuestring;
		char where[64];
		int32_t id = -1;

		snprintf(where, sizeof where, "added_tokens[%d]", n++);
		if (!content[0])
			continue;
		for (int i = 0; i < r->tok->n_added && id < 0; i++)
			if (strcmp(r->tok->added[i].content, content) == 0)
				id = r->tok->added[i].id;
		if (id < 0)
			id = ods_tok_vocab_find(r->tok, content, strlen(content));
		if (id < 0)
			id = max_added < 0 || max_added < n_model ? n_model : max_added + 1;
		if (id > max_added)
			max_added = id;
		a->id = id;
		a->content = ods_xstrdup(content);
		a->len = strlen(a->content);
		r->tok->n_added++;
		if ((rc = get_bool(r, e, "special", where, &a->special)))
			return rc;
		a->normalized = !a->special;
		if ((rc = get_bool(r, e, "normalized", where, &a->normalized)) ||
		    (rc = get_bool(r, e, "lstrip", where, &a->lstrip)) ||
		    (rc = get_bool(r, e, "rstrip", where, &a->rstrip)) ||
		    (rc = get_bool(r, e, "single_word", where, &a->single_word)))
			return rc;
		if (r->tok->piece_off[a->id] == UINT32_MAX)
			ods_tok_set_piece(r->tok, a->id, a->content, a->len);
	}
	r->tok->n_vocab = (max > max_added ? max : max_added) + 1;
	return 0;
}

/* The String pattern {"String": s} of key into *out (Regex patterns are refused). */
static int string_pattern(struct jr *r, const cJSON *pat, const char *key, const char **out)
{
	const cJSON *str = get(pat, "String");

	if (cJSON_IsString(str)) {
		*out = str->valuestring;
		return 0;
	}
	if (get(pat, "Regex"))
		return ods_err_set(r->err, ODS_EUNSUPPORTED,
				   "%s: %s.pattern: Regex patterns are not supported (only String)",
				   r->path, key);
	return ods_err_set(r->err, ODS_EFORMAT, "%s: %s.pattern must be {\"String\": ...}", r->path,
			   key);
}

/* Remember what pieces write for a space (Replace " " -> c, Metaspace c), for
 * ods_tok_bytes and the model's word split; only a single character counts. */
static void set_space_rep(struct ods_tok *tok, const char *c)
{
	size_t n = strlen(c), k = n ? ods_utf8_valid_prefix(c, n) : 0;
	uint8_t b = n ? (uint8_t)c[0] : 0;
	size_t want = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;

	if (n == 0 || k != n || n != want || c[0] == ' ')
		return;
	memcpy(tok->space_rep, c, n);
	tok->space_rep[n] = 0;
	tok->n_space_rep = n;
}

/* Normalizer steps, Sequences flattened, into tok->norm. */
static int load_normalizer(struct jr *r, const cJSON *nz, const char *key)
{
	const cJSON *t = get(nz, "type"), *e;
	const char *ty = cJSON_IsString(t) ? t->valuestring : "?";
	struct ods_tok *tok = r->tok;
	struct tok_norm *st;
	char sub[96];
	int i = 0, rc;

	if (is_null(nz))
		return 0;
	if (strcmp(ty, "Sequence") == 0 && cJSON_IsArray(get(nz, "normalizers"))) {
		cJSON_ArrayForEach(e, get(nz, "normalizers")) {
			snprintf(sub, sizeof sub, "%s.normalizers[%d]", key, i++);
			if ((rc = load_normalizer(r, e, sub)))
				return rc;
		}
		return 0;
	}
	if (strcmp(ty, "NFC") && strcmp(ty, "Prepend") && strcmp(ty, "Replace"))
		return ods_err_set(r->err, ODS_EUNSUPPORTED,
				   "%s: %s.type '%s' is not supported (only NFC, Prepend, Replace, "
				   "a Sequence of those, or null)", r->path, key, ty);
	if (tok->n_norm == TOK_MAX_NORMS)
		return ods_err_set(r->err, ODS_EUNSUPPORTED, "%s: %s: more than %d normalizers",
				   r->path, key, TOK_MAX_NORMS);
	st = &tok->norm[tok->n_norm];
	if (strcmp(ty, "NFC") == 0) {
		st->kind = TOK_NORM_NFC;
	} else if (strcmp(ty, "Prepend") == 0) {
		const cJSON *v = get(nz, "prepend");
		if (!cJSON_IsString(v))
			return ods_err_set(r->err, ODS_EFORMAT, "%s: %s.prepend must be a string",
					   r->path, key);
		st->kind = TOK_NORM_PREPEND;
		st->rep = ods_xstrdup(v->valuestring);
		st->n_rep = strlen(st->rep);
	} else {
		const cJSON *v = get(nz, "content");
		const char *pat = NULL;
		if ((rc = string_pattern(r, get(nz, "pattern"), key, &pat)))
			return rc;
		if (!cJSON_IsString(v))
			return ods_err_set(r->err, ODS_EFORMAT, "%s: %s.content must be a string",
					   r->path, key);
		st->kind = TOK_NORM_REPLACE;
		st->pat = ods_xstrdup(pat);
		st->n_pat = strlen(pat);
		st->rep = ods_xstrdup(v->valuestring);
		st->n_rep = strlen(st->rep);
		if (strcmp(pat, " ") == 0)
			set_space_rep(tok, st->rep);
	}
	tok->n_norm++;
	return 0;
}

static int add_bytelevel(struct jr *r, const cJSON *pt, const char *key)
{
	struct tok_stage *s = &r->tok->stage[r->tok->n_stages++];
	int use_regex = 1, rc;
	char sub[128];

	r->tok->byte_level = 1;
	s->add_prefix_space = 1; /* HF's default */
	if ((rc = get_bool(r, pt, "add_prefix_space", key, &s->add_prefix_space)) ||
	    (rc = get_bool(r, pt, "use_regex", key, &use_regex)))
		return rc;
	snprintf(sub, sizeof sub, "%s (ByteLevel regex)", key);
	return use_regex ? ods_tok_stage_regex(r->tok, s, gpt2_regex, 0, sub, r->err) : 0;
}

static int add_split(struct jr *r, const cJSON *pt, const char *key)
{
	static const char *const behaviors[] = { "Isolated", "Removed", "MergedWithPrevious",
						 "MergedWithNext", "Contiguous" };
	const cJSON *pat = get(pt, "pattern"), *beh = get(pt, "behavior"), *re, *str;
	struct tok_stage *s = &r->tok->stage[r->tok->n_stages];
	char sub[128];
	int b = 0, rc;

	if (cJSON_IsTrue(get(pt, "invert")))
		return ods_err_set(r->err, ODS_EUNSUPPORTED, "%s: %s.invert true is not supported",
				   r->path, key);
	if (!is_null(beh)) {
		for (b = 0; b < 5; b++)
			if (cJSON_IsString(beh) && strcmp(beh->valuestring, behaviors[b]) == 0)
				break;
		if (b == 5)
			return ods_err_set(r->err, ODS_EUNSUPPORTED,
					   "%s: %s.behavior '%s' is not supported", r->path, key,
					   cJSON_IsString(beh) ? beh->valuestring : "?");
	}
	re = get(pat, "Regex");
	str = get(pat, "String");
	snprintf(sub, sizeof sub, "%s.pattern", key);
	if (!cJSON_IsString(re) && !cJSON_IsString(str))
		return ods_err_set(r->err, ODS_EFORMAT,
				   "%s: %s must be {\"Regex\": ...} or {\"String\": ...}", r->path,
				   sub);
	r->tok->n_stages++;
	s->behavior = b;
	if (cJSON_IsString(str) && !str->valuestring[0])
		return 0; /* HF: an empty string never matches */
	if ((rc = ods_tok_stage_regex(r->tok, s, cJSON_IsString(re) ? re->valuestring
								 : str->valuestring,
				      !cJSON_IsString(re), sub, r->err)))
		return rc;
	if (b != TOK_SPLIT_ISOLATED && b != TOK_SPLIT_REMOVED) {
		uint32_t min = 1;
		pcre2_pattern_info(s->re, PCRE2_INFO_MINLENGTH, &min);
		if (min == 0) /* where HF's empty matches would count, we skip them */
			return ods_err_set(r->err, ODS_EUNSUPPORTED,
					   "%s: %s: a regex that matches the empty string is supported "
					   "only with behavior Isolated or Removed", r->path, sub);
	}
	return 0;
}

/* Metaspace (HF pre_tokenizers::metaspace): replacement, prepend_scheme
 * (default "always"; the older add_prefix_space false means "never"), split. */
static int add_metaspace(struct jr *r, const cJSON *pt, const char *key)
{
	struct tok_stage *s = &r->tok->stage[r->tok->n_stages];
	const cJSON *rep = get(pt, "replacement"), *sch = get(pt, "prepend_scheme");
	int split = 1, aps = 1, rc;
	size_t n;
	char sub[128];

	if (!cJSON_IsString(rep) || !(n = strlen(rep->valuestring)) || n > 4 ||
	    ods_utf8_valid_prefix(rep->valuestring, n) != n ||
	    n != ((uint8_t)rep->valuestring[0] < 0x80   ? 1u
		  : (uint8_t)rep->valuestring[0] < 0xe0 ? 2u
		  : (uint8_t)rep->valuestring[0] < 0xf0 ? 3u
							 : 4u))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: %s.replacement must be one character",
				   r->path, key);
	if ((rc = get_bool(r, pt, "split", key, &split)) ||
	    (rc = get_bool(r, pt, "add_prefix_space", key, &aps)))
		return rc;
	s->prepend = TOK_PREPEND_ALWAYS;
	if (!is_null(sch)) {
		const char *v = cJSON_IsString(sch) ? sch->valuestring : "?";
		if (strcmp(v, "always") == 0)
			s->prepend = TOK_PREPEND_ALWAYS;
		else if (strcmp(v, "first") == 0)
			s->prepend = TOK_PREPEND_FIRST;
		else if (strcmp(v, "never") == 0)
			s->prepend = TOK_PREPEND_NEVER;
		else
			return ods_err_set(r->err, ODS_EFORMAT,
					   "%s: %s.prepend_scheme '%s' is not 'always', 'first' or "
					   "'never'", r->path, key, v);
	}
	if (!aps && s->prepend != TOK_PREPEND_NEVER) /* as HF's deserializer */
		return ods_err_set(r->err, ODS_EFORMAT,
				   "%s: %s.add_prefix_space false does not match prepend_scheme",
				   r->path, key);
	r->tok->n_stages++;
	s->metaspace = 1;
	memcpy(s->rep, rep->valuestring, n + 1);
	s->n_rep = n;
	set_space_rep(r->tok, s->rep);
	s->behavior = TOK_SPLIT_MERGED_NEXT;
	snprintf(sub, sizeof sub, "%s.replacement", key);
	return split ? ods_tok_stage_regex(r->tok, s, s->rep, 1, sub, r->err) : 0;
}

/* One pre-tokenizer (not a Sequence) as the next stage. */
static int add_stage(struct jr *r, const cJSON *pt, const char *key)
{
	const cJSON *t = get(pt, "type");
	const char *ty = cJSON_IsString(t) ? t->valuestring : "?";

	if (r->tok->n_stages == TOK_MAX_STAGES)
		return ods_err_set(r->err, ODS_EUNSUPPORTED, "%s: %s: more than %d pre-tokenizers",
				   r->path, key, TOK_MAX_STAGES);
	if (strcmp(ty, "Split") == 0)
		return add_split(r, pt, key);
	if (strcmp(ty, "Metaspace") == 0)
		return add_metaspace(r, pt, key);
	if (strcmp(ty, "ByteLevel") == 0)
		return add_bytelevel(r, pt, key);
	return ods_err_set(r->err, ODS_EUNSUPPORTED,
			   "%s: %s.type '%s' is not supported (only ByteLevel, Metaspace, Split, "
			   "a Sequence of those, or null)", r->path, key, ty);
}

/* The pre-tokenizer: null (the model sees each normalized piece whole), one
 * stage, or a Sequence of stages with ByteLevel, if any, last. */
static int load_pre_tokenizer(struct jr *r, const cJSON *pt)
{
	const cJSON *t = get(pt, "type"), *e;
	char key[96];
	int i = 0, rc;

	if (is_null(pt))
		return 0;
	if (!(cJSON_IsString(t) && strcmp(t->valuestring, "Sequence") == 0))
		return add_stage(r, pt, "pre_tokenizer");
	if (!cJSON_IsArray(get(pt, "pretokenizers")))
		return ods_err_set(r->err, ODS_EFORMAT,
				   "%s: pre_tokenizer.pretokenizers must be an array", r->path);
	cJSON_ArrayForEach(e, get(pt, "pretokenizers")) {
		snprintf(key, sizeof key, "pre_tokenizer.pretokenizers[%d]", i++);
		if (r->tok->byte_level)
			return ods_err_set(r->err, ODS_EUNSUPPORTED,
					   "%s: %s: ByteLevel must be the last pre-tokenizer", r->path,
					   key);
		if ((rc = add_stage(r, e, key)))
			return rc;
	}
	return 0;
}

/* Append the ids of one SpecialToken of a TemplateProcessing. */
static int template_special(struct jr *r, const cJSON *specials, const cJSON *item,
			    const char *key, int32_t **ids, int *n)
{
	const cJSON *name = get(item, "id"), *sp, *e;

	if (!cJSON_IsString(name))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: %s.id must be a string", r->path, key);
	sp = get(specials, name->valuestring);
	if (!cJSON_IsArray(get(sp, "ids")))
		return ods_err_set(r->err, ODS_EFORMAT,
				   "%s: post_processor: special token '%s' has no ids in special_tokens",
				   r->path, name->valuestring);
	cJSON_ArrayForEach(e, get(sp, "ids")) {
		int32_t id = as_id(e);
		if (id < 0 || id >= r->tok->n_vocab)
			return ods_err_set(r->err, ODS_EFORMAT,
					   "%s: post_processor: special token '%s' has a bad id", r->path,
					   name->valuestring);
		*ids = ods_xrealloc(*ids, ((size_t)*n + 1) * sizeof **ids);
		(*ids)[(*n)++] = id;
	}
	return 0;
}

/* A [string, id] pair of RobertaProcessing / BertProcessing. */
static int pair_id(struct jr *r, const cJSON *pp, const char *name, const char *key,
		   int32_t **ids, int *n)
{
	const cJSON *v = get(pp, name);
	int32_t id = cJSON_IsArray(v) ? as_id(cJSON_GetArrayItem(v, 1)) : -1;

	if (id < 0 || id >= r->tok->n_vocab)
		return ods_err_set(r->err, ODS_EFORMAT, "%s: %s.%s must be [token, id]", r->path, key,
				   name);
	*ids = ods_xrealloc(*ids, ((size_t)*n + 1) * sizeof **ids);
	(*ids)[(*n)++] = id;
	return 0;
}

static int load_post_processor(struct jr *r, const cJSON *pp, const char *key)
{
	const cJSON *t = get(pp, "type"), *e;
	const char *ty = cJSON_IsString(t) ? t->valuestring : "?";
	struct ods_tok *tok = r->tok;
	char sub[128];
	int i = 0, rc, seen_seq = 0;

	if (is_null(pp) || strcmp(ty, "ByteLevel") == 0)
		return 0;
	if (strcmp(ty, "Sequence") == 0 && cJSON_IsArray(get(pp, "processors"))) {
		cJSON_ArrayForEach(e, get(pp, "processors")) {
			snprintf(sub, sizeof sub, "%s.processors[%d]", key, i++);
			if ((rc = load_post_processor(r, e, sub)))
				return rc;
		}
		return 0;
	}
	if (tok->n_pre || tok->n_post)
		return ods_err_set(r->err, ODS_EUNSUPPORTED,
				   "%s: %s: only one processor that adds tokens is supported", r->path,
				   key);
	if (strcmp(ty, "RobertaProcessing") == 0 || strcmp(ty, "BertProcessing") == 0) {
		if ((rc = pair_id(r, pp, "cls", key, &tok->pre_ids, &tok->n_pre)))
			return rc;
		return pair_id(r, pp, "sep", key, &tok->post_ids, &tok->n_post);
	}
	if (strcmp(ty, "TemplateProcessing") != 0)
		return ods_err_set(r->err, ODS_EUNSUPPORTED,
				   "%s: %s.type '%s' is not supported (only ByteLevel, "
				   "TemplateProcessing, RobertaProcessing, BertProcessing, Sequence)",
				   r->path, key, ty);
	if (!cJSON_IsArray(get(pp, "single")))
		return ods_err_set(r->err, ODS_EFORMAT, "%s: missing key '%s.single'", r->path, key);
	cJSON_ArrayForEach(e, get(pp, "single")) {
		const cJSON *st = get(e, "SpecialToken");
		snprintf(sub, sizeof sub, "%s.single[%d]", key, i++);
		if (get(e, "Sequence")) {
			seen_seq = 1;
		} else if (st) {
			rc = seen_seq ? template_special(r, get(pp, "special_tokens"), st, sub,
							 &tok->post_ids, &tok->n_post)
				      : template_special(r, get(pp, "special_tokens"), st, sub,
							 &tok->pre_ids, &tok->n_pre);
			if (rc)
				return rc;
		} else {
			return ods_err_set(r->err, ODS_EFORMAT,
					   "%s: %s must be a SpecialToken or a Sequence", r->path, sub);
		}
	}
	return 0;
}

/* tokenizer.json into a fresh tok (contract in tok_int.h). */
int ods_tok_load_json(struct ods_tok *tok, const char *path, struct ods_err *err)
{
	struct jr r = { tok, err, path };
	cJSON *root;
	int rc = parse_file(path, &root, err);

	if (rc)
		return rc;
	if (!cJSON_IsObject(root)) {
		rc = ods_err_set(err, ODS_EFORMAT, "%s: not a JSON object", path);
	} else if (!(rc = load_normalizer(&r, get(root, "normalizer"), "normalizer")) &&
		   !(rc = load_pre_tokenizer(&r, get(root, "pre_tokenizer"))) &&
		   !(rc = load_model(&r, get(root, "model"), get(root, "added_tokens"))) &&
		   !(rc = load_post_processor(&r, get(root, "post_processor"), "post_processor"))) {
		rc = ods_tok_finish(tok, err);
	}
	cJSON_Delete(root);
	return rc;
}

/* merges.txt: "a b" per line, an optional "#version" first line, blank lines skipped. */
static int load_merges_txt(struct jr *r, const char *path)
{
	char *data, *line, *buf = NULL, where[64];
	size_t len, cap = 0, n_lines = 1;
	int32_t rank = 0;
	int rc = ods_file_read(path, &data, &len, r->err), lineno = 0;

	if (rc)
		return rc;
	for (size_t i = 0; i < len; i++)
		n_lines += data[i] == '\n';
	ods_tok_merges_init(&r->tok->merges, n_lines);
	line = data;
	while (line < data + len) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line)), *end, *sp;
		end = nl ? nl : data + len;
		lineno++;
		if (end > line && end[-1] == '\r')
			end--;
		if (end > line && !(lineno == 1 && line[0] == '#' && !strncmp(line, "#version", 8))) {
			sp = memchr(line, ' ', (size_t)(end - line));
			snprintf(where, sizeof where, "line %d", lineno);
			if (!sp) {
				rc = ods_err_set(r->err, ODS_EFORMAT, "%s: line %d is not \"a b\"", path,
						 lineno);
				break;
			}
			r->path = path;
			rc = merge_add(r, line, (size_t)(sp - line), sp + 1, (size_t)(end - sp - 1), rank,
				       where, &buf, &cap);
			if (rc)
				break;
			rank++;
		}
		line = nl ? nl + 1 : data + len;
	}
	free(buf);
	free(data);
	return rc;
}

/* vocab.json + merges.txt into a fresh tok, GPT-2's pre-tokenizer and no
 * prefix space; "<|...|>" vocab entries are special tokens (contract in tok_int.h). */
int ods_tok_load_vm(struct ods_tok *tok, const char *vocab_path, const char *merges_path,
		    struct ods_err *err)
{
	struct jr r = { tok, err, vocab_path };
	const cJSON *e;
	cJSON *root;
	int32_t max = -1;
	int rc = parse_file(vocab_path, &root, err), n = 0;

	if (rc)
		return rc;
	if ((rc = vocab_max_id(&r, root, "vocabulary", &max)))
		goto out;
	ods_tok_alloc_ids(tok, max + 1);
	vocab_fill(tok, root);
	/* GPT-2 convention: "<|...|>" entries (<|endoftext|>) are special tokens. */
	cJSON_ArrayForEach(e, root) {
		size_t len = strlen(e->string);
		if (len > 4 && !strncmp(e->string, "<|", 2) && !strcmp(e->string + len - 2, "|>"))
			n++;
	}
	tok->added = ods_xcalloc((size_t)n + 1, sizeof *tok->added);
	cJSON_ArrayForEach(e, root) {
		size_t len = strlen(e->string);
		if (len > 4 && !strncmp(e->string, "<|", 2) && !strcmp(e->string + len - 2, "|>")) {
			struct tok_added *a = &tok->added[tok->n_added++];
			a->id = as_id(e);
			a->content = ods_xstrdup(e->string);
			a->len = len;
			a->special = 1;
		}
	}
	tok->byte_level = 1;
	tok->stage[0].add_prefix_space = 0;
	tok->n_stages = 1;
	if ((rc = ods_tok_stage_regex(tok, &tok->stage[0], gpt2_regex, 0, "ByteLevel regex", err)))
		goto out;
	if ((rc = load_merges_txt(&r, merges_path)))
		goto out;
	rc = ods_tok_finish(tok, err);
out:
	cJSON_Delete(root);
	return rc;
}
