/* bench.c - `make bench`: performance figures (printed, never asserted).
 *
 *  1. sgemm peak: OpenBLAS on all threads (one 2048^3 product) and the
 *     OpenMP-split single-threaded sgemm that odscope's matmuls use.
 *  2. forward pass of a GPT-2-small-shaped random model (D 768, 12 layers,
 *     V 50257, F32) written to a real safetensors file and loaded through the
 *     normal loader, at 512-token batches: tokens/s, GFLOP/s, ratio to peak.
 *  3. tokenizer throughput in MB/s on English text (the GPT-2 tokenizer of
 *     ../shared/fixtures when present, else the demo tokenizer).
 */
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/st.h"
#include "odscope/tok.h"
#include "odscope/util.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static float frand(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return ((float)(*s >> 40) / (float)(1u << 24) - 0.5f) * 2.0f;
}

static double sgemm_peak_blas(int threads)
{
	int n = 2048;
	float *a = ods_xmalloc((size_t)n * n * 4), *b = ods_xmalloc((size_t)n * n * 4),
	      *c = ods_xmalloc((size_t)n * n * 4);
	uint64_t s = 1;
	double best = 0;
	for (size_t i = 0; i < (size_t)n * n; i++) {
		a[i] = frand(&s);
		b[i] = frand(&s);
	}
	openblas_set_num_threads(threads);
	for (int r = 0; r < 4; r++) {
		double t0 = ods_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
		double g = 2.0 * n * n * n / (ods_now() - t0) / 1e9;
		best = g > best ? g : best;
	}
	openblas_set_num_threads(1);
	free(a);
	free(b);
	free(c);
	return best;
}

static double matmul_gflops(int T, int C, int OC)
{
	float *in = ods_xmalloc((size_t)T * C * 4), *w = ods_xmalloc((size_t)C * OC * 4),
	      *out = ods_xmalloc((size_t)T * OC * 4);
	uint64_t s = 2;
	double best = 0;
	for (size_t i = 0; i < (size_t)T * C; i++)
		in[i] = frand(&s);
	for (size_t i = 0; i < (size_t)C * OC; i++)
		w[i] = frand(&s);
	for (int r = 0; r < 5; r++) {
		double t0 = ods_now();
		ods_matmul(out, in, w, ODS_W_IN_OUT, NULL, T, C, OC);
		double g = 2.0 * T * C * OC / (ods_now() - t0) / 1e9;
		best = g > best ? g : best;
	}
	free(in);
	free(w);
	free(out);
	return best;
}

/* Write a random GPT-2-small model directory. */
static int write_gpt2(const char *dir, int D, int L, int V, int P, struct ods_err *err)
{
	int n = 4 + 12 * L, k = 0, rc;
	const char **names = ods_xcalloc((size_t)n, sizeof *names);
	int *nd = ods_xcalloc((size_t)n, sizeof *nd);
	int64_t(*shapes)[ODS_ST_MAX_DIMS] = ods_xcalloc((size_t)n, sizeof *shapes);
	float **data = ods_xcalloc((size_t)n, sizeof *data);
	char path[4096], *nm;
	uint64_t s = 3;
	FILE *f;

#define T2(name_, a, b, scale, base) \
	do { \
		nm = ods_xmalloc(64); \
		snprintf(nm, 64, "%s", name_); \
		names[k] = nm; \
		nd[k] = (b) != 0 ? 2 : 1; \
		shapes[k][0] = (a); \
		shapes[k][1] = (b); \
		size_t ne_ = (size_t)(a) * ((b) != 0 ? (size_t)(b) : 1); \
		data[k] = ods_xmalloc(ne_ * 4); \
		for (size_t i_ = 0; i_ < ne_; i_++) \
			data[k][i_] = (base) + (scale) * frand(&s); \
		k++; \
	} while (0)
	T2("wte.weight", V, D, 0.05f, 0.0f);
	T2("wpe.weight", P, D, 0.02f, 0.0f);
	for (int l = 0; l < L; l++) {
		char b[64];
#define LT(suffix, a, bb, scale, base) \
	do { \
		snprintf(b, sizeof b, "h.%d.%s", l, suffix); \
		T2(b, a, bb, scale, base); \
	} while (0)
		LT("ln_1.weight", D, 0, 0.1f, 1.0f);
		LT("ln_1.bias", D, 0, 0.02f, 0.0f);
		LT("attn.c_attn.weight", D, 3 * D, 0.04f, 0.0f);
		LT("attn.c_attn.bias", 3 * D, 0, 0.02f, 0.0f);
		LT("attn.c_proj.weight", D, D, 0.02f, 0.0f);
		LT("attn.c_proj.bias", D, 0, 0.02f, 0.0f);
		LT("ln_2.weight", D, 0, 0.1f, 1.0f);
		LT("ln_2.bias", D, 0, 0.02f, 0.0f);
		LT("mlp.c_fc.weight", D, 4 * D, 0.04f, 0.0f);
		LT("mlp.c_fc.bias", 4 * D, 0, 0.02f, 0.0f);
		LT("mlp.c_proj.weight", 4 * D, D, 0.02f, 0.0f);
		LT("mlp.c_proj.bias", D, 0, 0.02f, 0.0f);
#undef LT
	}
	T2("ln_f.weight", D, 0, 0.1f, 1.0f);
	T2("ln_f.bias", D, 0, 0.02f, 0.0f);
#undef T2
	mkdir(dir, 0755);
	rc = ods_st_write_f32(ods_path_join(path, sizeof path, dir, "model.safetensors"), k, names, nd,
			      (const int64_t(*)[ODS_ST_MAX_DIMS])shapes, (const float *const *)data, err);
	if (!rc && (f = fopen(ods_path_join(path, sizeof path, dir, "config.json"), "w"))) {
		fprintf(f, "{\"model_type\": \"gpt2\", \"n_embd\": %d, \"n_layer\": %d, \"n_head\": %d, "
			   "\"n_positions\": %d, \"vocab_size\": %d, \"layer_norm_epsilon\": 1e-5, "
			   "\"activation_function\": \"gelu_new\"}\n", D, L, D / 64, P, V);
		fclose(f);
	}
	for (int i = 0; i < k; i++) {
		free((void *)names[i]);
		free(data[i]);
	}
	free(names);
	free(nd);
	free(shapes);
	free(data);
	return rc;
}

