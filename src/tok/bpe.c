/* bpe.c - GPT-2's byte-level alphabet and the BPE model.
 *
 * The initial symbols of a word are HF's (models/bpe/model.rs, merge_word):
 * byte-level tokenizers have one per byte (the byte's alphabet character);
 * the others one per character, looked up as is; a character missing from
 * the vocab becomes its UTF-8 bytes as "<0xNN>" tokens (byte_fallback, when
 * all of them exist), else the unk token (consecutive ones fused into one
 * with fuse_unk), else nothing.
 *
 * The merge loop is the one of HF tokenizers (models/bpe/word.rs): every
 * adjacent pair that has a merge goes into a min-heap ordered by (rank,
 * position); the best pair is merged, its new neighbours are pushed, stale
 * entries are skipped. That is the same as "repeatedly merge the leftmost
 * pair of lowest rank", and gives HF's ids exactly.
 */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

/* GPT-2 bytes_to_unicode: printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF)
 * stand for themselves; the other 68 map to 256, 257, ... in byte order. */
uint32_t ods_tok_byte_cp(uint8_t b)
{
	if (b <= 0x20)
		return 256u + b;
	if (b >= 0x7f && b <= 0xa0)
		return 256u + 33u + (uint32_t)(b - 0x7f);
	if (b == 0xad)
		return 256u + 33u + 34u;
	return b;
}

/* Inverse of ods_tok_byte_cp: the byte a code point stands for, or -1. */
int ods_tok_cp_byte(uint32_t cp)
{
	if (cp < 256)
		return ods_tok_byte_cp((uint8_t)cp) == cp ? (int)cp : -1;
	if (cp < 256 + 33)
		return (int)(cp - 256);
	if (cp < 256 + 33 + 34)
		return (int)(cp - 256 - 33 + 0x7f);
	if (cp == 256 + 33 + 34)
		return 0xad;
	return -1;
}

/* Byte-level form of raw bytes (1 or 2 bytes out per byte in). */
size_t ods_tok_to_byte_level(const char *s, size_t n, char *out)
{
	const uint8_t *p = (const uint8_t *)s;
	uint8_t *o = (uint8_t *)out;

	for (size_t i = 0; i < n; i++) {
		uint32_t cp = ods_tok_byte_cp(p[i]);
		if (cp < 0x80) {
			*o++ = (uint8_t)cp;
		} else {
			*o++ = (uint8_t)(0xc0 | (cp >> 6));
			*o++ = (uint8_t)(0x80 | (cp & 0x3f));
		}
	}
	return (size_t)(o - (uint8_t *)out);
}

/* Decode one UTF-8 code point at s[*i] (s valid up to n); advances *i.
 * Malformed bytes decode as themselves (one byte). */
static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *i)
{
	uint32_t c = s[*i];
	size_t k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;

	if (k == 0 || *i + k >= n) {
		(*i)++;
		return c;
	}
	c &= 0x3fu >> k;
	for (size_t j = 1; j <= k; j++)
		c = c << 6 | (s[*i + j] & 0x3fu);
	*i += k + 1;
	return c;
}

/* Raw bytes of a byte-level piece (contract in tok_int.h). */
size_t ods_tok_from_byte_level(const char *s, size_t n, char *out)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, o = 0;

	while (i < n) {
		size_t at = i;
		uint32_t cp = utf8_next(p, n, &i);
		int b = ods_tok_cp_byte(cp);
		if (b >= 0) {
			out[o++] = (char)b;
		} else {
			memcpy(out + o, s + at, i - at);
			o += i - at;
		}
	}
	return o;
}

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return;
	*cap = *cap ? *cap : 64;
	while (*cap < need)
		*cap *= 2;
	*p = ods_xrealloc(*p, *cap * elem);
}

static inline int heap_less(const struct tok_heap_ent *a, const struct tok_heap_ent *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

/* Push e onto tok's heap (grown as needed). */
static void heap_push(struct ods_tok *tok, size_t *n, struct tok_heap_ent e)
{
	struct tok_heap_ent *h;
	size_t i = (*n)++;

	grow((void **)&tok->heap, &tok->cap_heap, *n, sizeof *tok->heap);
	h = tok->heap;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!heap_less(&e, &h[up]))
			break;
		h[i] = h[up];
		i = up;
	}
	h[i] = e;
}

