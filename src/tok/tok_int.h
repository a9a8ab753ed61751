/* tok_int.h - private to src/tok: the tokenizer handle and the pieces shared
 * by its files.
 *
 *   tok.c       public API: open/free, the encode pipeline, piece/bytes lookups
 *   tok_load.c  tokenizer.json (cJSON) and vocab.json + merges.txt loaders
 *   tok_map.c   hash maps: piece -> id, (left, right) -> merge, word cache
 *   bpe.c       byte-level alphabet, the BPE model: initial symbols (bytes, or
 *               characters with byte fallback / unk), the merge loop of one word
 *   norm.c      the normalizer steps (NFC, Prepend, Replace) in sequence
 *   nfc.c       NFC normalization; nfc_data.c its generated Unicode tables
 *
 * Two kinds of model input, as in HF: with a ByteLevel pre-tokenizer
 * (byte_level) every byte is one symbol of the GPT-2 byte alphabet; without it
 * every character is looked up as is (SentencePiece-style files spell spaces
 * as the metaspace U+2581 "▁", written by a Replace normalizer or a Metaspace
 * pre-tokenizer), unknown characters going to <0xNN> byte tokens
 * (byte_fallback) or to the unk token.
 *
 * Ownership: everything reachable from struct ods_tok is owned by it and
 * released by ods_tok_free. cJSON trees never leave tok_load.c.
 */
#ifndef ODS_TOK_INT_H
#define ODS_TOK_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "odscope/err.h"
#include "odscope/tok.h"
#include "odscope/util.h"

/* Most pre-tokenizer stages (Split... + ByteLevel) we accept in a Sequence. */
#define TOK_MAX_STAGES 4
/* Most normalizer steps (a Sequence, flattened). */
#define TOK_MAX_NORMS 8

