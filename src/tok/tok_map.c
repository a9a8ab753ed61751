/* tok_map.c - the tokenizer's hash maps (see tok_int.h): piece -> id,
 * (left, right) -> merge, and the word cache. All open addressing with
 * linear probing over power-of-two tables. */
#include "tok/tok_int.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS (1u << 17)   /* word cache slots */
#define CACHE_MAX_WORDS (1u << 16) /* cleared when this many words are in */
#define CACHE_MAX_KEY 256          /* longer words are not cached */

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;
	while (c < n)
		c <<= 1;
	return c;
}

static inline uint64_t pair_key(int32_t left, int32_t right)
{
	return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static inline size_t pair_hash(uint64_t key, size_t mask)
{
	key ^= key >> 29;
	key *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(key >> 20) & mask;
}

/* Index every id that has a piece (contract in tok_int.h). */
void ods_tok_vocab_build(struct ods_tok *tok)
{
	struct tok_strmap *m = &tok->vocab;
	size_t mask;

	free(m->slot);
	m->cap = pow2_at_least(2 * (size_t)tok->n_vocab + 16);
	m->slot = ods_xmalloc(m->cap * sizeof *m->slot);
	memset(m->slot, 0xff, m->cap * sizeof *m->slot);
	m->n = 0;
	mask = m->cap - 1;
	for (int32_t id = 0; id < tok->n_vocab; id++) {
		const char *s;
		size_t i;

		if (tok->piece_off[id] == UINT32_MAX)
			continue;
		s = tok->pieces + tok->piece_off[id];
		i = (size_t)ods_tok_hash(s, tok->piece_len[id]) & mask;
		while (m->slot[i] >= 0)
			i = (i + 1) & mask;
		m->slot[i] = id;
		m->n++;
	}
}

/* Id of a piece, or -1. */
int32_t ods_tok_vocab_find(const struct ods_tok *tok, const char *s, size_t n)
{
	const struct tok_strmap *m = &tok->vocab;
	size_t mask = m->cap - 1, i;

	if (!m->slot)
		return -1;
	i = (size_t)ods_tok_hash(s, n) & mask;
	for (;;) {
		int32_t id = m->slot[i];
		if (id < 0)
			return -1;
		if (tok->piece_len[id] == n && memcmp(tok->pieces + tok->piece_off[id], s, n) == 0)
			return id;
		i = (i + 1) & mask;
	}
}

/* An empty merge map with room for n merges. */
void ods_tok_merges_init(struct tok_pairmap *m, size_t n)
{
	m->cap = pow2_at_least(2 * n + 16);
	m->slot = ods_xmalloc(m->cap * sizeof *m->slot);
	for (size_t i = 0; i < m->cap; i++)
		m->slot[i].key = UINT64_MAX;
	m->n = 0;
}

/* Insert or overwrite one merge. */
void ods_tok_merges_put(struct tok_pairmap *m, int32_t left, int32_t right, int32_t rank,
			int32_t id)
{
	uint64_t key = pair_key(left, right);
	size_t mask = m->cap - 1, i = pair_hash(key, mask);

	ODS_ASSERT(2 * (m->n + 1) <= m->cap);
	while (m->slot[i].key != UINT64_MAX && m->slot[i].key != key)
		i = (i + 1) & mask;
	if (m->slot[i].key == UINT64_MAX)
		m->n++;
	m->slot[i].key = key;
	m->slot[i].rank = rank;
	m->slot[i].id = id;
}

/* The merge of (left, right), or NULL. */
const struct tok_merge_slot *ods_tok_merges_get(const struct tok_pairmap *m, int32_t left,
						int32_t right)
{
	uint64_t key = pair_key(left, right);
	size_t mask = m->cap - 1, i;

	if (!m->n)
		return NULL;
	i = pair_hash(key, mask);
	for (;;) {
		const struct tok_merge_slot *s = &m->slot[i];
		if (s->key == key)
			return s;
		if (s->key == UINT64_MAX)
			return NULL;
		i = (i + 1) & mask;
	}
}

/* Free the merge map. */
void ods_tok_merges_release(struct tok_pairmap *m)
{
	free(m->slot);
	memset(m, 0, sizeof *m);
}

/* Cached ids of a word, or NULL (contract in tok_int.h). */
const int32_t *ods_tok_cache_get(const struct tok_cache *c, uint64_t h, const char *key,
				 size_t len, size_t *n)
{
	size_t mask, i;

	if (!c->slot)
		return NULL;
	h = h ? h : 1;
	mask = c->cap - 1;
	i = (size_t)(h >> 7) & mask;
	for (;;) {
		const struct tok_cache_slot *s = &c->slot[i];
		if (!s->hash)
			return NULL;
		if (s->hash == h && s->key_len == len && memcmp(c->keys + s->key_off, key, len) == 0) {
			*n = s->n_ids;
			return c->ids + s->ids_off;
		}
		i = (i + 1) & mask;
	}
}

/* Forget every word (keeps the memory). */
static void cache_clear(struct tok_cache *c)
{
	memset(c->slot, 0, c->cap * sizeof *c->slot);
	c->n = 0;
	c->n_keys = 0;
	c->n_idv = 0;
}

/* Remember a word's ids; words over CACHE_MAX_KEY bytes are not kept, and
 * the cache is emptied when CACHE_MAX_WORDS words are in. */
void ods_tok_cache_put(struct tok_cache *c, uint64_t h, const char *key, size_t len,
		       const int32_t *ids, size_t n)
{
	struct tok_cache_slot *s;
	size_t mask, i;

	if (len > CACHE_MAX_KEY)
		return;
	if (!c->slot) {
		c->cap = CACHE_SLOTS;
		c->slot = ods_xcalloc(c->cap, sizeof *c->slot);
	}
	if (c->n >= CACHE_MAX_WORDS)
		cache_clear(c);
	if (c->n_keys + len > c->cap_keys) {
		c->cap_keys = c->cap_keys ? 2 * c->cap_keys : 1u << 20;
		while (c->cap_keys < c->n_keys + len)
			c->cap_keys *= 2;
		c->keys = ods_xrealloc(c->keys, c->cap_keys);
	}
	if (c->n_idv + n > c->cap_idv) {
		c->cap_idv = c->cap_idv ? 2 * c->cap_idv : 1u << 18;
		while (c->cap_idv < c->n_idv + n)
			c->cap_idv *= 2;
		c->ids = ods_xrealloc(c->ids, c->cap_idv * sizeof *c->ids);
	}
	h = h ? h : 1;
	mask = c->cap - 1;
	i = (size_t)(h >> 7) & mask;
	while (c->slot[i].hash)
		i = (i + 1) & mask;
	s = &c->slot[i];
	s->hash = h;
	s->key_off = (uint32_t)c->n_keys;
	s->key_len = (uint32_t)len;
	s->ids_off = (uint32_t)c->n_idv;
	s->n_ids = (uint32_t)n;
	memcpy(c->keys + c->n_keys, key, len);
	c->n_keys += len;
	if (n)
		memcpy(c->ids + c->n_idv, ids, n * sizeof *ids);
	c->n_idv += n;
	c->n++;
}

/* Free the cache. */
void ods_tok_cache_release(struct tok_cache *c)
{
	free(c->slot);
	free(c->keys);
	free(c->ids);
	memset(c, 0, sizeof *c);
}