static void bench_forward(double peak)
{
	const char *dir = "tests/tmp/bench-gpt2";
	struct ods_err err = {0};
	struct ods_model *m;
	int T = 512, D = 768, L = 12, V = 50257;
	mkdir("tests/tmp", 0755);
	if (write_gpt2(dir, D, L, V, 1024, &err) || ods_model_open(&m, dir, &err)) {
		printf("forward: %s\n", err.msg);
		return;
	}
	struct ods_fwd *fwd = ods_fwd_open(m, T, T);
	int32_t *ids = ods_xmalloc((size_t)T * sizeof *ids);
	float *hidden = ods_xmalloc((size_t)T * D * sizeof *hidden);
	int seq_off[2] = {0, T};
	uint64_t s = 5;
	double best = 1e9;
	for (int i = 0; i < T; i++)
		ids[i] = (int32_t)((frand(&s) + 1.0f) * 0.5f * (V - 1));
	for (int r = 0; r < 6; r++) {
		double t0 = ods_now();
		ods_model_forward(m, fwd, ids, T, seq_off, 1, hidden, &err);
		double dt = ods_now() - t0;
		best = dt < best ? dt : best;
	}
	/* FLOPs per token: 24 D^2 per layer (qkv, proj, 2 MLP) + attention 4 * D * mean context */
	double flop_tok = (double)L * (24.0 * D * D + 4.0 * D * (T + 1) / 2.0);
	double tps = T / best, gf = tps * flop_tok / 1e9;
	printf("forward (GPT-2 small F32, %d-token batch, %d threads): %.0f tokens/s, %.1f GFLOP/s "
	       "(%.1f MFLOP/token)\n", T, ods_ops_threads(), tps, gf, flop_tok / 1e6);
	printf("forward / sgemm peak: %.1f%% (sgemm bound %.0f tokens/s; target >= 80%%)\n",
	       100.0 * gf / peak, peak * 1e9 / flop_tok);
	ods_fwd_free(fwd);
	free(ids);
	free(hidden);
	ods_model_free(m);
}

static void bench_tokenizer(void)
{
	struct ods_err err = {0};
	struct ods_tok *tok = NULL;
	const char *dirs[] = {"../shared/fixtures/tokenizers/gpt2", "corpora/demo/model"};
	const char *text_files[] = {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
				    "/usr/share/common-licenses/GPL-2", "/usr/share/common-licenses/LGPL-2.1"};
	char *big = NULL;
	size_t n = 0;
	const char *used = NULL;

	for (size_t i = 0; i < 2 && !tok; i++)
		if (ods_tok_open(&tok, dirs[i], &err) == 0)
			used = dirs[i];
	if (!tok) {
		printf("tokenizer: skipped (no tokenizer: run make demo or provide ../shared)\n");
		return;
	}
	/* ~16 MB of English text: the system's license texts repeated */
	while (n < (16u << 20)) {
		size_t before = n;
		for (size_t i = 0; i < sizeof text_files / sizeof *text_files; i++) {
			char *t;
			size_t len;
			if (ods_file_read(text_files[i], &t, &len, NULL))
				continue;
			big = ods_xrealloc(big, n + len + 1);
			memcpy(big + n, t, len);
			n += len;
			free(t);
		}
		if (n == before)
			break;
	}
	if (!n) {
		printf("tokenizer: skipped (no English text found)\n");
		ods_tok_free(tok);
		return;
	}
	struct ods_ids ids = {0};
	double t0 = ods_now();
	/* a document per paragraph-sized chunk, as scan feeds it */
	size_t off = 0;
	while (off < n) {
		size_t len = n - off < 4096 ? n - off : 4096;
		while (off + len < n && ((unsigned char)big[off + len] & 0xc0) == 0x80)
			len++;
		ids.n = 0;
		if (ods_tok_encode(tok, big + off, len, 0, &ids, &err)) {
			printf("tokenizer: %s\n", err.msg);
			break;
		}
		off += len;
	}
	double dt = ods_now() - t0;
	printf("tokenizer (%s, 1 thread): %.1f MB/s on %.1f MB of English text (target >= 5 MB/s)\n",
	       used, (double)n / dt / 1e6, (double)n / 1e6);
	ods_ids_release(&ids);
	free(big);
	ods_tok_free(tok);
}

int main(int argc, char **argv)
{
	(void)argc;
	ods_ops_prefer_avx512(argv);
	int nt = ods_ops_init(0);
	double blas = sgemm_peak_blas(nt);
	double split = matmul_gflops(512, 768, 3072);
	double peak = blas > split ? blas : split;
	printf("sgemm peak: OpenBLAS %d threads %.1f GFLOP/s (2048^3); odscope split sgemm %.1f GFLOP/s "
	       "(512x768x3072)\n", nt, blas, split);
	bench_forward(peak);
	bench_tokenizer();
	return 0;
}
