/* tok.h - tokenizers loaded from Hugging Face files.
 *
 * Supported: BPE from tokenizer.json as HF `tokenizers` runs it, byte-level
 * (GPT-2, GPT-NeoX, Llama-3, Qwen2 style; also from the vocab.json +
 * merges.txt pair) or SentencePiece-style (Llama-2, Mistral, Gemma: Prepend /
 * Replace normalizers or a Metaspace pre-tokenizer, byte_fallback to <0xNN>
 * tokens, unk_token with fuse_unk). Split regexes run through PCRE2 (UTF +
 * UCP, JIT where available). Added/special tokens are matched before the
 * model, as HF does (normalized ones in the normalized text). Anything else
 * is refused with ODS_EUNSUPPORTED naming the JSON key.
 *
 * Ownership: ods_tok_open* return a heap handle freed with ods_tok_free.
 * A handle is not thread-safe (it keeps a word cache); use one per thread.
 */
#ifndef ODS_TOK_H
#define ODS_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "odscope/err.h"
#include "odscope/util.h"

struct ods_tok;

/* Open the tokenizer of a model directory: tokenizer.json, else vocab.json + merges.txt. */
int ods_tok_open(struct ods_tok **out, const char *model_dir, struct ods_err *err);
/* Open one tokenizer.json file. */
int ods_tok_open_json(struct ods_tok **out, const char *path, struct ods_err *err);
/* Open a GPT-2 style vocab.json + merges.txt pair. */
int ods_tok_open_vocab_merges(struct ods_tok **out, const char *vocab_path,
			      const char *merges_path, struct ods_err *err);
void ods_tok_free(struct ods_tok *tok);

/* Encode n bytes of UTF-8 text, appending ids to out. add_special inserts the
 * BOS/EOS of the post_processor (none for GPT-2). Invalid UTF-8 fails with
 * ODS_EFORMAT and a message "invalid UTF-8 at byte offset N". */
int ods_tok_encode(struct ods_tok *tok, const char *text, size_t n, int add_special,
		   struct ods_ids *out, struct ods_err *err);

/* Number of ids (max id + 1, added tokens included). */
int ods_tok_n_vocab(const struct ods_tok *tok);
/* The token's string as written in the vocabulary (e.g. "Ġthe"); NULL if unused id. Borrowed. */
const char *ods_tok_piece(const struct ods_tok *tok, int32_t id);
/* The bytes the token stands for into buf (not NUL-terminated): byte-level
 * markers resolved, or for SentencePiece-style pieces the metaspace ("▁") as a
 * space and "<0xNN>" as the byte NN; added tokens are their content. Returns
 * the length (buf holds at most cap bytes of it), or -1 for an unused id. */
int ods_tok_bytes(const struct ods_tok *tok, int32_t id, char *buf, size_t cap);
/* Short description: "byte-level BPE", "SentencePiece-style BPE" or
 * "character-level BPE". */
const char *ods_tok_kind(const struct ods_tok *tok);

#endif
