/* test_tok.c - unit tests of the tokenizer (src/tok), run from the project root.
 *
 * Also a driver for tests/py/test_tok_npm.py, which compares against the
 * @huggingface/tokenizers reference:
 *   test_tok encode MODEL TEXTS [special]
 *                                 TEXTS holds records "<byte length>\n<text>";
 *                                 prints one line per text: the ids, space
 *                                 separated, or "ERR <message>"; "special"
 *                                 encodes with add_special
 *   test_tok bench MODEL FILE [N] encodes FILE N times (default 3), prints MB/s
 */
#include "odscope/tok.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "t.h"

#define TOKDIR T_FIXTURES "/tokenizers"
#define TMPDIR "tests/tmp/test_tok"
#define FUZZDIR "tests/fuzz/tok"

static int have(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		printf("  cannot write %s\n", path);
		return;
	}
	fwrite(data, 1, n, f);
	fclose(f);
}

static void mk_tmpdir(void)
{
	mkdir("tests/tmp", 0777);
	mkdir(TMPDIR, 0777);
}

/* Encode a NUL-terminated text; returns the ids (caller releases) or rc < 0 in *rc. */
static struct ods_ids enc(struct ods_tok *tok, const char *s, int add_special, int *rc,
			  struct ods_err *err)
{
	struct ods_ids ids = { 0 };
	*rc = ods_tok_encode(tok, s, strlen(s), add_special, &ids, err);
	return ids;
}

/* Do the ids equal the int list want[0..n)? */
static int ids_eq(const struct ods_ids *ids, const int32_t *want, size_t n)
{
	if (ids->n != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (ids->v[i] != want[i])
			return 0;
	return 1;
}

static void print_ids(const char *label, const struct ods_ids *ids)
{
	printf("  %s:", label);
	for (size_t i = 0; i < ids->n && i < 64; i++)
		printf(" %d", ids->v[i]);
	printf("\n");
}

/* Check every text of gpt2/vectors.inp against vectors.out; returns texts checked. */
static int check_vectors(struct ods_tok *tok, const char *what)
{
	char *inp = NULL, *outp = NULL, *p, *o;
	size_t ninp, nout;
	struct ods_err err;
	int n = 0;
	static const char sep[] = "\n__ggml_vocab_test__\n";

	if (ods_file_read(TOKDIR "/gpt2/vectors.inp", &inp, &ninp, &err) ||
	    ods_file_read(TOKDIR "/gpt2/vectors.out", &outp, &nout, &err)) {
		T_CHECK(0, "%s", err.msg);
		free(inp);
		return 0;
	}
	p = inp;
	o = outp;
	for (;;) {
		char *end = strstr(p, sep), *line_end, *q;
		struct ods_ids ids = { 0 }, want = { 0 };
		int rc;

		if (!end)
			break;
		line_end = strchr(o, '\n');
		if (!line_end) {
			T_CHECK(0, "vectors.out has fewer lines than vectors.inp has texts");
			break;
		}
		*line_end = 0;
		for (q = o; *q;) {
			char *e;
			long v = strtol(q, &e, 10);
			if (e == q)
				break;
			ods_ids_push(&want, (int32_t)v);
			q = e;
		}
		rc = ods_tok_encode(tok, p, (size_t)(end - p), 0, &ids, &err);
		T_CHECK(rc == 0, "%s: text %d: %s", what, n, err.msg);
		if (rc == 0 && !ids_eq(&ids, want.v, want.n)) {
			T_CHECK(0, "%s: text %d (%.*s) differs", what, n, (int)(end - p), p);
			print_ids("got ", &ids);
			print_ids("want", &want);
		}
		ods_ids_release(&ids);
		ods_ids_release(&want);
		n++;
		p = end + strlen(sep) - 1; /* the text starts after the separator line */
		if (*p == '\n')
			p++;
		o = line_end + 1;
	}
	free(inp);
	free(outp);
	return n;
}

static void test_gpt2_vectors_json(void)
{
	struct ods_tok *tok;
	struct ods_err err;
	int n;

	if (!have(TOKDIR "/gpt2/tokenizer.json")) {
		T_SKIP("fixture tokenizers/gpt2 not present");
		return;
	}
	T_CHECK(ods_tok_open_json(&tok, TOKDIR "/gpt2/tokenizer.json", &err) == 0, "%s", err.msg);
	if (!tok)
		return;
	n = check_vectors(tok, "tokenizer.json");
	T_CHECK(n == 46, "checked %d texts, expected 46", n);
	ods_tok_free(tok);
}

static void test_gpt2_vectors_vocab_merges(void)
{
	struct ods_tok *tok;
	struct ods_err err;
	int n;

	if (!have(TOKDIR "/gpt2/vocab.json")) {
		T_SKIP("fixture tokenizers/gpt2 not present");
		return;
	}
	T_CHECK(ods_tok_open_vocab_merges(&tok, TOKDIR "/gpt2/vocab.json", TOKDIR "/gpt2/merges.txt",
					  &err) == 0, "%s", err.msg);
	if (!tok)
		return;
	n = check_vectors(tok, "vocab.json+merges.txt");
	T_CHECK(n == 46, "checked %d texts, expected 46", n);
	ods_tok_free(tok);
}

/* ods_tok_open picks tokenizer.json in a directory, else vocab.json + merges.txt. */
static void test_open_dir(void)
{
	struct ods_tok *tok;
	struct ods_err err;
	char buf[4096];
	FILE *f;
	size_t n;

	if (!have(TOKDIR "/gpt2/vocab.json")) {
		T_SKIP("fixture tokenizers/gpt2 not present");
		return;
	}
	T_CHECK(ods_tok_open(&tok, TOKDIR "/gpt2", &err) == 0, "%s", err.msg);
	ods_tok_free(tok);

	/* a directory with only vocab.json + merges.txt (symlinks to the fixture) */
	mk_tmpdir();
	mkdir(TMPDIR "/vm", 0777);
	remove(TMPDIR "/vm/vocab.json");
	remove(TMPDIR "/vm/merges.txt");
	f = fopen(TOKDIR "/gpt2/merges.txt", "rb");
	T_CHECK(f != NULL, "cannot read merges.txt");
	if (!f)
		return;
	{
		FILE *g = fopen(TMPDIR "/vm/merges.txt", "wb");
		while (g && (n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, g);
		if (g)
			fclose(g);
	}
	fclose(f);
	T_CHECK(ods_tok_open(&tok, TMPDIR "/vm", &err) == ODS_ENOTFOUND, "vocab.json missing");
	T_CHECK(strstr(err.msg, "no tokenizer found") != NULL, "message: %s", err.msg);
	{
		char *v;
		size_t nv;
		if (ods_file_read(TOKDIR "/gpt2/vocab.json", &v, &nv, &err) == 0) {
			write_file(TMPDIR "/vm/vocab.json", v, nv);
			free(v);
		}
	}
	T_CHECK(ods_tok_open(&tok, TMPDIR "/vm", &err) == 0, "%s", err.msg);
	if (tok) {
		int rc;
		struct ods_ids ids = enc(tok, "Hello world", 0, &rc, &err);
		int32_t want[] = { 15496, 995 };
		T_CHECK(rc == 0 && ids_eq(&ids, want, 2), "Hello world via vocab+merges dir");
		ods_ids_release(&ids);
		ods_tok_free(tok);
	}
	T_CHECK(ods_tok_open(&tok, TMPDIR "/nonexistent", &err) == ODS_ENOTFOUND, "missing dir");
}

static struct ods_tok *open_gpt2(void)
{
	struct ods_tok *tok = NULL;
	struct ods_err err;

	if (!have(TOKDIR "/gpt2/tokenizer.json"))
		return NULL;
	if (ods_tok_open_json(&tok, TOKDIR "/gpt2/tokenizer.json", &err))
		T_CHECK(0, "%s", err.msg);
	return tok;
}

static void test_invalid_utf8(void)
{
	static const struct {
		const char *s;
		size_t n, off;
	} cases[] = {
		{ "abc\xff", 4, 3 },
		{ "\xc3", 1, 0 },                 /* truncated 2-byte sequence */
		{ "h\xc3\xa9llo \xe2\x82", 10, 7 },  /* truncated 3-byte sequence at the end */
		{ "ok \xc0\xaf", 5, 3 },          /* overlong */
		{ "x\xed\xa0\x80y", 5, 1 },       /* surrogate */
		{ "<|endoftext|>\x80", 14, 13 },  /* lone continuation byte after a special */
	};
	struct ods_tok *tok = open_gpt2();
	struct ods_err err;

	if (!tok) {
		T_SKIP("fixture tokenizers/gpt2 not present");
		return;
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ods_ids ids = { 0 };
		char want[64];
		int rc;

		ods_ids_push(&ids, 7); /* encode appends; on failure out is left as it was */
		rc = ods_tok_encode(tok, cases[i].s, cases[i].n, 0, &ids, &err);
		snprintf(want, sizeof want, "invalid UTF-8 at byte offset %zu", cases[i].off);
		T_CHECK(rc == ODS_EFORMAT, "case %zu: rc %d", i, rc);
		T_CHECK(rc != ODS_EFORMAT || strcmp(err.msg, want) == 0, "case %zu: '%s', want '%s'", i,
			err.msg, want);
		T_CHECK(ids.n == 1 && ids.v[0] == 7, "case %zu: out changed on failure", i);
		ods_ids_release(&ids);
	}
	ods_tok_free(tok);
}

static void test_empty_and_special(void)
{
	struct ods_tok *tok = open_gpt2();
	struct ods_err err;
	struct ods_ids ids;
	int rc;

	if (!tok) {
		T_SKIP("fixture tokenizers/gpt2 not present");
		return;
	}
	ids = enc(tok, "", 0, &rc, &err);
	T_CHECK(rc == 0 && ids.n == 0, "empty text gives %zu ids", ids.n);
	ods_ids_release(&ids);
	ids = enc(tok, "", 1, &rc, &err);
	T_CHECK(rc == 0 && ids.n == 0, "GPT-2 adds no special tokens (%zu ids)", ids.n);
	ods_ids_release(&ids);

	ids = enc(tok, "<|endoftext|>", 0, &rc, &err);
	T_CHECK(rc == 0 && ids.n == 1 && ids.v[0] == 50256, "<|endoftext|> alone");
	ods_ids_release(&ids);
	{
		int32_t want[] = { 15496, 50256, 995, 50256, 50256 };
		ids = enc(tok, "Hello<|endoftext|> world<|endoftext|><|endoftext|>", 1, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want, 5), "<|endoftext|> inside text");
		if (!ids_eq(&ids, want, 5))
			print_ids("got", &ids);
		ods_ids_release(&ids);
	}
	{
		/* a partial special is plain text */
		int32_t want[] = { 27, 91, 437, 1659, 5239 };
		ids = enc(tok, "<|endoftext", 0, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want, 5), "partial special");
		if (!ids_eq(&ids, want, 5))
			print_ids("got", &ids);
		ods_ids_release(&ids);
	}
	{
		/* NUL bytes and control characters are ordinary bytes */
		static const char s[] = "a\0b";
		int32_t want[] = { 64, 188, 65 };
		ids = (struct ods_ids){ 0 };
		rc = ods_tok_encode(tok, s, 3, 0, &ids, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want, 3), "text with a NUL byte");
		if (!ids_eq(&ids, want, 3))
			print_ids("got", &ids);
		ods_ids_release(&ids);
	}
	ods_tok_free(tok);
}

