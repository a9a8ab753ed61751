/* test_fuzz.c - deterministic mutation fuzzing of the file parsers:
 * safetensors headers, config.json, counts files, corpus lines, and
 * tokenizer.json (seeded with the SentencePiece-style and byte-level files of
 * tests/fuzz/tok/json; test_tok replays that corpus and texts as they are).
 * Every mutated input must load or fail with a one-line message naming the
 * file; never crash (run it under `make asan` for memory errors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "odscope/corpus.h"
#include "odscope/link.h"
#include "odscope/model.h"
#include "odscope/st.h"
#include "odscope/tok.h"
#include "t.h"

static uint64_t rng = 12345;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % (n ? n : 1));
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
}

/* Mutate buf[n] (focusing on the first `hot` bytes) into out; returns the new length. */
static size_t mutate(const uint8_t *buf, size_t n, size_t hot, uint8_t *out)
{
	static const char tokens[] = "{}[]\":,0123456789-eE.\\ \x00\xff";
	size_t m = n;
	memcpy(out, buf, n);
	switch (rnd(4)) {
	case 0: /* flip bytes */
		for (int k = 1 + (int)rnd(4); k > 0; k--)
			out[rnd((uint32_t)hot)] ^= (uint8_t)(1u << rnd(8));
		break;
	case 1: /* JSON-ish characters */
		for (int k = 1 + (int)rnd(3); k > 0; k--)
			out[rnd((uint32_t)hot)] = (uint8_t)tokens[rnd(sizeof tokens - 1)];
		break;
	case 2: /* truncate */
		m = rnd((uint32_t)n);
		break;
	default: /* digits into numbers: large offsets and sizes */
		for (int k = 0; k < 3; k++) {
			size_t at = rnd((uint32_t)hot);
			if (out[at] >= '0' && out[at] <= '9')
				out[at] = (uint8_t)('0' + rnd(10));
		}
	}
	return m;
}

static int one_line(const struct ods_err *err, const char *name)
{
	return err->msg[0] && !strchr(err->msg, '\n') && strstr(err->msg, name);
}

static void fill_zero(void *ctx, int i, size_t off, size_t n, float *buf)
{
	(void)ctx, (void)i, (void)off;
	memset(buf, 0, n * sizeof *buf);
}

static void test_fuzz_safetensors(void)
{
	const char *good = "tests/tmp/fuzz_good.safetensors", *bad = "tests/tmp/fuzz.safetensors";
	const struct ods_st_out t[] = {{"a.weight", 2, {4, 3}}, {"b.bias", 1, {5}}, {"c", 2, {2, 2}}};
	struct ods_err err = {0};
	uint8_t *buf, *mut;
	size_t n, hot;
	FILE *f;
	int ok = 0, failed = 0;

	mkdir("tests/tmp", 0755);
	T_CHECK(ods_st_write(good, 3, t, ODS_DT_F32, fill_zero, NULL, &err) == 0, "%s", err.msg);
	f = fopen(good, "rb");
	if (!f) {
		T_SKIP("cannot read %s", good);
		return;
	}
	buf = malloc(1 << 16);
	mut = malloc(1 << 16);
	n = fread(buf, 1, 1 << 16, f);
	fclose(f);
	hot = 8 + (size_t)buf[0] + ((size_t)buf[1] << 8); /* the header */
	for (int i = 0; i < 3000; i++) {
		struct ods_st st = {0};
		size_t m = mutate(buf, n, hot < n ? hot : n, mut);
		write_file(bad, mut, m);
		if (ods_st_add_file(&st, bad, &err) == 0) {
			ok++;
			for (int k = 0; k < st.n_tensors; k++)
				T_CHECK(st.tensors[k].data + st.tensors[k].nbytes <= st.maps[0].data + st.maps[0].len,
					"tensor inside the file");
		} else {
			failed++;
			T_CHECK(one_line(&err, "fuzz.safetensors"), "message: %s", err.msg);
		}
		ods_st_release(&st);
	}
	T_CHECK(ok > 0 && failed > 0, "ok %d failed %d", ok, failed);
	free(buf);
	free(mut);
}