static struct tok_heap_ent heap_pop(struct tok_heap_ent *h, size_t *n)
{
	struct tok_heap_ent top = h[0], last = h[--(*n)];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && heap_less(&h[c + 1], &h[c]))
			c++;
		if (!heap_less(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = last;
	return top;
}

/* The merge loop over tok->sym[0..n); leaves the merged ids alive in the list. */
static void merge_symbols(struct ods_tok *tok, int32_t n)
{
	struct tok_sym *sym = tok->sym;
	size_t nh = 0;

	for (int32_t i = 0; i + 1 < n; i++) {
		const struct tok_merge_slot *m = ods_tok_merges_get(&tok->merges, sym[i].id,
								    sym[i + 1].id);
		if (m)
			heap_push(tok, &nh, (struct tok_heap_ent){ m->rank, i, m->id });
	}
	while (nh) {
		struct tok_heap_ent top = heap_pop(tok->heap, &nh);
		struct tok_sym *cur = &sym[top.pos];
		const struct tok_merge_slot *m;
		int32_t next;

		if (!cur->alive || cur->next < 0)
			continue;
		next = cur->next;
		m = ods_tok_merges_get(&tok->merges, cur->id, sym[next].id);
		if (!m || m->id != top.id)
			continue; /* stale entry */
		cur->id = top.id;
		sym[next].alive = 0;
		cur->next = sym[next].next;
		if (cur->next >= 0)
			sym[cur->next].prev = top.pos;
		if (cur->prev >= 0) {
			m = ods_tok_merges_get(&tok->merges, sym[cur->prev].id, cur->id);
			if (m)
				heap_push(tok, &nh, (struct tok_heap_ent){ m->rank, cur->prev, m->id });
		}
		if (cur->next >= 0) {
			m = ods_tok_merges_get(&tok->merges, cur->id, sym[cur->next].id);
			if (m)
				heap_push(tok, &nh, (struct tok_heap_ent){ m->rank, top.pos, m->id });
		}
	}
}

/* The initial symbols of a character-level word (HF merge_word, byte fallback
 * and unk included) into tok->sym; returns their number. As in HF, a pending
 * unk is written only when a character found in the vocab (or the end) comes,
 * so byte-fallback tokens of a later character may precede it. */
static int32_t char_symbols(struct ods_tok *tok, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	int32_t ns = 0;
	int unk = 0; /* an unk symbol is pending */

	for (size_t i = 0; i < n;) {
		size_t len = p[i] < 0x80 ? 1 : p[i] < 0xe0 ? 2 : p[i] < 0xf0 ? 3 : 4;
		int32_t id;
		int fb;

		if (len > n - i) /* not reached: pieces are valid UTF-8 */
			len = n - i;
		id = len == 1 ? tok->byte_id[p[i]] : ods_tok_vocab_find(tok, s + i, len);
		fb = id < 0 && tok->byte_fallback;
		for (size_t k = 0; fb && k < len; k++)
			fb = tok->fallback_id[p[i + k]] >= 0;
		if (id >= 0) {
			if (unk)
				tok->sym[ns++].id = tok->unk_id;
			unk = 0;
			tok->sym[ns++].id = id;
		} else if (fb) {
			for (size_t k = 0; k < len; k++)
				tok->sym[ns++].id = tok->fallback_id[p[i + k]];
		} else if (tok->unk_id >= 0) {
			if (unk && !tok->fuse_unk)
				tok->sym[ns++].id = tok->unk_id;
			unk = 1;
		} /* else: HF drops a character with no piece and no unk token */
		i += len;
	}
	if (unk)
		tok->sym[ns++].id = tok->unk_id;
	return ns;
}

/* BPE of one word, through the word cache; ignore_merges takes a word that is
 * itself in the vocab whole, as HF does. */
static void bpe_word(struct ods_tok *tok, const char *s, size_t n, struct ods_ids *out)
{
	uint64_t h = ods_tok_hash(s, n);
	size_t start = out->n, n_hit;
	const int32_t *hit = ods_tok_cache_get(&tok->cache, h, s, n, &n_hit);
	int32_t ns = 0;

	if (hit) {
		for (size_t i = 0; i < n_hit; i++)
			ods_ids_push(out, hit[i]);
		return;
	}
	if (tok->ignore_merges) {
		size_t len = n;
		const char *w = s;
		int32_t id;

		if (tok->byte_level) {
			grow((void **)&tok->wbuf, &tok->cap_wbuf, 2 * n + 1, 1);
			len = ods_tok_to_byte_level(s, n, tok->wbuf);
			w = tok->wbuf;
		}
		id = ods_tok_vocab_find(tok, w, len);
		if (id >= 0) {
			ods_ids_push(out, id);
			ods_tok_cache_put(&tok->cache, h, s, n, &id, 1);
			return;
		}
	}
	grow((void **)&tok->sym, &tok->cap_sym, n + 1, sizeof *tok->sym);
	if (tok->byte_level) {
		for (size_t i = 0; i < n; i++) {
			int32_t id = tok->byte_id[(uint8_t)s[i]];
			if (id < 0)
				id = tok->unk_id;
			if (id >= 0) /* HF drops a character with no piece and no unk token */
				tok->sym[ns++].id = id;
		}
	} else {
		ns = char_symbols(tok, s, n);
	}
	if (ns == 0)
		return;
	for (int32_t i = 0; i < ns; i++)
		tok->sym[i] = (struct tok_sym){ tok->sym[i].id, i - 1, i + 1, 1 };
	tok->sym[ns - 1].next = -1;
	if (ns > 1)
		merge_symbols(tok, ns);
	for (int32_t i = 0; i >= 0; i = tok->sym[i].next)
		ods_ids_push(out, tok->sym[i].id);
	ods_tok_cache_put(&tok->cache, h, s, n, out->v + start, out->n - start);
}

/* The model on one pre-token (contract in tok_int.h). With word_split the
 * text is cut before each space_rep that follows another character ("▁a▁▁b"
 * -> "▁a", "▁▁b"): ods_tok_finish checked that no merge joins across such a
 * point and that space_rep is a piece, so each word's BPE is the BPE of the
 * whole, and words hit the cache. */
void ods_tok_model(struct ods_tok *tok, const char *s, size_t n, struct ods_ids *out)
{
	const char *rep = tok->space_rep;
	size_t nr = tok->n_space_rep, start = 0, i = 0;

	if (!tok->word_split) {
		bpe_word(tok, s, n, out);
		return;
	}
	for (;;) {
		const char *at = i < n ? memchr(s + i, rep[0], n - i) : NULL;
		if (!at)
			break;
		i = (size_t)(at - s);
		if (i + nr > n || memcmp(at, rep, nr) != 0) {
			i++;
			continue;
		}
		if (i > start && !(i >= nr && memcmp(at - nr, rep, nr) == 0)) {
			bpe_word(tok, s + start, i - start, out);
			start = i;
		}
		i += nr;
	}
	if (start < n)
		bpe_word(tok, s + start, n - start, out);
}