static void test_piece_bytes(void)
{
	struct ods_tok *tok = open_gpt2();
	char buf[64];
	int n;

	if (!tok) {
		T_SKIP("fixture tokenizers/gpt2 not present");
		return;
	}
	T_CHECK(ods_tok_n_vocab(tok) == 50257, "n_vocab %d", ods_tok_n_vocab(tok));
	T_CHECK(strcmp(ods_tok_kind(tok), "byte-level BPE") == 0, "kind");
	T_CHECK(ods_tok_piece(tok, 262) && strcmp(ods_tok_piece(tok, 262), "\xc4\xa0the") == 0,
		"piece 262 is 'Ġthe'");
	T_CHECK(ods_tok_piece(tok, 50256) && strcmp(ods_tok_piece(tok, 50256), "<|endoftext|>") == 0,
		"piece 50256");
	T_CHECK(ods_tok_piece(tok, 50257) == NULL && ods_tok_piece(tok, -1) == NULL, "out of range");
	n = ods_tok_bytes(tok, 262, buf, sizeof buf);
	T_CHECK(n == 4 && memcmp(buf, " the", 4) == 0, "bytes of 262: %d", n);
	n = ods_tok_bytes(tok, 198, buf, sizeof buf);
	T_CHECK(n == 1 && buf[0] == '\n', "bytes of 198 (newline): %d", n);
	n = ods_tok_bytes(tok, 50256, buf, sizeof buf);
	T_CHECK(n == 13 && memcmp(buf, "<|endoftext|>", 13) == 0, "bytes of 50256");
	T_CHECK(ods_tok_bytes(tok, 99999, buf, sizeof buf) == -1, "bytes of an unused id");
	/* every id decodes, and the bytes of a text's ids give the text back */
	{
		static const char text[] = "Caf\xc3\xa9 \xf0\x9f\x98\x80 na\xc3\xafve\n\tx  y";
		struct ods_err err;
		struct ods_ids ids = { 0 };
		char back[256];
		size_t len = 0;
		int rc = ods_tok_encode(tok, text, strlen(text), 0, &ids, &err);
		T_CHECK(rc == 0, "%s", err.msg);
		for (size_t i = 0; i < ids.n; i++) {
			int k = ods_tok_bytes(tok, ids.v[i], back + len, sizeof back - len);
			T_CHECK(k >= 0, "id %d", ids.v[i]);
			len += k > 0 ? (size_t)k : 0;
		}
		T_CHECK(len == strlen(text) && memcmp(back, text, len) == 0, "round trip");
		ods_ids_release(&ids);
	}
	ods_tok_free(tok);
}

/* Open a tokenizer.json written from `json`; returns rc, err filled. */
static int open_text(const char *name, const char *json, size_t n, struct ods_tok **tok,
		     struct ods_err *err)
{
	char path[256];

	mk_tmpdir();
	snprintf(path, sizeof path, TMPDIR "/%s", name);
	write_file(path, json, n);
	return ods_tok_open_json(tok, path, err);
}

