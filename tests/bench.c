/* bench.c - `make bench`: performance figures (printed, never asserted).
 *
 *  1. sgemm peak: OpenBLAS on all threads (one 2048^3 product) and the
 *     OpenMP-split single-threaded sgemm that odscope's matmuls use.
 *  2. forward pass of a GPT-2-small-shaped random model (D 768, 12 layers,
 *     V 50257, F32) written to a real safetensors file and loaded through the
 *     normal loader, at 512-token batches: tokens/s, GFLOP/s, ratio to peak.
 *     Then `ablate`'s default conditions over its hidden states against one
 *     full logits pass.
 *  3. forward pass of a Llama-shaped BF16 model (TinyLlama-1.1B sizes):
 *     tokens/s and resident memory.
 *  4. tokenizer throughput in MB/s on English text: byte-level BPE (the GPT-2
 *     tokenizer of ../shared/fixtures when present, else the demo tokenizer)
 *     and SentencePiece-style BPE (the Llama-2 tokenizer, when present).
 */
#include "odscope/ablate.h"
#include "odscope/smx.h"
#include "odscope/model.h"
#include "odscope/ops.h"
#include "odscope/st.h"
#include "odscope/tok.h"
#include "odscope/util.h"

#include <cblas.h>
#include <math.h>
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
/* Random tensors for benchmark models: values base + scale * U(-1, 1),
 * generated chunk by chunk (deterministic in the tensor and the offset). */
struct spec {
	struct ods_st_out *t;
	float *scale, *base;
	int n, cap;
};

static void spec_add(struct spec *sp, const char *name, int64_t a, int64_t b, float scale, float base)
{
	if (sp->n == sp->cap) {
		sp->cap = sp->cap ? 2 * sp->cap : 64;
		sp->t = ods_xrealloc(sp->t, (size_t)sp->cap * sizeof *sp->t);
		sp->scale = ods_xrealloc(sp->scale, (size_t)sp->cap * sizeof *sp->scale);
		sp->base = ods_xrealloc(sp->base, (size_t)sp->cap * sizeof *sp->base);
	}
	memset(&sp->t[sp->n], 0, sizeof sp->t[sp->n]);
	sp->t[sp->n].name = ods_xstrdup(name);
	sp->t[sp->n].n_dim = b ? 2 : 1;
	sp->t[sp->n].shape[0] = a;
	sp->t[sp->n].shape[1] = b;
	sp->scale[sp->n] = scale;
	sp->base[sp->n] = base;
	sp->n++;
}

static void spec_fill(void *ctx, int i, size_t off, size_t n, float *buf)
{
	const struct spec *sp = ctx;
	uint64_t s = ((uint64_t)i << 40) ^ off ^ 0x9e3779b97f4a7c15ULL;
	for (size_t j = 0; j < n; j++)
		buf[j] = sp->base[i] + sp->scale[i] * frand(&s);
}

/* Write DIR/model.safetensors from sp as dtype and DIR/config.json = config. */
static int spec_write(struct spec *sp, const char *dir, int dtype, const char *config,
		      struct ods_err *err)
{
	char path[4096];
	FILE *f;
	int rc;
	mkdir(dir, 0755);
	rc = ods_st_write(ods_path_join(path, sizeof path, dir, "model.safetensors"), sp->n, sp->t, dtype,
			  spec_fill, sp, err);
	if (!rc && (f = fopen(ods_path_join(path, sizeof path, dir, "config.json"), "w"))) {
		fputs(config, f);
		fclose(f);
	}
	for (int i = 0; i < sp->n; i++)
		free((void *)sp->t[i].name);
	free(sp->t);
	free(sp->scale);
	free(sp->base);
	memset(sp, 0, sizeof *sp);
	return rc;
}

