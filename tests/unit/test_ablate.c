/* test_ablate.c - ods_ablate against a float64 computation written here: the
 * logits of every condition recomputed in full from the modified hidden
 * state (no rank updates, no online softmax), raw and with the model's own
 * bias and soft-cap (--faithful), zero and mean replacement, overlapping,
 * nested and repeated sets, an empty "only" set; over more inputs than one
 * pass holds and more vocabulary blocks than one pass keeps at once, with both kernel
 * sets, and with W_U stored BF16. The Python test (tests/py/test_ablate.py)
 * covers the command. */
#include "t.h"

#include "odscope/ablate.h"
#include "odscope/smx.h"
#include "odscope/st.h"
#include "odscope/util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return a < b ? -1 : a > b;
}

enum { D = 20, V = 17011, N = 530 }; /* V: more blocks than ablate.c's ring holds */

static float frand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((*s >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* A model that is only its unembedding w[v, d] (F32). */
static void f32_model(struct ods_model *m, float *w, int d, int v)
{
	memset(m, 0, sizeof *m);
	m->cfg.d_out = d;
	m->cfg.n_vocab = v;
	m->unemb.data = w;
	m->unemb.dtype = ODS_DT_F32;
	m->unemb.rows = v;
	m->unemb.cols = d;
}

struct ref {
	double surp, ent, kl;
	int top1;
};

/* Observables of one input under condition c, in float64 from scratch. */
static void reference(const float *w, const float *h, int gold, const struct ods_cond *c,
		      const float *base, float softcap, const float *bias, double *zp_ref, struct ref *r,
		      int is_p)
{
	double hm[D], *z = malloc(V * sizeof *z), mx = -INFINITY, s = 0, lse, ent = 0, kl = 0;
	int in[D] = {0};
	for (int k = 0; k < c->n_dims; k++)
		in[c->dims[k]] = 1;
	for (int d = 0; d < D; d++) {
		int keep = c->only ? in[d] : !in[d];
		hm[d] = keep ? h[d] : (base ? base[d] : 0.0);
	}
	for (int t = 0; t < V; t++) {
		double v = 0;
		for (int d = 0; d < D; d++)
			v += (double)w[(size_t)t * D + d] * hm[d];
		if (bias)
			v += bias[t];
		if (softcap > 0)
			v = softcap * tanh(v / softcap);
		z[t] = v;
		if (v > mx) {
			mx = v;
			r->top1 = t;
		}
	}
	for (int t = 0; t < V; t++)
		s += exp(z[t] - mx);
	lse = mx + log(s);
	for (int t = 0; t < V; t++) {
		double q = exp(z[t] - lse);
		ent -= q * (z[t] - lse);
	}
	if (is_p) {
		for (int t = 0; t < V; t++)
			zp_ref[t] = z[t] - lse; /* log P */
	} else {
		for (int t = 0; t < V; t++)
			kl += exp(zp_ref[t]) * (zp_ref[t] - (z[t] - lse));
	}
	r->surp = lse - z[gold];
	r->ent = ent;
	r->kl = is_p ? 0 : kl;
	free(z);
}

static int close_to(double got, double want, double rel, double abs_)
{
	return fabs(got - want) <= rel * fabs(want) + abs_;
}

/* bf16: W_U stored BF16 (the product converts it tile by tile, the columns
 * element by element); the reference uses the same rounded values. */
static void check(int faithful, int mean, float scale, int bf16)
{
	static int s_ods[] = {3, 7, 11}, s_rnd[] = {1, 5, 9}, s_dup[] = {11, 3, 7, 3};
	static int s_one[] = {3}, s_two[] = {3, 7}, s_big[] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18};
	const struct {
		const char *name;
		int only, n;
		int *dims;
	} spec[] = {
		{"full", 0, 0, NULL},      {"ablate_ods", 0, 3, s_ods}, {"only_ods", 1, 3, s_ods},
		{"ablate_rnd", 0, 3, s_rnd}, {"only_rnd", 1, 3, s_rnd}, {"cumulative_1", 0, 1, s_one},
		{"cumulative_2", 0, 2, s_two}, {"cumulative_3", 0, 3, s_ods}, {"single_3", 0, 1, s_one},
		{"dup_set", 0, 4, s_dup},  {"only_empty", 1, 0, NULL},  {"ablate_big", 0, 10, s_big},
		{"only_big", 1, 10, s_big},
	};
	enum { NC = sizeof spec / sizeof *spec };
	struct ods_cond conds[NC];
	struct ods_cond_result res[NC];
	struct ods_model m;
	struct ods_err err = {0};
	struct ods_ablate *a;
	uint64_t seed = 99;
	float *w = ods_xmalloc((size_t)V * D * sizeof *w), *h = ods_xmalloc((size_t)N * D * sizeof *h);
	float *bias = ods_xmalloc(V * sizeof *bias), base[D];
	int32_t gold[N];
	int64_t *corpus = ods_xcalloc(V, sizeof *corpus);
	double *zp = ods_xmalloc(V * sizeof *zp);
	float softcap = faithful ? 3.0f : 0.0f;
	const float *bp = faithful ? bias : NULL;

	uint16_t *wb = NULL;
	f32_model(&m, w, D, V);
	for (size_t i = 0; i < (size_t)V * D; i++)
		w[i] = 0.3f * frand(&seed);
	if (bf16) {
		wb = ods_xmalloc((size_t)V * D * sizeof *wb);
		for (size_t i = 0; i < (size_t)V * D; i++) {
			uint32_t u;
			memcpy(&u, &w[i], 4);
			wb[i] = (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16); /* round to nearest even */
			w[i] = ods_bf16_to_f32(wb[i]);
		}
		m.unemb.data = wb;
		m.unemb.dtype = ODS_DT_BF16;
	}
	for (int t = 0; t < V; t++) {
		bias[t] = 0.5f * frand(&seed);
		corpus[t] = 1 + (V - t) / 50;
	}
	for (int d = 0; d < D; d++)
		base[d] = mean ? 0.7f * frand(&seed) : 0.0f;
	for (int i = 0; i < N; i++) {
		for (int d = 0; d < D; d++)
			h[(size_t)i * D + d] = scale * (2.0f * frand(&seed) + (d == 3 || d == 7 ? 6.0f : 0.0f));
		gold[i] = (int32_t)((frand(&seed) + 1.0f) * 0.5f * (V - 1));
	}
	for (int c = 0; c < NC; c++) {
		memset(&conds[c], 0, sizeof conds[c]);
		snprintf(conds[c].name, sizeof conds[c].name, "%s", spec[c].name);
		snprintf(conds[c].kind, sizeof conds[c].kind, "test");
		conds[c].only = spec[c].only;
		conds[c].n_dims = spec[c].n;
		conds[c].dims = spec[c].dims;
	}
	T_CHECK(!ods_ablate_open(&a, &m, conds, NC, mean ? base : NULL, softcap, bp, &err), "%s", err.msg);
	/* in uneven pieces, crossing the pass size */
	for (int i = 0; i < N;) {
		int k = i % 3 == 0 ? 1 : 97;
		k = k > N - i ? N - i : k;
		ods_ablate_add(a, h + (size_t)i * D, gold + i, k);
		i += k;
	}
	T_CHECK(ods_ablate_count(a) == N, "count %lld", (long long)ods_ablate_count(a));
	ods_ablate_finish(a, corpus, res);
	/* per input, against float64; a sample of inputs keeps the test short */
	int bad = 0, bad_top = 0;
	for (int i = 0; i < N; i += 7) {
		struct ref rp, rq;
		reference(w, h + (size_t)i * D, gold[i], &conds[0], mean ? base : NULL, softcap, bp, zp, &rp, 1);
		for (int c = 0; c < NC; c++) {
			const float *su, *en, *kl;
			const int32_t *top, *gd;
			ods_ablate_inputs(a, c, &su, &en, &kl, &top, &gd);
			if (c == 0)
				rq = rp;
			else
				reference(w, h + (size_t)i * D, gold[i], &conds[c], mean ? base : NULL, softcap, bp, zp,
					  &rq, 0);
			if (!close_to(su[i], rq.surp, 2e-5, 2e-5) || !close_to(en[i], rq.ent, 2e-5, 2e-5) ||
			    !close_to(kl[i], rq.kl, 1e-4, 2e-5)) {
				if (bad++ < 5)
					printf("  %s input %d: surprisal %.7g/%.7g entropy %.7g/%.7g kl %.7g/%.7g\n",
					       conds[c].name, i, su[i], rq.surp, en[i], rq.ent, kl[i], rq.kl);
			}
			bad_top += top[i] != rq.top1;
			T_CHECK(gd[i] == gold[i], "gold");
		}
	}
	T_CHECK(!bad, "faithful=%d mean=%d: %d observables off", faithful, mean, bad);
	T_CHECK(bad_top == 0, "faithful=%d mean=%d: %d top-1 differ", faithful, mean, bad_top);
	/* repeated computations give identical rows; the top-1 counts are those of
	 * the per-input top-1 and sum to N */
	T_CHECK(res[7].mean_surprisal == res[1].mean_surprisal && res[8].mean_kl == res[5].mean_kl,
		"cumulative_3 = ablate_ods, single_3 = cumulative_1");
	T_CHECK(res[0].mean_kl == 0, "KL(full || full) = %g", res[0].mean_kl);
	for (int c = 0; c < NC; c++) {
		const float *su, *en, *kl;
		const int32_t *top, *gd;
		int64_t tot = 0, *want = ods_xcalloc(V, sizeof *want);
		int same = 1, nd = 0;
		ods_ablate_inputs(a, c, &su, &en, &kl, &top, &gd);
		for (int i = 0; i < N; i++)
			nd += !want[top[i]]++;
		for (int j = 0; j < res[c].n_distinct_top1; j++) {
			tot += res[c].top1_cnt[j];
			same &= res[c].top1_cnt[j] == want[res[c].top1_tok[j]] &&
				(!j || res[c].top1_tok[j] > res[c].top1_tok[j - 1]);
		}
		T_CHECK(tot == N, "%s: top-1 counts sum to %lld", conds[c].name, (long long)tot);
		T_CHECK(same && nd == res[c].n_distinct_top1, "%s: top-1 counts (ascending tokens) match the "
			"per-input top-1", conds[c].name);
		free(want);
	}
	/* medians of the per-input values (N even), sorted here */
	for (int c = 0; c < NC; c++) {
		const float *su, *en, *kl;
		const int32_t *top, *gd;
		float *v = ods_xmalloc(N * sizeof *v);
		ods_ablate_inputs(a, c, &su, &en, &kl, &top, &gd);
		memcpy(v, en, N * sizeof *v);
		qsort(v, N, sizeof *v, cmp_float);
		T_CHECK(res[c].median_entropy == 0.5 * ((double)v[N / 2 - 1] + v[N / 2]),
			"%s: median entropy %.9g vs %.9g", conds[c].name, res[c].median_entropy,
			0.5 * ((double)v[N / 2 - 1] + v[N / 2]));
		memcpy(v, su, N * sizeof *v);
		qsort(v, N, sizeof *v, cmp_float);
		T_CHECK(res[c].median_surprisal == 0.5 * ((double)v[N / 2 - 1] + v[N / 2]),
			"%s: median surprisal", conds[c].name);
		free(v);
	}
	ods_ablate_free(a);
	free(w);
	free(wb);
	free(h);
	free(bias);
	free(corpus);
	free(zp);
}

static void run_both(int faithful, int mean, float scale)
{
	unsetenv("ODS_SIMD");
	check(faithful, mean, scale, 0);
	setenv("ODS_SIMD", "generic", 1);
	check(faithful, mean, scale, 0);
	unsetenv("ODS_SIMD");
}

static void test_ablate_raw(void)
{
	run_both(0, 0, 1.0f);
}

/* logits of several hundred nats: running maxima jump, blocks are redone */
static void test_ablate_large_logits(void)
{
	run_both(0, 0, 40.0f);
}

static void test_ablate_mean(void)
{
	run_both(0, 1, 1.0f);
}

static void test_ablate_faithful(void)
{
	run_both(1, 0, 1.0f);
}

static void test_ablate_bf16(void)
{
	check(0, 1, 1.0f, 1);
}

/* The union's columns in a ring of blocks, gathered again on every pass
 * (ODS_ABLATE_COLS_MIB=0; the other tests keep them from the first pass):
 * mean ablation, and raw with W_U stored BF16. */
static void test_ablate_ring_cols(void)
{
	setenv("ODS_ABLATE_COLS_MIB", "0", 1);
	check(0, 1, 1.0f, 0);
	check(0, 0, 1.0f, 1);
	unsetenv("ODS_ABLATE_COLS_MIB");
}

/* An odd number of inputs: the median is the middle value. */
static void test_ablate_median_odd(void)
{
	enum { d = 4, v = 64, n = 7 };
	float w[v * d], h[n * d];
	int32_t gold[n] = {0};
	int64_t corpus[v];
	int dims[] = {1};
	uint64_t seed = 5;
	struct ods_cond c[2] = {{.name = "full", .kind = "full"}, {.name = "one", .kind = "dims", .n_dims = 1, .dims = dims}};
	struct ods_cond_result res[2];
	struct ods_model m;
	struct ods_err err = {0};
	struct ods_ablate *a = NULL;
	f32_model(&m, w, d, v);
	for (int i = 0; i < v * d; i++)
		w[i] = frand(&seed);
	for (int i = 0; i < n * d; i++)
		h[i] = 3.0f * frand(&seed);
	for (int t = 0; t < v; t++)
		corpus[t] = 1 + t;
	T_CHECK(!ods_ablate_open(&a, &m, c, 2, NULL, 0.0f, NULL, &err), "%s", err.msg);
	ods_ablate_add(a, h, gold, n);
	ods_ablate_finish(a, corpus, res);
	for (int k = 0; k < 2; k++) {
		const float *su, *en, *kl;
		const int32_t *top, *gd;
		float s[n];
		ods_ablate_inputs(a, k, &su, &en, &kl, &top, &gd);
		memcpy(s, su, sizeof s);
		qsort(s, n, sizeof *s, cmp_float);
		T_CHECK(res[k].median_surprisal == s[n / 2], "%s: median %.9g vs %.9g", c[k].name,
			res[k].median_surprisal, s[n / 2]);
	}
	ods_ablate_free(a);
}

/* The pass's work items run on any number of threads in any order the host
 * allows; each input's blocks are still folded in order, and each logit is
 * one dot product however the block's product is sliced (1 slice on 1 and 3
 * threads, 4 on 8), so the values do not depend on the thread count:
 * bitwise equal on 1, 3 and 8 threads (more threads than cores: items wait
 * on items of paused threads). */
static void test_ablate_threads(void)
{
	enum { d = 12, v = 5 * 4096 + 300, n = 77, nc = 4 };
	float *w = ods_xmalloc((size_t)v * d * sizeof *w), h[n * d];
	int32_t gold[n];
	int64_t *corpus = ods_xcalloc(v, sizeof *corpus);
	int s1[] = {2, 5}, s2[] = {2, 5, 7};
	struct ods_cond c[nc] = {{.name = "full", .kind = "full"},
				 {.name = "a", .kind = "dims", .n_dims = 2, .dims = s1},
				 {.name = "b", .kind = "dims", .only = 1, .n_dims = 2, .dims = s1},
				 {.name = "c", .kind = "dims", .n_dims = 3, .dims = s2}};
	struct ods_cond_result res[nc];
	struct ods_model m;
	struct ods_err err = {0};
	struct ods_ablate *a[3] = {NULL};
	const int threads[3] = {1, 3, 8};
	uint64_t seed = 17;
	int nt0 = omp_get_max_threads();
	f32_model(&m, w, d, v);
	for (size_t i = 0; i < (size_t)v * d; i++)
		w[i] = 0.5f * frand(&seed);
	for (int i = 0; i < n * d; i++)
		h[i] = 4.0f * frand(&seed);
	for (int i = 0; i < n; i++)
		gold[i] = (int32_t)((frand(&seed) + 1.0f) * 0.5f * (v - 1));
	for (int r = 0; r < 3; r++) {
		omp_set_num_threads(threads[r]);
		T_CHECK(!ods_ablate_open(&a[r], &m, c, nc, NULL, 0.0f, NULL, &err), "%s", err.msg);
		ods_ablate_add(a[r], h, gold, n);
		ods_ablate_finish(a[r], corpus, res);
	}
	omp_set_num_threads(nt0);
	for (int r = 1; r < 3; r++)
		for (int k = 0; k < nc; k++) {
			const float *su[2], *en[2], *kl[2];
			const int32_t *top[2], *gd[2];
			ods_ablate_inputs(a[0], k, &su[0], &en[0], &kl[0], &top[0], &gd[0]);
			ods_ablate_inputs(a[r], k, &su[1], &en[1], &kl[1], &top[1], &gd[1]);
			T_CHECK(!memcmp(su[0], su[1], n * sizeof *su[0]) && !memcmp(en[0], en[1], n * sizeof *en[0]) &&
					!memcmp(kl[0], kl[1], n * sizeof *kl[0]) &&
					!memcmp(top[0], top[1], n * sizeof *top[0]),
				"%s: %d threads differ from 1", c[k].name, threads[r]);
		}
	for (int r = 0; r < 3; r++)
		ods_ablate_free(a[r]);
	free(w);
	free(corpus);
}

static void test_ablate_bad_dim(void)
{
	int dims[] = {D};
	struct ods_cond c = {.name = "bad", .kind = "dims", .n_dims = 1, .dims = dims};
	struct ods_model m;
	struct ods_err err = {0};
	struct ods_ablate *a = NULL;
	f32_model(&m, NULL, D, V);
	T_CHECK(ods_ablate_open(&a, &m, &c, 1, NULL, 0, NULL, &err) != 0 && strstr(err.msg, "outside"),
		"an out-of-range dimension is refused: %s", err.msg);
}

int main(void)
{
	T_RUN(test_ablate_raw);
	T_RUN(test_ablate_large_logits);
	T_RUN(test_ablate_mean);
	T_RUN(test_ablate_faithful);
	T_RUN(test_ablate_bf16);
	T_RUN(test_ablate_ring_cols);
	T_RUN(test_ablate_median_odd);
	T_RUN(test_ablate_threads);
	T_RUN(test_ablate_bad_dim);
	return T_END();
}