static void test_malformed(void)
{
	struct ods_tok *tok;
	struct ods_err err;
	char *data;
	size_t n;
	int rc;

	/* truncated real file */
	if (have(TOKDIR "/gpt2/tokenizer.json") &&
	    ods_file_read(TOKDIR "/gpt2/tokenizer.json", &data, &n, &err) == 0) {
		rc = open_text("truncated.json", data, n / 2, &tok, &err);
		T_CHECK(rc == ODS_EFORMAT && tok == NULL, "truncated: rc %d", rc);
		T_CHECK(strstr(err.msg, "truncated.json: malformed JSON near byte ") != NULL, "%s",
			err.msg);
		free(data);
	}
	rc = open_text("bad.json", "{\"model\": [1, 2,, 3]}", 21, &tok, &err);
	T_CHECK(rc == ODS_EFORMAT && tok == NULL, "bad json: rc %d", rc);
	T_CHECK(strstr(err.msg, "bad.json: malformed JSON near byte 16") != NULL, "%s", err.msg);

	{
		static const char j[] = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, "
					"\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
		rc = open_text("wordpiece.json", j, sizeof j - 1, &tok, &err);
		T_CHECK(rc == ODS_EUNSUPPORTED && tok == NULL, "wrong model type: rc %d", rc);
		T_CHECK(strstr(err.msg, "wordpiece.json: model.type 'WordPiece'") != NULL, "%s", err.msg);
	}
	{
		static const char j[] = "{\"model\": {\"type\": \"BPE\", \"merges\": []}, "
					"\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
		rc = open_text("novocab.json", j, sizeof j - 1, &tok, &err);
		T_CHECK(rc == ODS_EFORMAT && tok == NULL, "missing vocab: rc %d", rc);
		T_CHECK(strstr(err.msg, "novocab.json: missing key 'model.vocab'") != NULL, "%s",
			err.msg);
	}
	{
		static const char j[] = "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
		rc = open_text("nomodel.json", j, sizeof j - 1, &tok, &err);
		T_CHECK(rc == ODS_EFORMAT && strstr(err.msg, "missing key 'model'"), "%s", err.msg);
	}
	{
		static const char j[] = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
					" \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
		rc = open_text("badmerge.json", j, sizeof j - 1, &tok, &err);
		T_CHECK(rc == ODS_EFORMAT && strstr(err.msg, "model.merges[0]: 'ab' is not in the vocabulary"),
			"%s", err.msg);
	}
	{
		static const char j[] = "{\"normalizer\": {\"type\": \"Lowercase\"}, \"model\": {\"type\": "
					"\"BPE\", \"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": "
					"{\"type\": \"ByteLevel\"}}";
		rc = open_text("lower.json", j, sizeof j - 1, &tok, &err);
		T_CHECK(rc == ODS_EUNSUPPORTED && strstr(err.msg, "lower.json: normalizer.type 'Lowercase'"),
			"%s", err.msg);
	}
	{
		static const char j[] = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, "
					"\"pre_tokenizer\": {\"type\": \"Whitespace\"}}";
		rc = open_text("ws.json", j, sizeof j - 1, &tok, &err);
		T_CHECK(rc == ODS_EUNSUPPORTED && strstr(err.msg, "ws.json: pre_tokenizer.type 'Whitespace'"),
			"%s", err.msg);
	}
	{
		static const char j[] = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, "
					"\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
					"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(?<x\"}, "
					"\"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\"}]}}";
		rc = open_text("badre.json", j, sizeof j - 1, &tok, &err);
		T_CHECK(rc == ODS_EUNSUPPORTED &&
			strstr(err.msg, "pre_tokenizer.pretokenizers[0].pattern: regex not supported"),
			"%s", err.msg);
	}
	T_CHECK(ods_tok_open_json(&tok, TMPDIR "/does-not-exist.json", &err) == ODS_EIO &&
		tok == NULL, "%s", err.msg);
}

/* The GPT-2 byte alphabet, to write small synthetic tokenizers. */
static unsigned byte_cp(unsigned b)
{
	if (b <= 0x20)
		return 256 + b;
	if (b >= 0x7f && b <= 0xa0)
		return 256 + 33 + (b - 0x7f);
	if (b == 0xad)
		return 256 + 33 + 34;
	return b;
}

/* JSON text of a byte-level tokenizer (malloc'd): the 256 byte pieces (id =
 * byte), "Ġt" 256, "he" 257, "Ġthe" 258, "<s>" 259, "</s>" 260; `merges` is
 * the model.merges JSON, `rest` more top-level members. */
static char *synth_json(const char *merges, const char *rest)
{
	size_t cap = 65536, n = 0;
	char *j = malloc(cap);

	n += (size_t)snprintf(j + n, cap - n, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
	for (unsigned b = 0; b < 256; b++) {
		unsigned cp = byte_cp(b);
		char s[8];
		if (cp == '"' || cp == '\\')
			snprintf(s, sizeof s, "\\%c", (char)cp);
		else if (cp < 0x80)
			snprintf(s, sizeof s, "%c", (char)cp);
		else
			snprintf(s, sizeof s, "%c%c", (char)(0xc0 | cp >> 6), (char)(0x80 | (cp & 0x3f)));
		n += (size_t)snprintf(j + n, cap - n, "\"%s\": %u, ", s, b);
	}
	n += (size_t)snprintf(j + n, cap - n,
			      "\"\xc4\xa0t\": 256, \"he\": 257, \"\xc4\xa0the\": 258, "
			      "\"<s>\": 259, \"</s>\": 260}, \"merges\": %s}, %s}",
			      merges, rest);
	return j;
}

static void test_synthetic(void)
{
	struct ods_tok *tok;
	struct ods_err err;
	struct ods_ids ids;
	char *j;
	int rc;

	/* merges as arrays; lstrip/rstrip added tokens; TemplateProcessing */
	j = synth_json("[[\"\xc4\xa0\", \"t\"], [\"h\", \"e\"], [\"\xc4\xa0t\", \"he\"]]",
		       "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
		       "\"added_tokens\": ["
		       "{\"id\": 259, \"content\": \"<s>\", \"special\": true, \"rstrip\": true},"
		       "{\"id\": 260, \"content\": \"</s>\", \"special\": true, \"lstrip\": true},"
		       "{\"id\": 261, \"content\": \"<mask>\", \"special\": true, \"single_word\": true}],"
		       "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": ["
		       "{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}},"
		       "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
		       "{\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}],"
		       "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [259], \"tokens\": [\"<s>\"]},"
		       "\"</s>\": {\"id\": \"</s>\", \"ids\": [260], \"tokens\": [\"</s>\"]}}}");
	rc = open_text("synth.json", j, strlen(j), &tok, &err);
	free(j);
	T_CHECK(rc == 0, "%s", err.msg);
	if (rc)
		return;
	T_CHECK(ods_tok_n_vocab(tok) == 262, "n_vocab %d", ods_tok_n_vocab(tok));
	{
		int32_t want[] = { 258, 'x' };
		ids = enc(tok, " thex", 0, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want, 2), "merges as arrays");
		ods_ids_release(&ids);
	}
	{
		/* <s> eats the spaces after it, </s> the spaces before it */
		int32_t want[] = { 259, 't', 260, 256, 'x' };
		ids = enc(tok, "<s>  t  </s> tx", 0, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want, 5), "lstrip/rstrip");
		if (!ids_eq(&ids, want, 5))
			print_ids("got", &ids);
		ods_ids_release(&ids);
	}
	{
		int32_t want[] = { 259, 258, 260 };
		ids = enc(tok, " the", 1, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want, 3), "TemplateProcessing with add_special");
		ods_ids_release(&ids);
	}
	{
		/* single_word: only between non-word characters */
		int32_t want[] = { 261, ' ', 'a', '<', 'm', 'a', 's', 'k', '>' };
		ids = enc(tok, "<mask> a<mask>", 0, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want, 9), "single_word");
		if (!ids_eq(&ids, want, 9))
			print_ids("got", &ids);
		ods_ids_release(&ids);
	}
	{
		char buf[8];
		T_CHECK(ods_tok_bytes(tok, 261, buf, sizeof buf) == 6 && !memcmp(buf, "<mask>", 6),
			"bytes of an added token outside the vocab");
		T_CHECK(ods_tok_piece(tok, 261) && !strcmp(ods_tok_piece(tok, 261), "<mask>"),
			"piece of an added token");
	}
	ods_tok_free(tok);

	/* Sequence of Split (String pattern) + ByteLevel with prefix space, ignore_merges */
	j = synth_json("[\"\xc4\xa0 t\", \"h e\"]",
		       "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
		       "{\"type\": \"Split\", \"pattern\": {\"String\": \"|\"}, \"behavior\": \"Isolated\","
		       " \"invert\": false},"
		       "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": false}]},"
		       "\"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 260],"
		       " \"cls\": [\"<s>\", 259]}");
	j[strlen(j) - 1] = 0;
	{
		/* ignore_merges: " the" is in the vocab though its merges would not build it */
		size_t len = strlen(j);
		char *k = malloc(len + 64);
		char *at = strstr(j, "\"merges\"");
		memcpy(k, j, (size_t)(at - j));
		strcpy(k + (at - j), "\"ignore_merges\": true, ");
		strcat(k, at);
		strcat(k, "}");
		free(j);
		j = k;
	}
	rc = open_text("synth2.json", j, strlen(j), &tok, &err);
	free(j);
	T_CHECK(rc == 0, "%s", err.msg);
	if (rc)
		return;
	{
		/* pieces "the", "|", "x y": each gets a prefix space ("|" too);
		 * " the" comes whole from the vocab (ignore_merges) */
		int32_t w[] = { 259, 258, ' ', '|', ' ', 'x', ' ', 'y', 260 };
		ids = enc(tok, "the|x y", 1, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, w, 9), "Split String + ByteLevel prefix space");
		if (!ids_eq(&ids, w, 9))
			print_ids("got", &ids);
		ods_ids_release(&ids);
	}
	ods_tok_free(tok);
}