static int write_gpt2(const char *dir, int D, int L, int V, int P, struct ods_err *err)
{
	struct spec sp = {0};
	char b[128], cfg[512];
	spec_add(&sp, "wte.weight", V, D, 0.05f, 0.0f);
	spec_add(&sp, "wpe.weight", P, D, 0.02f, 0.0f);
	for (int l = 0; l < L; l++) {
#define LT(suffix, a, bb, scale, base) \
	do { \
		snprintf(b, sizeof b, "h.%d.%s", l, suffix); \
		spec_add(&sp, b, a, bb, scale, base); \
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
	spec_add(&sp, "ln_f.weight", D, 0, 0.1f, 1.0f);
	spec_add(&sp, "ln_f.bias", D, 0, 0.02f, 0.0f);
	snprintf(cfg, sizeof cfg,
		 "{\"model_type\": \"gpt2\", \"n_embd\": %d, \"n_layer\": %d, \"n_head\": %d, "
		 "\"n_positions\": %d, \"vocab_size\": %d, \"layer_norm_epsilon\": 1e-5, "
		 "\"activation_function\": \"gelu_new\"}\n",
		 D, L, D / 64, P, V);
	return spec_write(&sp, dir, ODS_DT_F32, cfg, err);
}

/* A Llama-architecture model (HF names), untied lm_head, stored as dtype. */
static int write_llama(const char *dir, int D, int L, int H, int KV, int F, int V, int dtype,
		       struct ods_err *err)
{
	struct spec sp = {0};
	int hd = D / H;
	char b[128], cfg[1024];
	float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
	spec_add(&sp, "model.embed_tokens.weight", V, D, 0.05f, 0.0f);
	for (int l = 0; l < L; l++) {
#define LT(suffix, a, bb, scale, base) \
	do { \
		snprintf(b, sizeof b, "model.layers.%d.%s", l, suffix); \
		spec_add(&sp, b, a, bb, scale, base); \
	} while (0)
		LT("input_layernorm.weight", D, 0, 0.1f, 1.0f);
		LT("self_attn.q_proj.weight", H * hd, D, sd, 0.0f);
		LT("self_attn.k_proj.weight", KV * hd, D, sd, 0.0f);
		LT("self_attn.v_proj.weight", KV * hd, D, sd, 0.0f);
		LT("self_attn.o_proj.weight", D, H * hd, 0.5f * sd, 0.0f);
		LT("post_attention_layernorm.weight", D, 0, 0.1f, 1.0f);
		LT("mlp.gate_proj.weight", F, D, sd, 0.0f);
		LT("mlp.up_proj.weight", F, D, sd, 0.0f);
		LT("mlp.down_proj.weight", D, F, 0.5f * sf, 0.0f);
#undef LT
	}
	spec_add(&sp, "model.norm.weight", D, 0, 0.1f, 1.0f);
	spec_add(&sp, "lm_head.weight", V, D, 0.05f, 0.0f);
	snprintf(cfg, sizeof cfg,
		 "{\"model_type\": \"llama\", \"hidden_size\": %d, \"num_hidden_layers\": %d, "
		 "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"intermediate_size\": %d, "
		 "\"vocab_size\": %d, \"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-5, "
		 "\"rope_theta\": 10000.0, \"hidden_act\": \"silu\", \"tie_word_embeddings\": false, "
		 "\"torch_dtype\": \"%s\"}\n",
		 D, L, H, KV, F, V, dtype == ODS_DT_BF16 ? "bfloat16" : "float32");
	return spec_write(&sp, dir, dtype, cfg, err);
}

static void add_cond(struct ods_cond *c, int *n, const char *name, const char *kind, int only,
		     const int *dims, int k)
{
	struct ods_cond *x = &c[(*n)++];
	memset(x, 0, sizeof *x);
	snprintf(x->name, sizeof x->name, "%s", name);
	snprintf(x->kind, sizeof x->kind, "%s", kind);
	x->only = only;
	x->n_dims = k;
	x->dims = (int *)dims;
}

/* Seconds of one `ablate` (open, add, finish) over h[n, D]; -1 on an error. */
static double time_ablate(const struct ods_model *m, const struct ods_cond *c, int nc, const float *h,
			  const int32_t *gold, int n, const int64_t *corpus, struct ods_cond_result *res)
{
	struct ods_err err = {0};
	struct ods_ablate *a;
	double t0 = ods_now();
	if (ods_ablate_open(&a, m, c, nc, NULL, 0.0f, NULL, &err)) {
		printf("ablate: %s\n", err.msg);
		return -1;
	}
	ods_ablate_add(a, h, gold, n);
	ods_ablate_finish(a, corpus, res);
	ods_ablate_free(a);
	return ods_now() - t0;
}

/* `ablate`'s default condition set for 4 ODs (full, ablate/only ODs, 10
 * random sets ablated and kept alone, cumulative, single) over the hidden
 * states h[n, D], against one full logits pass over the same inputs. */
static void bench_ablate(const struct ods_model *m, const float *h, int n)
{
	struct ods_cond c[40];
	int nc = 0, D = m->cfg.d_out, V = m->cfg.n_vocab, ods[4] = {11, 222, 333, 444};
	int rnd[10][4];
	char name[48];
	int32_t *gold = ods_xmalloc((size_t)n * sizeof *gold);
	float *logits = ods_xmalloc((size_t)n * V * sizeof *logits);
	int64_t *corpus = ods_xcalloc((size_t)V, sizeof *corpus);
	struct ods_cond_result res[40];
	uint64_t s = 11;
	double t_logits = 1e9, t_abl = 1e9;

	for (int i = 0; i < n; i++)
		gold[i] = (int32_t)((frand(&s) + 1.0f) * 0.5f * (V - 1));
	for (int t = 0; t < V; t++)
		corpus[t] = 1 + (V - t) / 100;
	add_cond(c, &nc, "full", "full", 0, NULL, 0);
	add_cond(c, &nc, "ablate_ods", "ods", 0, ods, 4);
	add_cond(c, &nc, "only_ods", "ods", 1, ods, 4);
	for (int r = 0; r < 10; r++) {
		for (int j = 0; j < 4; j++)
			rnd[r][j] = 500 + 20 * r + j;
		snprintf(name, sizeof name, "ablate_random_%d", r + 1);
		add_cond(c, &nc, name, "random", 0, rnd[r], 4);
		snprintf(name, sizeof name, "only_random_%d", r + 1);
		add_cond(c, &nc, name, "random", 1, rnd[r], 4);
	}
	for (int k = 1; k <= 4; k++) {
		snprintf(name, sizeof name, "cumulative_%d", k);
		add_cond(c, &nc, name, "cumulative", 0, ods, k);
	}
	for (int k = 0; k < 4; k++) {
		snprintf(name, sizeof name, "single_%d", ods[k]);
		add_cond(c, &nc, name, "single", 0, &ods[k], 1);
	}
	/* the kernels this CPU gets, then the portable ones (ODS_SIMD=generic) */
	for (int k = 0; k < 2; k++) {
		const char *kind = k ? "portable kernels" : "AVX-512 kernels";
		t_logits = t_abl = 1e9;
		if (k)
			setenv("ODS_SIMD", "generic", 1);
		else if (!ods_smx_init())
			kind = "portable kernels (no AVX-512F)";
		/* adjacent pairs, the median of their ratios: the host's noise
		 * (this may be a VM) moves both times of a pair alike */
		enum { NP = 9 };
		double ratio[NP];
		for (int r = 0; r < NP; r++) {
			double t0 = ods_now();
			ods_model_logits(m, h, n, logits);
			double dl = ods_now() - t0;
			t_logits = dl < t_logits ? dl : t_logits;
			double da = time_ablate(m, c, nc, h, gold, n, corpus, res);
			if (da < 0)
				break;
			t_abl = da < t_abl ? da : t_abl;
			ratio[r] = da / dl;
			for (int i = r; i > 0 && ratio[i] < ratio[i - 1]; i--) {
				double x = ratio[i];
				ratio[i] = ratio[i - 1];
				ratio[i - 1] = x;
			}
		}
		printf("ablate (%d inputs, D %d, V %d, %d conditions incl. 10 random sets ablated and kept "
		       "alone; %s): best %.3f s vs one full logits pass best %.3f s; median ratio of %d "
		       "adjacent pairs %.2fx (quartiles %.2f-%.2f, range %.2f-%.2f; target <= 1.5x)\n",
		       n, D, V, nc, kind, t_abl, t_logits, NP, ratio[NP / 2], ratio[NP / 4],
		       ratio[NP - 1 - NP / 4], ratio[0], ratio[NP - 1]);
		unsetenv("ODS_SIMD");
		if (!k && !strncmp(kind, "portable", 8))
			break;
	}
	/* both on 1 thread and on all of them (best of 3 each): the pass's
	 * products must keep up with its conditions on many cores too */
	int nt = ods_ops_threads();
	double tl[2] = {1e9, 1e9}, ta[2] = {1e9, 1e9};
	for (int q = 0; q < 2; q++) {
		ods_ops_init(q ? nt : 1);
		for (int r = 0; r < 3; r++) {
			double t0 = ods_now();
			ods_model_logits(m, h, n, logits);
			double dl = ods_now() - t0, da = time_ablate(m, c, nc, h, gold, n, corpus, res);
			tl[q] = dl < tl[q] ? dl : tl[q];
			ta[q] = da < ta[q] ? da : ta[q];
		}
	}
	printf("ablate on 1 thread %.3f s, on %d threads %.3f s (%.2fx faster; %.2fx one logits pass); "
	       "one logits pass %.3f s, %.3f s (%.2fx faster)\n",
	       ta[0], nt, ta[1], ta[0] / ta[1], ta[1] / tl[1], tl[0], tl[1], tl[0] / tl[1]);
	free(gold);
	free(logits);
	free(corpus);
}

/* Best of reps forward passes of one T-token sequence of random ids (seeded);
 * hidden[T, d_out] keeps the last pass. Returns seconds. */
static double time_forward(const struct ods_model *m, int T, int reps, uint64_t seed, float *hidden)
{
	struct ods_err err = {0};
	struct ods_fwd *fwd = ods_fwd_open(m, T, T);
	int32_t *ids = ods_xmalloc((size_t)T * sizeof *ids);
	int seq_off[2] = {0, T};
	double best = 1e9;
	for (int i = 0; i < T; i++)
		ids[i] = (int32_t)((frand(&seed) + 1.0f) * 0.5f * (m->cfg.n_vocab - 1));
	for (int r = 0; r < reps; r++) {
		double t0 = ods_now();
		if (ods_model_forward(m, fwd, ids, T, seq_off, 1, hidden, &err))
			printf("forward: %s\n", err.msg);
		double dt = ods_now() - t0;
		best = dt < best ? dt : best;
	}
	ods_fwd_free(fwd);
	free(ids);
	return best;
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
	float *hidden = ods_xmalloc((size_t)T * D * sizeof *hidden);
	double best = time_forward(m, T, 6, 5, hidden);
	/* FLOPs per token: 24 D^2 per layer (qkv, proj, 2 MLP) + attention 4 * D * mean context */
	double flop_tok = (double)L * (24.0 * D * D + 4.0 * D * (T + 1) / 2.0);
	double tps = T / best, gf = tps * flop_tok / 1e9;
	printf("forward (GPT-2 small F32, %d-token batch, %d threads): %.0f tokens/s, %.1f GFLOP/s "
	       "(%.1f MFLOP/token)\n", T, ods_ops_threads(), tps, gf, flop_tok / 1e6);
	printf("forward / sgemm peak: %.1f%% (sgemm bound %.0f tokens/s; target >= 80%%)\n",
	       100.0 * gf / peak, peak * 1e9 / flop_tok);
	bench_ablate(m, hidden, T);
	free(hidden);
	ods_model_free(m);
}

/* VmRSS / VmHWM of this process in MiB (-1 if unknown). */
static double proc_mib(const char *key)
{
	char line[256];
	double v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, strlen(key)))
			v = atof(line + strlen(key) + 1) / 1024.0;
	fclose(f);
	return v;
}