static void test_fuzz_config(void)
{
	/* one seed per family shape: learned positions, RoPE + scaling + GQA,
	 * sandwich norms + soft-caps + sliding window, post-LN with projections */
	static const char *const seeds[] = {
		"{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
		"\"n_positions\": 128, \"vocab_size\": 300, \"layer_norm_epsilon\": 1e-05, "
		"\"activation_function\": \"gelu_new\", \"tie_word_embeddings\": true}",
		"{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
		"\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 24, "
		"\"intermediate_size\": 96, \"vocab_size\": 300, \"max_position_embeddings\": 256, "
		"\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
		"\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}}",
		"{\"model_type\": \"gemma2\", \"hidden_size\": 64, \"num_hidden_layers\": 3, "
		"\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 16, "
		"\"intermediate_size\": 96, \"vocab_size\": 300, \"max_position_embeddings\": 256, "
		"\"query_pre_attn_scalar\": 16, \"attn_logit_softcapping\": 50.0, "
		"\"final_logit_softcapping\": 30.0, \"sliding_window\": 8, "
		"\"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\"]}",
		"{\"model_type\": \"opt\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
		"\"num_attention_heads\": 4, \"ffn_dim\": 128, \"vocab_size\": 300, "
		"\"max_position_embeddings\": 128, \"word_embed_proj_dim\": 32, "
		"\"do_layer_norm_before\": false}",
		"{\"model_type\": \"gpt_neox\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
		"\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 300, "
		"\"max_position_embeddings\": 128, \"rotary_pct\": 0.25, \"use_parallel_residual\": true}",
	};
	uint8_t mut[2048];
	struct ods_err err = {0};
	int failed = 0;

	mkdir("tests/tmp/fuzz_cfg", 0755);
	for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
		const char *cfg = seeds[k];
		struct ods_config c;
		write_file("tests/tmp/fuzz_cfg/config.json", cfg, strlen(cfg));
		T_CHECK(ods_config_load(&c, "tests/tmp/fuzz_cfg", &err) == 0, "seed %zu loads: %s", k,
			err.msg);
		for (int i = 0; i < 1500; i++) {
			size_t m = mutate((const uint8_t *)cfg, strlen(cfg), strlen(cfg), mut);
			write_file("tests/tmp/fuzz_cfg/config.json", mut, m);
			if (ods_config_load(&c, "tests/tmp/fuzz_cfg", &err)) {
				failed++;
				T_CHECK(one_line(&err, "config.json"), "message: %s", err.msg);
			} else {
				T_CHECK(c.n_layer >= 1 && c.d_model >= 1 && c.n_head >= 1 && c.head_dim >= 1 &&
						c.n_kv_head >= 1 && c.n_head % c.n_kv_head == 0 &&
						c.rotary_dim <= c.head_dim && c.rotary_dim % 2 == 0 &&
						c.d_out >= 1 && c.attn_scale > 0,
					"a loaded config is valid");
			}
		}
	}
	T_CHECK(failed > 0, "some mutations fail");
}