/* A fixture tokenizer and a few texts with ids from @huggingface/tokenizers. */
static void check_fixture(const char *name, const char *const *texts, const int32_t *const *want,
			  const size_t *n_want, size_t n_texts, int add_special)
{
	char path[512];
	struct ods_tok *tok;
	struct ods_err err;

	snprintf(path, sizeof path, TOKDIR "/%s/tokenizer.json", name);
	if (!have(path)) {
		T_SKIP("fixture tokenizers/%s not present", name);
		return;
	}
	T_CHECK(ods_tok_open_json(&tok, path, &err) == 0, "%s", err.msg);
	if (!tok)
		return;
	for (size_t i = 0; i < n_texts; i++) {
		int rc;
		struct ods_ids ids = enc(tok, texts[i], add_special, &rc, &err);
		T_CHECK(rc == 0 && ids_eq(&ids, want[i], n_want[i]), "%s: text %zu '%s'", name, i,
			texts[i]);
		if (!ids_eq(&ids, want[i], n_want[i]))
			print_ids("got", &ids);
		ods_ids_release(&ids);
	}
	ods_tok_free(tok);
}

/* gpt-neox-20b: texts and their ids from @huggingface/tokenizers 0.2.0 (HF's Rust
 * tokenizers 0.22 agrees) */
static const char *const neox_texts[] = {
	"Hello world",
	"Cafe\314\201 na\303\257ve r\303\251sum\303\251",
	"def f(x):\n        return x  # 8 spaces",
	"<|endoftext|>x<|unk|>",
	"\352\260\200\341\204\200\341\205\241\341\206\250 \342\204\253 \341\272\233\314\243",
	"tabs\t\t\tand   spaces    end",
};
static const int32_t neox_w0[] = { 12092, 1533 };
static const int32_t neox_w1[] = { 36, 2320, 860, 36060, 9568, 2204, 860 };
static const int32_t neox_w2[] = {
	1545, 269, 9, 89, 2262, 187, 50270, 2309, 1269, 50276, 4, 854, 8470,
};
static const int32_t neox_w3[] = { 0, 89, 1 };
static const int32_t neox_w4[] = { 35061, 26532, 212, 17732, 209, 9702, 238, 136, 98 };
static const int32_t neox_w5[] = { 33754, 623, 186, 395, 50275, 31748, 50274, 423 };
static const int32_t *const neox_ids[] = { neox_w0, neox_w1, neox_w2, neox_w3, neox_w4, neox_w5 };
static const size_t neox_n[] = { 2, 7, 13, 3, 9, 8 };

/* llama-3: texts and their ids from @huggingface/tokenizers 0.2.0 (HF's Rust
 * tokenizers 0.22 agrees) */
static const char *const llama3_texts[] = {
	"Hello world",
	"I'M sure they'LL say 12345678 ok",
	"\320\241\320\260\320\274\320\276\320\273\321\221\321\202 "
	"\344\275\240\345\245\275\344\270\226\347\225\214",
	"line1\n\n  line2\015\n\tx",
	"<|begin_of_text|>hi<|eot_id|>",
	"    indented\n        code()",
	"\360\237\230\200\360\237\230\201 emoji!!",
};
static const int32_t llama3_w0[] = { 9906, 1917 };
static const int32_t llama3_w1[] = {
	40, 28703, 2771, 814, 6, 4178, 2019, 220, 4513, 10961, 2495, 5509,
};
static const int32_t llama3_w2[] = { 120431, 7975, 106822, 118195, 53901, 102616 };
static const int32_t llama3_w3[] = { 1074, 16, 271, 220, 1584, 17, 319, 10436 };
static const int32_t llama3_w4[] = { 128000, 6151, 128009 };
static const int32_t llama3_w5[] = { 262, 1280, 16243, 198, 286, 2082, 368 };
static const int32_t llama3_w6[] = { 76460, 222, 76460, 223, 43465, 3001 };
static const int32_t *const llama3_ids[] = {
	llama3_w0, llama3_w1, llama3_w2, llama3_w3, llama3_w4, llama3_w5, llama3_w6,
};
static const size_t llama3_n[] = { 2, 12, 6, 8, 3, 7, 6 };

static void test_gpt_neox(void)
{
	check_fixture("gpt-neox-20b", neox_texts, neox_ids, neox_n, sizeof neox_n / sizeof neox_n[0],
		      0);
}

static void test_llama3(void)
{
	check_fixture("llama-3", llama3_texts, llama3_ids, llama3_n,
		      sizeof llama3_n / sizeof llama3_n[0], 0);
}

static void test_llama3_add_special(void)
{
	static const char *const texts[] = { "Hello world" };
	static const int32_t w0[] = { 128000, 9906, 1917 };
	static const int32_t *const want[] = { w0 };
	static const size_t n[] = { 3 };
	check_fixture("llama-3", texts, want, n, 1, 1);
}

/* ---- SentencePiece-style BPE (expected ids from HF's Rust tokenizers 0.22) ---- */

#define MS "\xe2\x96\x81" /* the metaspace U+2581 */
#define SP_MODEL "\"unk_token\": \"<unk>\", \"fuse_unk\": true, \"byte_fallback\": true"
#define SP_MERGES "[\"" MS " a\", \"a b\", \"" MS "a b\", \"" MS " " MS "\"]"
#define SP_LLAMA                                                                                   \
	"\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", "        \
	"\"prepend\": \"" MS "\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, "        \
	"\"content\": \"" MS "\"}]}, \"pre_tokenizer\": null"

/* JSON text (malloc'd) of a small SentencePiece-style BPE tokenizer laid out as
 * HF's converter writes Llama-2's: added tokens <unk> 0, <s> 1, </s> 2 (and
 * `added`, a JSON fragment or ""); byte tokens <0xNN> at 3 + NN for the first
 * n_bytes bytes; "▁" 259, "a" 260, "b" 261, "▁a" 262, "ab" 263, "▁ab" 264,
 * "c" 265, "é" 266, "▁▁" 267, "a▁" 268; model members `model`, `merges`;
 * `pipe` the normalizer and pre_tokenizer members; BOS <s> by TemplateProcessing. */