/* Llama-shaped (TinyLlama-1.1B) BF16 model: tokens/s at 512-token batches
 * and resident memory, BF16 weights kept 16-bit in memory. */
static void bench_llama(double peak)
{
	const char *dir = "tests/tmp/bench-llama-bf16";
	struct ods_err err = {0};
	struct ods_model *m;
	int T = 512, D = 2048, L = 22, H = 32, KV = 4, F = 5632, V = 32000, hd = D / H;
	char path[4096];
	struct stat st;
	double rss0 = proc_mib("VmRSS:"), t0;
	mkdir("tests/tmp", 0755);
	ods_path_join(path, sizeof path, dir, "model.safetensors");
	if (stat(path, &st) != 0) {
		t0 = ods_now();
		if (write_llama(dir, D, L, H, KV, F, V, ODS_DT_BF16, &err)) {
			printf("llama: %s\n", err.msg);
			return;
		}
		printf("llama: wrote %s in %.1f s\n", path, ods_now() - t0);
		stat(path, &st);
	}
	if (ods_model_open(&m, dir, &err)) {
		printf("llama: %s\n", err.msg);
		return;
	}
	int64_t n_param = 0;
	for (int i = 0; i < m->st.n_tensors; i++)
		n_param += m->st.tensors[i].n_elem;
	float *hidden = ods_xmalloc((size_t)T * D * sizeof *hidden);
	double best = time_forward(m, T, 3, 7, hidden);
	/* per token: 2 x the block matmul weights + attention 4 * H * hd * mean context */
	double w_layer = (double)D * (H * hd + 2 * KV * hd) + (double)H * hd * D + 3.0 * D * F;
	double flop_tok = L * (2.0 * w_layer + 4.0 * H * hd * (T + 1) / 2.0);
	double tps = T / best, gf = tps * flop_tok / 1e9;
	printf("forward (Llama-shaped BF16: D %d, %d layers, %d heads / %d KV, F %d, V %d; %.2fB params, "
	       "file %.2f GB; %d-token batch, %d threads): %.1f tokens/s, %.1f GFLOP/s (%.0f%% of sgemm "
	       "peak)\n",
	       D, L, H, KV, F, V, n_param / 1e9, st.st_size / 1e9, T, ods_ops_threads(), tps, gf,
	       100.0 * gf / peak);
	printf("llama memory: resident %.0f MiB after the forward passes (peak %.0f MiB, process "
	       "baseline %.0f MiB); the weights in F32 would take %.0f MiB\n",
	       proc_mib("VmRSS:"), proc_mib("VmHWM:"), rss0, n_param * 4.0 / 1048576.0);
	free(hidden);
	ods_model_free(m);
}