/* 64-bit FNV-1a of a byte string (inline: on the hot path of every word). */
static inline uint64_t ods_tok_hash(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Piece string -> id, open addressing; the keys live in the tok's piece arena. */
struct tok_strmap {
	int32_t *slot; /* (cap) id or -1 */
	size_t cap;    /* power of two */
	size_t n;
};

/* (left id, right id) -> (rank, merged id), open addressing. */
struct tok_merge_slot {
	uint64_t key; /* left << 32 | right; UINT64_MAX when empty */
	int32_t rank;
	int32_t id;
};
struct tok_pairmap {
	struct tok_merge_slot *slot; /* (cap) */
	size_t cap;                  /* power of two */
	size_t n;
};

/* Word cache: raw pre-token bytes -> ids. Cleared whole when full. */
struct tok_cache_slot {
	uint64_t hash;    /* 0 when empty (hashes of 0 are stored as 1) */
	uint32_t key_off; /* into key arena */
	uint32_t key_len;
	uint32_t ids_off; /* into ids arena */
	uint32_t n_ids;
};
struct tok_cache {
	struct tok_cache_slot *slot; /* (cap) */
	size_t cap, n;
	char *keys;     /* key bytes arena */
	size_t n_keys, cap_keys;
	int32_t *ids;   /* ids arena */
	size_t n_idv, cap_idv;
};

/* A growable byte buffer (encode scratch). */
struct tok_buf {
	char *p;
	size_t n, cap;
};

/* One added token (tokenizer.json "added_tokens"). */
struct tok_added {
	int32_t id;
	char *content; /* NUL-terminated, owned: the token as declared (its bytes) */
	size_t len;
	char *match;   /* owned: what is matched in the text; for normalized tokens the
			* content through the normalizer, as HF's AddedVocabulary does */
	size_t n_match;
	int special, lstrip, rstrip, normalized, single_word;
};

/* A set of added tokens matched leftmost-longest in text: tokens indexed by
 * their first byte, longest first. */
struct tok_added_set {
	int *idx;          /* (n) indices into tok->added, grouped by first byte, longest first */
	int first[257];    /* tokens with first byte b are idx[first[b] .. first[b+1]) */
	int n;
};

/* HF SplitDelimiterBehavior: what a split does with its matches. */
enum {
	TOK_SPLIT_ISOLATED = 0, /* matches and gaps are pieces */
	TOK_SPLIT_REMOVED,      /* gaps only */
	TOK_SPLIT_MERGED_PREV,  /* a match joins the gap before it */
	TOK_SPLIT_MERGED_NEXT,  /* a match joins the gap after it */
	TOK_SPLIT_CONTIGUOUS,   /* adjacent matches form one piece */
};
/* Metaspace prepend_scheme. */
enum { TOK_PREPEND_NEVER = 0, TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST };

/* One pre-tokenizer stage: a rewrite of the piece, then an optional split.
 *   Split      no rewrite; split by `re` with `behavior`
 *   ByteLevel  add_prefix_space: " " before a piece not starting with one;
 *              split by the GPT-2 regex (Isolated) unless use_regex is false
 *   Metaspace  ' ' -> rep, then rep before the piece unless it starts with
 *              one, per `prepend` (FIRST: only the piece at offset 0 of the
 *              text); split true: split by rep, MergedWithNext */
struct tok_stage {
	pcre2_code *re;          /* NULL: no split at this stage */
	pcre2_match_data *md;
	int jit;                 /* pcre2_jit_compile succeeded */
	int behavior;            /* TOK_SPLIT_* */
	int add_prefix_space;
	int metaspace;
	int prepend;             /* TOK_PREPEND_* (metaspace) */
	char rep[8];             /* metaspace: the replacement character */
	size_t n_rep;
	char *buf;               /* scratch for the rewritten piece */
	size_t cap_buf;
};

/* One normalizer step. */
enum { TOK_NORM_NFC = 1, TOK_NORM_PREPEND, TOK_NORM_REPLACE };
struct tok_norm {
	int kind;
	char *pat, *rep; /* owned. Replace: literal pattern -> rep; Prepend: rep */
	size_t n_pat, n_rep;
};

struct tok_sym {
	int32_t id;
	int32_t prev, next; /* linked list over the word's symbols; -1 at the ends */
	int32_t alive;
};
struct tok_heap_ent {
	int32_t rank, pos, id;
};


struct ods_tok {
	char *path; /* the file it came from, for messages */

	/* vocabulary: id -> piece (as written) and the raw bytes it stands for */
	int32_t n_vocab;     /* max id + 1 over vocab and added tokens */
	uint32_t *piece_off; /* (n_vocab) into pieces; UINT32_MAX when unused */
	uint32_t *piece_len; /* (n_vocab) */
	char *pieces;        /* arena of NUL-terminated pieces */
	size_t n_pieces, cap_pieces;
	uint32_t *bytes_off; /* (n_vocab) into bytes; UINT32_MAX when unused */
	uint32_t *bytes_len; /* (n_vocab) */
	char *bytes;         /* arena of raw token bytes */
	size_t n_bytes;
	struct tok_strmap vocab; /* model vocab only (not added tokens) */

	/* model */
	struct tok_pairmap merges;
	int byte_level;       /* a ByteLevel pre-tokenizer: symbols are bytes */
	int32_t byte_id[256]; /* byte_level: id of each byte's piece; else id of each ASCII
			       * character's piece (bytes >= 0x80 unused); -1 if absent */
	int32_t unk_id;       /* -1: none */
	int ignore_merges;
	int byte_fallback, fuse_unk;
	int32_t fallback_id[256]; /* byte_fallback: id of "<0xNN>" per byte, -1 if absent */
	char space_rep[8];        /* what pieces write for ' ' (metaspace); "" if none */
	size_t n_space_rep;
	int word_split; /* the model may cut its input before each space_rep that follows
			 * another character (no merge crosses such a point; see finish) */

	/* added tokens; raw set matched before normalization, norm set after */
	struct tok_added *added;
	int n_added;
	struct tok_added_set added_raw, added_norm;
	int32_t *is_added; /* (n_vocab) index into added + 1, 0 if not an added token */

	/* normalizer and pre-tokenizer */
	struct tok_norm norm[TOK_MAX_NORMS];
	int n_norm;
	struct tok_stage stage[TOK_MAX_STAGES];
	int n_stages;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack;
	pcre2_code *word_re; /* [\p{L}\p{N}_] for single_word; NULL until needed */
	pcre2_match_data *word_md;

	/* post-processor: ids around the sequence when add_special */
	int32_t *pre_ids, *post_ids;
	int n_pre, n_post;

	/* encode scratch */
	struct tok_cache cache;
	struct tok_sym *sym;
	struct tok_heap_ent *heap;
	size_t cap_sym, cap_heap;
	char *wbuf; /* byte-level form of a word (ignore_merges lookups) */
	size_t cap_wbuf;
	struct tok_buf nbuf[2]; /* normalizer steps write to these in turn */
	uint32_t *cp_buf;       /* code points during NFC */
	size_t cap_cp;
};

/* ---- tok_map.c ---- */

/* Build the piece -> id map over every id that has a piece now (the loaders
 * call it after the model vocab, before added tokens get pieces). */
void ods_tok_vocab_build(struct ods_tok *tok);
/* Id of the piece s[0..n) in the model vocab, or -1. */
int32_t ods_tok_vocab_find(const struct ods_tok *tok, const char *s, size_t n);

/* Size the merge map for n merges (call once, before inserting). */
void ods_tok_merges_init(struct tok_pairmap *m, size_t n);
/* Insert or overwrite (a later merge of the same pair wins, as in HF). */
void ods_tok_merges_put(struct tok_pairmap *m, int32_t left, int32_t right, int32_t rank,
			int32_t id);
/* The merge of (left, right): returns its slot, or NULL when the pair does not merge. */
const struct tok_merge_slot *ods_tok_merges_get(const struct tok_pairmap *m, int32_t left,
						int32_t right);
void ods_tok_merges_release(struct tok_pairmap *m);

/* Look a word up; on a hit returns its ids (borrowed until the next put) and sets *n. */
const int32_t *ods_tok_cache_get(const struct tok_cache *c, uint64_t h, const char *key,
				 size_t len, size_t *n);
/* Remember a word's ids (may clear the cache first when it is full). */
void ods_tok_cache_put(struct tok_cache *c, uint64_t h, const char *key, size_t len,
		       const int32_t *ids, size_t n);
void ods_tok_cache_release(struct tok_cache *c);

/* ---- bpe.c ---- */

/* GPT-2 bytes_to_unicode: the code point standing for byte b. */
uint32_t ods_tok_byte_cp(uint8_t b);
/* Inverse: the byte a code point stands for, or -1. */
int ods_tok_cp_byte(uint32_t cp);
/* Write the byte-level form of s[0..n) (2 bytes per byte at most) into out; returns its length. */
size_t ods_tok_to_byte_level(const char *s, size_t n, char *out);
/* Decode a byte-level piece back to raw bytes into out (capacity >= n); returns the length.
 * Characters outside the byte alphabet are copied as their UTF-8. */
size_t ods_tok_from_byte_level(const char *s, size_t n, char *out);
/* The model on one pre-token (its text after the pre-tokenizer), appending ids
 * to out: BPE per word (word_split), through the word cache. */
void ods_tok_model(struct ods_tok *tok, const char *s, size_t n, struct ods_ids *out);

/* ---- tok_load.c ---- */

/* Loaders behind ods_tok_open_json / ods_tok_open_vocab_merges: fill a
 * zeroed tok (tok->path set by the caller). On failure tok is partly filled;
 * the caller frees it with ods_tok_free. */
int ods_tok_load_json(struct ods_tok *tok, const char *path, struct ods_err *err);
int ods_tok_load_vm(struct ods_tok *tok, const char *vocab_path, const char *merges_path,
		    struct ods_err *err);

/* ---- tok.c (used by the loaders) ---- */

/* Compile a pre-tokenizer regex into stage s; literal: match the string as is.
 * Errors name `key` and the file. */
int ods_tok_stage_regex(struct ods_tok *tok, struct tok_stage *s, const char *pattern,
			int literal, const char *key, struct ods_err *err);
/* Allocate the per-id tables for ids 0..n_vocab-1 (all unused). Call once. */
void ods_tok_alloc_ids(struct ods_tok *tok, int32_t n_vocab);
/* Set the piece of id (copied; a second call for the same id replaces it). */
void ods_tok_set_piece(struct ods_tok *tok, int32_t id, const char *s, size_t n);
/* After vocab, merges and added tokens are in: byte ids, decoded bytes, added-token sets. */
int ods_tok_finish(struct ods_tok *tok, struct ods_err *err);

/* ---- norm.c ---- */

/* s[0..n) (valid UTF-8) through the normalizer steps; returns the normalized
 * text, s itself when no step changed it, else one of tok->nbuf (valid until
 * the next call), with its length in *len. */
const char *ods_tok_normalize(struct ods_tok *tok, const char *s, size_t n, size_t *len);
/* Append n bytes to b, growing it. */
void ods_tok_buf_put(struct tok_buf *b, const void *p, size_t n);
/* Free the steps' strings and the buffers. */
void ods_tok_norm_release(struct ods_tok *tok);

/* ---- nfc.c ---- */

/* NFC of s[0..n) (valid UTF-8) into out (reset, grown as needed); returns the
 * new length. Returns -1 when s is already in NFC for sure (fast path: no code
 * point >= U+0300), in which case out is untouched. */
long ods_tok_nfc(struct ods_tok *tok, const char *s, size_t n, struct tok_buf *out);

/* Generated tables (nfc_data.c). */
struct tok_nfc_decomp {
	uint32_t cp;
	uint16_t off; /* into ods_tok_nfc_decomp_cps */
	uint16_t len;
};
struct tok_nfc_ccc {
	uint32_t lo, hi;
	uint8_t ccc;
};
struct tok_nfc_comp {
	uint64_t key; /* first << 21 | second */
	uint32_t cp;
};
extern const struct tok_nfc_decomp ods_tok_nfc_decomp[];
extern const size_t ods_tok_nfc_n_decomp;
extern const uint32_t ods_tok_nfc_decomp_cps[];
extern const struct tok_nfc_ccc ods_tok_nfc_ccc[];
extern const size_t ods_tok_nfc_n_ccc;
extern const struct tok_nfc_comp ods_tok_nfc_comp[];
extern const size_t ods_tok_nfc_n_comp;

#endif