static char *sp_json(int n_bytes, const char *model, const char *merges, const char *pipe,
		     const char *added)
{
	static const char *const pieces[] = { MS, "a", "b", MS "a", "ab", MS "ab", "c", "\xc3\xa9",
					      MS MS, "a" MS };
	size_t cap = 65536, n = 0;
	char *j = malloc(cap);

	n += (size_t)snprintf(j + n, cap - n, "{\"added_tokens\": [");
	for (int i = 0; i < 3; i++)
		n += (size_t)snprintf(j + n, cap - n,
				      "%s{\"id\": %d, \"content\": \"%s\", \"special\": true, "
				      "\"normalized\": false}",
				      i ? ", " : "", i, (const char *[]){ "<unk>", "<s>", "</s>" }[i]);
	n += (size_t)snprintf(j + n, cap - n, "%s%s], %s, \"post_processor\": {\"type\": "
			      "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}, "
			      "{\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"id\": "
			      "\"<s>\", \"ids\": [1], \"tokens\": [\"<s>\"]}}}, \"model\": {\"type\": "
			      "\"BPE\", %s, \"merges\": %s, \"vocab\": {\"<unk>\": 0, \"<s>\": 1, "
			      "\"</s>\": 2",
			      added[0] ? ", " : "", added, pipe, model, merges);
	for (int b = 0; b < n_bytes; b++)
		n += (size_t)snprintf(j + n, cap - n, ", \"<0x%02X>\": %d", (unsigned)b, 3 + b);
	for (int i = 0; i < 10; i++)
		n += (size_t)snprintf(j + n, cap - n, ", \"%s\": %d", pieces[i], 259 + i);
	snprintf(j + n, cap - n, "}}}");
	return j;
}

/* Open sp_json(...) as tests/tmp/test_tok/<name>; NULL (check failed) on error. */
static struct ods_tok *sp_open(const char *name, int n_bytes, const char *model,
			       const char *merges, const char *pipe, const char *added)
{
	struct ods_tok *tok = NULL;
	struct ods_err err;
	char *j = sp_json(n_bytes, model, merges, pipe, added);
	int rc = open_text(name, j, strlen(j), &tok, &err);

	free(j);
	T_CHECK(rc == 0, "%s: %s", name, err.msg);
	return tok;
}

/* Encode text (add_special) and compare with want[0..n). */
static void check_ids(struct ods_tok *tok, const char *what, const char *text, int add_special,
		      const int32_t *want, size_t n)
{
	struct ods_err err;
	int rc;
	struct ods_ids ids = enc(tok, text, add_special, &rc, &err);

	T_CHECK(rc == 0, "%s '%s': %s", what, text, err.msg);
	if (rc == 0 && !ids_eq(&ids, want, n)) {
		T_CHECK(0, "%s: '%s'%s differs", what, text, add_special ? " (special)" : "");
		print_ids("got ", &ids);
	}
	ods_ids_release(&ids);
}

#define CHECK_IDS(tok, what, text, special, ...)                                                   \
	do {                                                                                       \
		static const int32_t w_[] = { __VA_ARGS__ };                                       \
		check_ids(tok, what, text, special, w_, sizeof w_ / sizeof w_[0]);                 \
	} while (0)
#define CHECK_NONE(tok, what, text, special) check_ids(tok, what, text, special, NULL, 0)

/* Llama-2 layout: Prepend + Replace normalizer, byte_fallback, fused unk, BOS. */
static void test_sp_llama_style(void)
{
	struct ods_tok *tok = sp_open("sp_llama.json", 256, SP_MODEL, SP_MERGES, SP_LLAMA, "");
	char buf[16];

	if (!tok)
		return;
	T_CHECK(strcmp(ods_tok_kind(tok), "SentencePiece-style BPE") == 0, "kind %s",
		ods_tok_kind(tok));
	CHECK_NONE(tok, "empty", "", 0);
	CHECK_IDS(tok, "empty", "", 1, 1);
	CHECK_IDS(tok, "merges", "ab", 0, 264);
	CHECK_IDS(tok, "merges", "ab", 1, 1, 264);
	CHECK_IDS(tok, "only spaces", " ", 0, 267);
	CHECK_IDS(tok, "only spaces", "  ", 0, 267, 259);
	CHECK_IDS(tok, "byte fallback", "x", 0, 259, 3 + 'x');
	CHECK_IDS(tok, "lone byte-fallback char", "\xe2\x82\xac", 0, 259, 3 + 0xe2, 3 + 0x82,
		  3 + 0xac);
	CHECK_IDS(tok, "two-byte char in the vocab", "\xc3\xa9", 0, 259, 266);
	CHECK_IDS(tok, "a special token, then a prefix space", "<s>ab", 0, 1, 264);
	CHECK_IDS(tok, "mixed", "ab c\xe2\x82\xac", 0, 264, 259, 265, 3 + 0xe2, 3 + 0x82, 3 + 0xac);
	CHECK_IDS(tok, "space runs", "a  ab", 0, 262, 259, 264);
	/* the bytes of a token: the metaspace is a space, <0xNN> the byte */
	T_CHECK(ods_tok_bytes(tok, 262, buf, sizeof buf) == 2 && !memcmp(buf, " a", 2), "bytes 262");
	T_CHECK(ods_tok_bytes(tok, 267, buf, sizeof buf) == 2 && !memcmp(buf, "  ", 2), "bytes 267");
	T_CHECK(ods_tok_bytes(tok, 3 + 0x0a, buf, sizeof buf) == 1 && buf[0] == '\n', "bytes <0x0A>");
	T_CHECK(ods_tok_bytes(tok, 3 + 0xe2, buf, sizeof buf) == 1 && buf[0] == '\xe2', "bytes <0xE2>");
	T_CHECK(ods_tok_bytes(tok, 1, buf, sizeof buf) == 3 && !memcmp(buf, "<s>", 3), "bytes <s>");
	T_CHECK(ods_tok_piece(tok, 262) && !strcmp(ods_tok_piece(tok, 262), MS "a"), "piece 262");
	{
		/* the ids' bytes give " " + the text back */
		static const char text[] = "ab c\xe2\x82\xac\n\ta  b\xc3\xa9x";
		struct ods_err err;
		int rc;
		struct ods_ids ids = enc(tok, text, 0, &rc, &err);
		char back[128] = " ";
		size_t len = 1;
		for (size_t i = 0; rc == 0 && i < ids.n; i++) {
			int k = ods_tok_bytes(tok, ids.v[i], back + len, sizeof back - len);
			len += k > 0 ? (size_t)k : 0;
		}
		T_CHECK(rc == 0 && len == strlen(text) + 2 && !memcmp(back + 2, text, len - 2),
			"round trip");
		ods_ids_release(&ids);
	}
	ods_tok_free(tok);
}

/* Unknown characters: unk fused or not, no unk token, byte tokens for some bytes only. */
static void test_sp_unknown(void)
{
	struct ods_tok *tok;

	/* no byte_fallback, fuse_unk */
	tok = sp_open("sp_fuse.json", 0, "\"unk_token\": \"<unk>\", \"fuse_unk\": true", SP_MERGES,
		      SP_LLAMA, "");
	if (tok) {
		CHECK_IDS(tok, "fused unk", "axxb", 0, 262, 0, 261);
		CHECK_IDS(tok, "fused unk", "xx", 0, 259, 0);
		CHECK_IDS(tok, "fused unk", "\xe2\x82\xac" "ab", 0, 259, 0, 263);
		T_CHECK(strcmp(ods_tok_kind(tok), "SentencePiece-style BPE") == 0, "kind");
		ods_tok_free(tok);
	}
	tok = sp_open("sp_nofuse.json", 0, "\"unk_token\": \"<unk>\", \"fuse_unk\": false",
		      SP_MERGES, SP_LLAMA, "");
	if (tok) {
		CHECK_IDS(tok, "unk per character", "axxb", 0, 262, 0, 0, 261);
		CHECK_IDS(tok, "unk per character", "xx", 0, 259, 0, 0);
		ods_tok_free(tok);
	}
	/* no unk token: unknown characters are dropped (and their neighbours merge) */
	tok = sp_open("sp_nounk.json", 0, "\"unk_token\": null", SP_MERGES, SP_LLAMA, "");
	if (tok) {
		CHECK_IDS(tok, "dropped", "axxb", 0, 264);
		CHECK_IDS(tok, "dropped", "xx", 0, 259);
		ods_tok_free(tok);
	}
	/* byte tokens for ASCII only: "€" falls to unk, and (as in HF) a pending
	 * unk is written after the byte tokens of a later character */
	tok = sp_open("sp_partial.json", 128, SP_MODEL, SP_MERGES, SP_LLAMA, "");
	if (tok) {
		CHECK_IDS(tok, "partial bytes", "\xe2\x82\xacx", 0, 259, 3 + 'x', 0);
		CHECK_IDS(tok, "partial bytes", "\xe2\x82\xac\xe2\x82\xacx\xe2\x82\xac", 0, 259, 3 + 'x',
			  0);
		CHECK_IDS(tok, "partial bytes", "x\xe2\x82\xac" "a", 0, 259, 3 + 'x', 0, 260);
		ods_tok_free(tok);
	}
	tok = sp_open("sp_partial_nofuse.json", 128,
		      "\"unk_token\": \"<unk>\", \"byte_fallback\": true", SP_MERGES, SP_LLAMA, "");
	if (tok) {
		CHECK_IDS(tok, "partial bytes, unfused", "\xe2\x82\xac\xe2\x82\xacx\xe2\x82\xac", 0,
			  259, 0, 3 + 'x', 0, 0);
		ods_tok_free(tok);
	}
}