/* Encode text[0..n) as scan feeds it (a document per paragraph-sized chunk); prints MB/s. */
static void bench_tok_one(struct ods_tok *tok, const char *used, const char *big, size_t n)
{
	struct ods_err err = {0};
	struct ods_ids ids = {0};
	size_t off = 0, n_ids = 0;
	double t0 = ods_now();

	while (off < n) {
		size_t len = n - off < 4096 ? n - off : 4096;
		while (off + len < n && ((unsigned char)big[off + len] & 0xc0) == 0x80)
			len++;
		ids.n = 0;
		if (ods_tok_encode(tok, big + off, len, 0, &ids, &err)) {
			printf("tokenizer: %s\n", err.msg);
			break;
		}
		n_ids += ids.n;
		off += len;
	}
	double dt = ods_now() - t0;
	printf("tokenizer (%s, %s, 1 thread): %.1f MB/s on %.1f MB of English text, %.2f bytes/token "
	       "(target >= 5 MB/s)\n", ods_tok_kind(tok), used, (double)n / dt / 1e6, (double)n / 1e6,
	       (double)n / (double)(n_ids ? n_ids : 1));
	ods_ids_release(&ids);
}

static void bench_tokenizer(void)
{
	struct ods_err err = {0};
	struct ods_tok *tok = NULL;
	const char *dirs[] = {"../shared/fixtures/tokenizers/gpt2", "corpora/demo/model"};
	const char *sp_dir = "../shared/fixtures/tokenizers/llama-2";
	const char *text_files[] = {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
				    "/usr/share/common-licenses/GPL-2", "/usr/share/common-licenses/LGPL-2.1"};
	char *big = NULL;
	size_t n = 0;
	const char *used = NULL;

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
		return;
	}
	for (size_t i = 0; i < 2 && !tok; i++)
		if (ods_tok_open(&tok, dirs[i], &err) == 0)
			used = dirs[i];
	if (tok)
		bench_tok_one(tok, used, big, n);
	else
		printf("tokenizer: byte-level skipped (no tokenizer: run make demo or provide ../shared)\n");
	ods_tok_free(tok);
	if (ods_tok_open(&tok, sp_dir, &err) == 0)
		bench_tok_one(tok, sp_dir, big, n);
	else
		printf("tokenizer: SentencePiece-style skipped (%s)\n", err.msg);
	ods_tok_free(tok);
	free(big);
}

int main(int argc, char **argv)
{
	/* `bench [gpt2|llama|tok]...` runs only the named sections */
	int all = argc < 2, want[3] = {0};
	for (int i = 1; i < argc; i++)
		for (int k = 0; k < 3; k++)
			want[k] |= !strcmp(argv[i], (const char *[]){"gpt2", "llama", "tok"}[k]);
	ods_ops_prefer_avx512(argv);
	int nt = ods_ops_init(0);
	double blas = sgemm_peak_blas(nt);
	double split = matmul_gflops(512, 768, 3072);
	double peak = blas > split ? blas : split;
	printf("sgemm peak: OpenBLAS %d threads %.1f GFLOP/s (2048^3); odscope split sgemm %.1f GFLOP/s "
	       "(512x768x3072)\n", nt, blas, split);
	if (all || want[0])
		bench_forward(peak);
	if (all || want[1])
		bench_llama(peak);
	if (all || want[2])
		bench_tokenizer();
	return 0;
}
