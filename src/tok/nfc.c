/* nfc.c - Unicode NFC (canonical decomposition, canonical ordering, canonical
 * composition; UAX #15), for tokenizers whose normalizer is NFC (GPT-NeoX,
 * Pythia). Tables in nfc_data.c, generated from Python's unicodedata; Hangul
 * syllables are handled algorithmically.
 */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

#define S_BASE 0xac00u
#define L_BASE 0x1100u
#define V_BASE 0x1161u
#define T_BASE 0x11a7u
#define L_COUNT 19u
#define V_COUNT 21u
#define T_COUNT 28u
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

static const struct tok_nfc_decomp *find_decomp(uint32_t cp)
{
	size_t lo = 0, hi = ods_tok_nfc_n_decomp;

	if (cp < 0xc0)
		return NULL;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ods_tok_nfc_decomp[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ods_tok_nfc_n_decomp && ods_tok_nfc_decomp[lo].cp == cp ? &ods_tok_nfc_decomp[lo]
									  : NULL;
}

static unsigned ccc_of(uint32_t cp)
{
	size_t lo = 0, hi = ods_tok_nfc_n_ccc;

	if (cp < 0x300)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ods_tok_nfc_ccc[mid].hi < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ods_tok_nfc_n_ccc && ods_tok_nfc_ccc[lo].lo <= cp ? ods_tok_nfc_ccc[lo].ccc : 0;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b)
{
	uint64_t key = (uint64_t)a << 21 | b;
	size_t lo = 0, hi = ods_tok_nfc_n_comp;

	if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
		return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
	if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
	    b < T_BASE + T_COUNT)
		return a + (b - T_BASE);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ods_tok_nfc_comp[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ods_tok_nfc_n_comp && ods_tok_nfc_comp[lo].key == key ? ods_tok_nfc_comp[lo].cp : 0;
}

static void push_cp(struct ods_tok *tok, size_t *n, uint32_t cp)
{
	if (*n == tok->cap_cp) {
		tok->cap_cp = tok->cap_cp ? 2 * tok->cap_cp : 1024;
		tok->cp_buf = ods_xrealloc(tok->cp_buf, tok->cap_cp * sizeof *tok->cp_buf);
	}
	tok->cp_buf[(*n)++] = cp;
}

/* Full canonical decomposition of s into tok->cp_buf; returns the count. */
static size_t decompose(struct ods_tok *tok, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, m = 0;

	while (i < n) {
		uint32_t cp = p[i];
		const struct tok_nfc_decomp *d;

		if (cp < 0x80) {
			i++;
		} else if (cp < 0xe0) {
			cp = (cp & 0x1f) << 6 | (p[i + 1] & 0x3f);
			i += 2;
		} else if (cp < 0xf0) {
			cp = (cp & 0x0f) << 12 | (uint32_t)(p[i + 1] & 0x3f) << 6 | (p[i + 2] & 0x3f);
			i += 3;
		} else {
			cp = (cp & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3f) << 12 |
			     (uint32_t)(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3f);
			i += 4;
		}
		if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
			uint32_t si = cp - S_BASE;
			push_cp(tok, &m, L_BASE + si / N_COUNT);
			push_cp(tok, &m, V_BASE + si % N_COUNT / T_COUNT);
			if (si % T_COUNT)
				push_cp(tok, &m, T_BASE + si % T_COUNT);
		} else if ((d = find_decomp(cp))) {
			for (unsigned k = 0; k < d->len; k++)
				push_cp(tok, &m, ods_tok_nfc_decomp_cps[d->off + k]);
		} else {
			push_cp(tok, &m, cp);
		}
	}
	return m;
}

/* Stable sort of each run of non-starters by combining class. */
static void reorder(uint32_t *c, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		unsigned cc = ccc_of(c[i]);
		size_t j = i;
		uint32_t x = c[i];

		if (cc == 0)
			continue;
		while (j > 0) {
			unsigned pc = ccc_of(c[j - 1]);
			if (pc == 0 || pc <= cc)
				break;
			c[j] = c[j - 1];
			j--;
		}
		c[j] = x;
	}
}

/* Canonical composition in place; returns the new count. */
static size_t recompose(uint32_t *c, size_t n)
{
	size_t out = 0, starter = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		uint32_t x = c[i];
		unsigned cc = ccc_of(x);

		if (starter != SIZE_MAX) {
			unsigned last = out - 1 == starter ? 0 : ccc_of(c[out - 1]);
			int adjacent = out - 1 == starter;
			if (adjacent || (last != 0 && last < cc)) {
				uint32_t comp = compose(c[starter], x);
				if (comp) {
					c[starter] = comp;
					continue;
				}
			}
		}
		if (cc == 0)
			starter = out;
		c[out++] = x;
	}
	return out;
}

/* NFC of one region s[0..n) appended to out. */
static void nfc_region(struct ods_tok *tok, struct tok_buf *out, const char *s, size_t n)
{
	size_t m = decompose(tok, s, n);

	reorder(tok->cp_buf, m);
	m = recompose(tok->cp_buf, m);
	for (size_t i = 0; i < m; i++) {
		uint32_t cp = tok->cp_buf[i];
		uint8_t b[4];
		size_t k;

		if (cp < 0x80) {
			b[0] = (uint8_t)cp;
			k = 1;
		} else if (cp < 0x800) {
			b[0] = (uint8_t)(0xc0 | cp >> 6);
			b[1] = (uint8_t)(0x80 | (cp & 0x3f));
			k = 2;
		} else if (cp < 0x10000) {
			b[0] = (uint8_t)(0xe0 | cp >> 12);
			b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp & 0x3f));
			k = 3;
		} else {
			b[0] = (uint8_t)(0xf0 | cp >> 18);
			b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			b[3] = (uint8_t)(0x80 | (cp & 0x3f));
			k = 4;
		}
		ods_tok_buf_put(out, b, k);
	}
}

/* Code points below U+0300 are starters that NFC leaves alone and that never
 * compose with what precedes them (checked by the table generator), so the
 * text splits before each of them into independent pieces: only a run of code
 * points >= U+0300 (lead byte >= 0xCC), with the code point before it, needs
 * the full algorithm; the rest is copied. */
long ods_tok_nfc(struct ods_tok *tok, const char *s, size_t n, struct tok_buf *out)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, done = 0;

	while (i < n && p[i] < 0xcc)
		i++;
	if (i == n)
		return -1; /* no code point >= U+0300: already NFC */
	out->n = 0;
	while (i < n) {
		size_t start = i, end = i;

		/* the code point before the run belongs to it (it may compose) */
		if (start > done) {
			start--;
			while (start > done && (p[start] & 0xc0) == 0x80)
				start--;
		}
		while (end < n && p[end] >= 0xcc) {
			end++;
			while (end < n && (p[end] & 0xc0) == 0x80)
				end++;
		}
		ods_tok_buf_put(out, s + done, start - done);
		nfc_region(tok, out, s + start, end - start);
		done = i = end;
		while (i < n && p[i] < 0xcc)
			i++;
	}
	ods_tok_buf_put(out, s + done, n - done);
	return (long)out->n;
}