/* The Metaspace pre-tokenizer of newer Llama/Mistral files (normalizer null). */
static void test_sp_metaspace(void)
{
	struct ods_tok *tok;

	tok = sp_open("sp_ms_first.json", 256, SP_MODEL, SP_MERGES,
		      "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
		      "\"replacement\": \"" MS "\", \"prepend_scheme\": \"first\", \"split\": false}",
		      "");
	if (tok) {
		/* only the text's first piece gets the metaspace */
		CHECK_IDS(tok, "first", "<s>ab", 0, 1, 263);
		CHECK_IDS(tok, "first", "ab", 0, 264);
		CHECK_IDS(tok, "first", "ab", 1, 1, 264);
		CHECK_IDS(tok, "first", "ab<s>ab", 0, 264, 1, 263);
		CHECK_IDS(tok, "first", " ab", 0, 264);
		CHECK_IDS(tok, "first", "a  ab", 0, 262, 259, 264);
		CHECK_NONE(tok, "first", "", 0);
		ods_tok_free(tok);
	}
	tok = sp_open("sp_ms_always.json", 256, SP_MODEL, SP_MERGES,
		      "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
		      "\"replacement\": \"" MS "\", \"prepend_scheme\": \"always\", \"split\": true}",
		      "");
	if (tok) {
		CHECK_IDS(tok, "always", "<s>ab", 0, 1, 264);
		CHECK_IDS(tok, "always", "ab<s>ab", 0, 264, 1, 264);
		CHECK_IDS(tok, "always, split", "a  ab", 0, 262, 259, 264);
		ods_tok_free(tok);
	}
	tok = sp_open("sp_ms_never.json", 256, SP_MODEL, SP_MERGES,
		      "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
		      "\"replacement\": \"" MS "\", \"prepend_scheme\": \"never\"}",
		      "");
	if (tok) {
		CHECK_IDS(tok, "never", "<s>ab", 0, 1, 263);
		CHECK_IDS(tok, "never", "ab", 0, 263);
		CHECK_IDS(tok, "never", "a  ab", 0, 260, 259, 264);
		ods_tok_free(tok);
	}
	/* the older spelling: add_prefix_space true is "always" */
	tok = sp_open("sp_ms_legacy.json", 256, SP_MODEL, SP_MERGES,
		      "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
		      "\"replacement\": \"" MS "\", \"add_prefix_space\": true, \"str_rep\": \"" MS "\"}",
		      "");
	if (tok) {
		CHECK_IDS(tok, "legacy", "<s>ab", 0, 1, 264);
		ods_tok_free(tok);
	}
}

/* A normalized added token is matched in normalized text: its content goes
 * through the normalizer too (Prepend included, as in HF). */
static void test_sp_added_normalized(void)
{
	struct ods_tok *tok = sp_open("sp_added.json", 256, SP_MODEL, SP_MERGES, SP_LLAMA,
				      "{\"id\": 269, \"content\": \"a b\", \"special\": false, "
				      "\"normalized\": true}");
	char buf[8];

	if (!tok)
		return;
	CHECK_IDS(tok, "normalized added", "x a b", 0, 259, 3 + 'x', 269);
	CHECK_IDS(tok, "normalized added", "xa b", 0, 259, 3 + 'x', 260, 259, 261);
	CHECK_IDS(tok, "normalized added", "a b", 0, 269);
	T_CHECK(ods_tok_bytes(tok, 269, buf, sizeof buf) == 3 && !memcmp(buf, "a b", 3),
		"an added token's bytes are its content");
	ods_tok_free(tok);
}

/* When a merge joins across a metaspace ("a ▁"), words are not cut there. */
static void test_sp_merge_across_space(void)
{
	struct ods_tok *tok = sp_open("sp_cross.json", 256, SP_MODEL,
				      "[[\"a\", \"" MS "\"], [\"" MS "\", \"a\"], [\"a\", \"b\"], [\"" MS
				      "a\", \"b\"], [\"" MS "\", \"" MS "\"]]",
				      SP_LLAMA, "");

	if (!tok)
		return;
	CHECK_IDS(tok, "merge across a space", "a a", 0, 259, 268, 260);
	CHECK_IDS(tok, "merge across a space", "ab ab", 0, 264, 264);
	ods_tok_free(tok);
}

/* SentencePiece-style configurations refused or rejected, naming the key. */
static void test_sp_refused(void)
{
	static const struct {
		const char *name, *pipe, *model, *msg;
		int rc;
	} cases[] = {
		{ "sp_regex.json",
		  "\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" +\"}, "
		  "\"content\": \"" MS "\"}, \"pre_tokenizer\": null",
		  SP_MODEL, "normalizer.pattern: Regex patterns are not supported", ODS_EUNSUPPORTED },
		{ "sp_lower.json",
		  "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", "
		  "\"prepend\": \"" MS "\"}, {\"type\": \"Lowercase\"}]}, \"pre_tokenizer\": null",
		  SP_MODEL, "normalizer.normalizers[1].type 'Lowercase' is not supported",
		  ODS_EUNSUPPORTED },
		{ "sp_rep2.json",
		  "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
		  "\"replacement\": \"__\"}",
		  SP_MODEL, "pre_tokenizer.replacement must be one character", ODS_EFORMAT },
		{ "sp_scheme.json",
		  "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
		  "\"replacement\": \"" MS "\", \"prepend_scheme\": \"sometimes\"}",
		  SP_MODEL, "pre_tokenizer.prepend_scheme 'sometimes'", ODS_EFORMAT },
		{ "sp_aps.json",
		  "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
		  "\"replacement\": \"" MS "\", \"add_prefix_space\": false}",
		  SP_MODEL, "add_prefix_space false does not match prepend_scheme", ODS_EFORMAT },
		{ "sp_unk.json", SP_LLAMA, "\"unk_token\": \"<nope>\", \"byte_fallback\": true",
		  "model.unk_token '<nope>' is not in model.vocab", ODS_EFORMAT },
		{ "sp_empty_re.json",
		  "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
		  "{\"Regex\": \"a*\"}, \"behavior\": \"MergedWithNext\"}",
		  SP_MODEL, "pre_tokenizer.pattern: a regex that matches the empty string",
		  ODS_EUNSUPPORTED },
		{ "sp_behavior.json",
		  "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
		  "{\"String\": \" \"}, \"behavior\": \"Sideways\"}",
		  SP_MODEL, "pre_tokenizer.behavior 'Sideways' is not supported", ODS_EUNSUPPORTED },
		{ "sp_ws.json", "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}",
		  SP_MODEL, "pre_tokenizer.type 'WhitespaceSplit' is not supported", ODS_EUNSUPPORTED },
		{ "sp_bl_first.json",
		  "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": "
		  "[{\"type\": \"ByteLevel\"}, {\"type\": \"Metaspace\", \"replacement\": \"" MS "\"}]}",
		  SP_MODEL, "pretokenizers[1]: ByteLevel must be the last pre-tokenizer",
		  ODS_EUNSUPPORTED },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ods_tok *tok;
		struct ods_err err = { 0, "" };
		char *j = sp_json(256, cases[i].model, SP_MERGES, cases[i].pipe, "");
		int rc = open_text(cases[i].name, j, strlen(j), &tok, &err);

		free(j);
		T_CHECK(rc == cases[i].rc && tok == NULL, "%s: rc %d (%s)", cases[i].name, rc, err.msg);
		T_CHECK(strstr(err.msg, cases[i].name) && strstr(err.msg, cases[i].msg), "%s: '%s'",
			cases[i].name, err.msg);
		ods_tok_free(tok);
	}
}