static void test_fuzz_counts_and_corpus(void)
{
	const char *counts = "# id\tcount\n0\t12\n5\t3\n7\t0\n";
	const char *corpus = "{\"text\": \"hello world\"}\n{\"text\": \"caf\\u00e9 ok\"}\n";
	uint8_t mut[256];
	int64_t c[10];
	uint64_t h;
	struct ods_err err = {0};

	for (int i = 0; i < 2000; i++) {
		size_t m = mutate((const uint8_t *)counts, strlen(counts), strlen(counts), mut);
		write_file("tests/tmp/fuzz_counts.tsv", mut, m);
		if (ods_counts_read("tests/tmp/fuzz_counts.tsv", 10, c, &h, &err))
			T_CHECK(one_line(&err, "fuzz_counts.tsv:"), "message: %s", err.msg);
	}
	for (int i = 0; i < 2000; i++) {
		struct ods_corpus *cp;
		const char *text;
		size_t len;
		int rc;
		size_t m = mutate((const uint8_t *)corpus, strlen(corpus), strlen(corpus), mut);
		write_file("tests/tmp/fuzz_corpus.jsonl", mut, m);
		if (ods_corpus_open(&cp, "tests/tmp/fuzz_corpus.jsonl", NULL, &err)) {
			T_CHECK(one_line(&err, "fuzz_corpus.jsonl"), "message: %s", err.msg);
			continue;
		}
		while ((rc = ods_corpus_next(cp, &text, &len, &err)) == 1)
			T_CHECK(ods_utf8_valid_prefix(text, len) == len, "documents are valid UTF-8");
		if (rc < 0)
			T_CHECK(one_line(&err, "fuzz_corpus.jsonl:"), "message: %s", err.msg);
		ods_corpus_free(cp);
	}
}

/* A loaded tokenizer encodes every text, with ids that have bytes. */
static void tok_use(struct ods_tok *tok)
{
	static const char *const texts[] = {
		"", " ", "ab  ab", "<s>a b</s>", " a\xc3\xa9 [INST]x", "\xe2\x96\x81\xe2\x96\x81x",
		"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\n\t<0x0A>", "<x>a<x> <bos>",
	};
	struct ods_err err = {0};
	char buf[64];

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		for (int special = 0; special < 2; special++) {
			struct ods_ids ids = {0};
			int rc = ods_tok_encode(tok, texts[i], strlen(texts[i]), special, &ids, &err);
			T_CHECK(rc == 0, "encode '%s': %s", texts[i], err.msg);
			for (size_t k = 0; rc == 0 && k < ids.n; k++)
				T_CHECK(ids.v[k] >= 0 && ids.v[k] < ods_tok_n_vocab(tok) &&
						ods_tok_bytes(tok, ids.v[k], buf, sizeof buf) >= 0,
					"id %d of '%s' has no bytes", ids.v[k], texts[i]);
			ods_ids_release(&ids);
		}
}

static void test_fuzz_tokenizer_json(void)
{
	static const char *const seeds[] = {"ok_sp_llama.json", "ok_sp_metaspace.json",
					    "ok_sp_gemma.json", "ok_added.json"};
	const char *bad = "tests/tmp/fuzz_tok.json";
	struct ods_err err = {0};
	int ok = 0, failed = 0;

	mkdir("tests/tmp", 0755);
	for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
		char path[256], *seed;
		uint8_t *mut;
		size_t n;
		struct ods_tok *tok;

		snprintf(path, sizeof path, "tests/fuzz/tok/json/%s", seeds[k]);
		if (ods_file_read(path, &seed, &n, &err)) {
			T_CHECK(0, "%s", err.msg);
			continue;
		}
		T_CHECK(ods_tok_open_json(&tok, path, &err) == 0, "seed %s loads: %s", seeds[k], err.msg);
		if (tok)
			tok_use(tok);
		ods_tok_free(tok);
		mut = malloc(n + 1);
		for (int i = 0; i < 1500; i++) {
			size_t m = mutate((const uint8_t *)seed, n, n, mut);
			write_file(bad, mut, m);
			if (ods_tok_open_json(&tok, bad, &err)) {
				failed++;
				T_CHECK(one_line(&err, "fuzz_tok.json") && tok == NULL, "message: %s", err.msg);
				continue;
			}
			ok++;
			tok_use(tok);
			ods_tok_free(tok);
		}
		free(mut);
		free(seed);
	}
	printf("  tokenizer.json mutations: %d loaded, %d refused\n", ok, failed);
	T_CHECK(ok > 0 && failed > 0, "ok %d failed %d", ok, failed);
}

int main(void)
{
	T_RUN(test_fuzz_safetensors);
	T_RUN(test_fuzz_config);
	T_RUN(test_fuzz_counts_and_corpus);
	T_RUN(test_fuzz_tokenizer_json);
	return T_END();
}