/* llama-2: texts and their ids from HF's Rust tokenizers 0.22 (@huggingface/tokenizers
 * 0.2.0 agrees) */
static const char *const llama2_texts[] = {
	"Hello world",
	"",
	" ",
	"   ",
	"\n",
	"Hello\n\tworld  !",
	"<s>Hi</s> there<unk>",
	"\364\217\277\277",
	"\344\275\240\345\245\275\357\274\214\344\270\226\347\225\214",
	"\360\237\230\200\360\237\221\215\360\237\217\275",
	"  indented",
	"\303\234n\303\257c\303\266d\303\251 na\303\257ve caf\303\251",
};
static const int32_t llama2_w0[] = { 15043, 3186 };
static const int32_t llama2_w2[] = { 259 };
static const int32_t llama2_w3[] = { 268 };
static const int32_t llama2_w4[] = { 29871, 13 };
static const int32_t llama2_w5[] = { 15043, 13, 12, 11526, 29871, 1738 };
static const int32_t llama2_w6[] = { 1, 6324, 2, 29871, 727, 0 };
static const int32_t llama2_w7[] = { 29871, 247, 146, 194, 194 };
static const int32_t llama2_w8[] = { 29871, 30919, 31076, 30214, 30793, 30967 };
static const int32_t llama2_w9[] = {
	29871, 243, 162, 155, 131, 243, 162, 148, 144, 243, 162, 146, 192,
};
static const int32_t llama2_w10[] = { 259, 1399, 14927 };
static const int32_t llama2_w11[] = {
	7189, 29876, 30085, 29883, 9289, 29948, 1055, 30085, 345, 274, 28059,
};
static const int32_t *const llama2_ids[] = {
	llama2_w0, NULL,      llama2_w2, llama2_w3, llama2_w4,  llama2_w5,
	llama2_w6, llama2_w7, llama2_w8, llama2_w9, llama2_w10, llama2_w11,
};
static const size_t llama2_n[] = { 2, 0, 1, 1, 2, 6, 6, 5, 6, 13, 3, 11 };

static void test_llama2(void)
{
	struct ods_tok *tok = NULL;
	struct ods_err err;
	char buf[16];

	check_fixture("llama-2", llama2_texts, llama2_ids, llama2_n,
		      sizeof llama2_n / sizeof llama2_n[0], 0);
	if (!have(TOKDIR "/llama-2/tokenizer.json"))
		return;
	T_CHECK(ods_tok_open_json(&tok, TOKDIR "/llama-2/tokenizer.json", &err) == 0, "%s", err.msg);
	if (!tok)
		return;
	/* --special: the post-processor's BOS, also before an empty text */
	CHECK_IDS(tok, "llama-2", "Hello world", 1, 1, 15043, 3186);
	CHECK_IDS(tok, "llama-2", "", 1, 1);
	T_CHECK(ods_tok_n_vocab(tok) == 32000, "n_vocab %d", ods_tok_n_vocab(tok));
	T_CHECK(strcmp(ods_tok_kind(tok), "SentencePiece-style BPE") == 0, "kind");
	T_CHECK(ods_tok_bytes(tok, 15043, buf, sizeof buf) == 6 && !memcmp(buf, " Hello", 6),
		"bytes of 15043 (" MS "Hello)");
	T_CHECK(ods_tok_bytes(tok, 13, buf, sizeof buf) == 1 && buf[0] == '\n', "bytes of <0x0A>");
	T_CHECK(ods_tok_bytes(tok, 247, buf, sizeof buf) == 1 && buf[0] == '\xf4', "bytes of <0xF4>");
	T_CHECK(ods_tok_bytes(tok, 1, buf, sizeof buf) == 3 && !memcmp(buf, "<s>", 3), "bytes of <s>");
	T_CHECK(ods_tok_piece(tok, 13) && !strcmp(ods_tok_piece(tok, 13), "<0x0A>"), "piece 13");
	ods_tok_free(tok);
}

/* Throughput on ~2 MB of English-like text; prints MB/s (no threshold: sanitizer
 * and valgrind builds are slow). */
static void test_throughput(void)
{
	struct ods_tok *tok = open_gpt2();
	static const char *const words[] = {
		"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with",
		"be", "by", "on", "not", "he", "I", "this", "are", "or", "his", "from", "at", "which",
		"but", "have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can",
		"her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so",
		"no", "model", "outlier", "dimension", "layer", "tokenizer", "language", "2024",
		"isn't", "we're", "New", "York", "(see", "Table", "3).", "e.g.,", "42%", "\n\n",
	};
	size_t cap = 2 << 20, n = 0;
	char *text;
	unsigned seed = 1;
	struct ods_ids ids = { 0 };
	struct ods_err err;
	double t0, dt;
	int rc;

	if (!tok) {
		T_SKIP("fixture tokenizers/gpt2 not present");
		return;
	}
	text = malloc(cap + 64);
	while (n < cap) {
		const char *w;
		seed = seed * 1103515245u + 12345u;
		w = words[(seed >> 16) % (sizeof words / sizeof words[0])];
		n += (size_t)sprintf(text + n, "%s%s", w, (seed >> 8) % 13 == 0 ? ". " : " ");
	}
	t0 = ods_now();
	rc = ods_tok_encode(tok, text, n, 0, &ids, &err);
	dt = ods_now() - t0;
	T_CHECK(rc == 0, "%s", err.msg);
	printf("  gpt2: %.1f MB in %.3f s: %.1f MB/s, %zu tokens\n", (double)n / 1e6, dt,
	       (double)n / 1e6 / dt, ids.n);
	ods_ids_release(&ids);
	free(text);
	ods_tok_free(tok);
}

/* Names of the plain files in dir, sorted (caller frees each and the array). */
static char **list_dir(const char *dir, int *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		char path[1024];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		names = realloc(names, ((size_t)*n + 1) * sizeof *names);
		names[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	for (int i = 1; i < *n; i++)
		for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	return names;
}

/* Skip spaces and metaspaces (U+2581) in s[0..n) from *i. */
static void skip_spaces(const char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || (*i + 3 <= n && !memcmp(s + *i, "\xe2\x96\x81", 3))))
		*i += s[*i] == ' ' ? 1 : 3;
}

/* Does a[0..na) equal b[0..nb) once spaces and metaspaces are left out of both? */
static int eq_but_spaces(const char *a, size_t na, const char *b, size_t nb)
{
	size_t i = 0, j = 0;

	for (;;) {
		skip_spaces(a, na, &i);
		skip_spaces(b, nb, &j);
		if (i == na || j == nb)
			return i == na && j == nb;
		if (a[i++] != b[j++])
			return 0;
	}
}

/* Encode s[0..n): must succeed, or fail with the right invalid UTF-8 offset.
 * round_trip 1: the ids' bytes give the text back (no normalizer); 2: they
 * do up to spaces (a SentencePiece-style normalizer adds metaspaces). */
static void replay_text(struct ods_tok *tok, const char *what, const char *s, size_t n,
			int round_trip)
{
	struct ods_ids ids = { 0 };
	struct ods_err err;
	size_t bad = ods_utf8_valid_prefix(s, n);
	int rc = ods_tok_encode(tok, s, n, 0, &ids, &err);

	if (bad != n) {
		char want[64];
		snprintf(want, sizeof want, "invalid UTF-8 at byte offset %zu", bad);
		T_CHECK(rc == ODS_EFORMAT && strcmp(err.msg, want) == 0 && ids.n == 0, "%s: %s", what,
			rc ? err.msg : "no error");
	} else {
		T_CHECK(rc == 0, "%s: %s", what, err.msg);
		if (rc == 0 && round_trip) {
			size_t cap = 2 * n + 16, len = 0;
			char *back = malloc(cap);
			int ok = 1;
			for (size_t i = 0; i < ids.n && ok; i++) {
				char buf[256];
				int k = ods_tok_bytes(tok, ids.v[i], buf, sizeof buf);
				ok = k >= 0 && (size_t)k <= cap - len;
				if (ok) {
					memcpy(back + len, buf, (size_t)k);
					len += (size_t)k;
				}
			}
			ok = ok && (round_trip == 1 ? len == n && memcmp(back, s, n) == 0
						    : eq_but_spaces(back, len, s, n));
			T_CHECK(ok, "%s: ids do not give the text back", what);
			free(back);
		}
	}
	ods_ids_release(&ids);
}

/* Replay tests/fuzz/tok/ (every file and every byte prefix of it) through the
 * fixture tokenizers (byte-level and SentencePiece-style), and
 * tests/fuzz/tok/json/ through the loader. */
static void test_fuzz_replay(void)
{
	static const char *const models[] = { "gpt2", "llama-3", "gpt-neox-20b", "llama-2" };
	static const int round_trip[] = { 1, 1, 0, 2 };
	int n_files, n_json, ran = 0;
	char **files = list_dir(FUZZDIR, &n_files), **json = list_dir(FUZZDIR "/json", &n_json);

	T_CHECK(n_files > 0 && n_json > 0, "no seeds in " FUZZDIR);
	for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
		char path[512];
		struct ods_tok *tok;
		struct ods_err err;

		snprintf(path, sizeof path, TOKDIR "/%s/tokenizer.json", models[m]);
		if (!have(path))
			continue;
		if (ods_tok_open_json(&tok, path, &err)) {
			T_CHECK(0, "%s", err.msg);
			continue;
		}
		for (int f = 0; f < n_files; f++) {
			char *data, what[512];
			size_t n;
			snprintf(path, sizeof path, FUZZDIR "/%s", files[f]);
			if (ods_file_read(path, &data, &n, &err)) {
				T_CHECK(0, "%s", err.msg);
				continue;
			}
			for (size_t k = 0; k <= n; k++) {
				snprintf(what, sizeof what, "%s: %s[0..%zu)", models[m], files[f], k);
				replay_text(tok, what, data, k, round_trip[m]);
			}
			free(data);
			ran++;
		}
		ods_tok_free(tok);
	}
	for (int f = 0; f < n_json; f++) {
		char path[512];
		struct ods_tok *tok;
		struct ods_err err = { 0, "" };
		int rc;

		snprintf(path, sizeof path, FUZZDIR "/json/%s", files ? json[f] : "");
		rc = ods_tok_open_json(&tok, path, &err);
		if (rc == 0) {
			T_CHECK(strncmp(json[f], "ok_", 3) == 0, "%s: accepted", json[f]);
			replay_text(tok, json[f], " ab<x> a\xc3\xa9", 10, 0);
			ods_tok_free(tok);
		} else {
			T_CHECK(strncmp(json[f], "ok_", 3) != 0, "%s: %s", json[f], err.msg);
			T_CHECK(tok == NULL && strstr(err.msg, json[f]) != NULL && !strchr(err.msg, '\n'),
				"%s: message '%s'", json[f], err.msg);
		}
	}
	if (!ran)
		T_SKIP("no fixture tokenizers present (json seeds replayed)");
	for (int f = 0; f < n_files; f++)
		free(files[f]);
	for (int f = 0; f < n_json; f++)
		free(json[f]);
	free(files);
	free(json);
}

/* ---- driver mode for tests/py/test_tok_npm.py ---- */

static int drive_encode(const char *model, const char *texts_path, int add_special)
{
	struct ods_tok *tok;
	struct ods_err err;
	char *data;
	size_t n, at = 0;

	if (ods_tok_open(&tok, model, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (ods_file_read(texts_path, &data, &n, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		ods_tok_free(tok);
		return 1;
	}
	while (at < n) {
		char *end;
		unsigned long len = strtoul(data + at, &end, 10);
		struct ods_ids ids = { 0 };

		if (end == data + at || *end != '\n' || len > n - (size_t)(end + 1 - data)) {
			fprintf(stderr, "%s: bad record at byte %zu\n", texts_path, at);
			break;
		}
		at = (size_t)(end + 1 - data);
		if (ods_tok_encode(tok, data + at, len, add_special, &ids, &err)) {
			printf("ERR %s\n", err.msg);
		} else {
			for (size_t i = 0; i < ids.n; i++)
				printf(i ? " %d" : "%d", ids.v[i]);
			printf("\n");
		}
		ods_ids_release(&ids);
		at += len;
	}
	free(data);
	ods_tok_free(tok);
	return at == n ? 0 : 1;
}

static int drive_bench(const char *model, const char *path, int reps)
{
	struct ods_tok *tok;
	struct ods_err err;
	char *data;
	size_t n, n_ids = 0;
	double t0, dt;

	if (ods_tok_open(&tok, model, &err) || ods_file_read(path, &data, &n, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	t0 = ods_now();
	for (int r = 0; r < reps; r++) {
		struct ods_ids ids = { 0 };
		if (ods_tok_encode(tok, data, n, 0, &ids, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		n_ids = ids.n;
		ods_ids_release(&ids);
	}
	dt = ods_now() - t0;
	printf("%s: %.2f MB x %d in %.3f s: %.1f MB/s, %zu tokens per pass\n", model,
	       (double)n / 1e6, reps, dt, (double)n * reps / 1e6 / dt, n_ids);
	free(data);
	ods_tok_free(tok);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "encode") == 0)
		return drive_encode(argv[2], argv[3], argc > 4 && strcmp(argv[4], "special") == 0);
	if (argc >= 4 && strcmp(argv[1], "bench") == 0)
		return drive_bench(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 3);
	T_RUN(test_gpt2_vectors_json);
	T_RUN(test_gpt2_vectors_vocab_merges);
	T_RUN(test_open_dir);
	T_RUN(test_invalid_utf8);
	T_RUN(test_empty_and_special);
	T_RUN(test_piece_bytes);
	T_RUN(test_malformed);
	T_RUN(test_synthetic);
	T_RUN(test_gpt_neox);
	T_RUN(test_llama3);
	T_RUN(test_llama3_add_special);
	T_RUN(test_sp_llama_style);
	T_RUN(test_sp_unknown);
	T_RUN(test_sp_metaspace);
	T_RUN(test_sp_added_normalized);
	T_RUN(test_sp_merge_across_space);
	T_RUN(test_sp_refused);
	T_RUN(test_llama2);
	T_RUN(test_fuzz_replay);
	T_RUN(test_throughput);
	return T_END();
}
