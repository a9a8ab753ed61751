/* corpus.h - stream the documents of a corpus.
 *
 * A corpus is a UTF-8 text file with one document per line (empty lines are
 * skipped), a JSONL file (one JSON object per line, the document in `field`;
 * used when field is given or the name ends in .jsonl), or a directory whose
 * .txt files (sorted by name) are one document each. Every document is
 * checked to be valid UTF-8; errors name the file, line and byte offset.
 *
 * Ownership: ods_corpus_open returns a heap handle freed with
 * ods_corpus_free; document text is borrowed until the next call.
 */
#ifndef ODS_CORPUS_H
#define ODS_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "odscope/err.h"

struct ods_corpus;

int ods_corpus_open(struct ods_corpus **out, const char *path, const char *field,
		    struct ods_err *err);
/* Next document: 1 with text and len set, 0 at the end, < 0 on error. */
int ods_corpus_next(struct ods_corpus *c, const char **text, size_t *len, struct ods_err *err);
/* FNV-1a 64 of every byte of the corpus (computed at open). */
uint64_t ods_corpus_hash(const struct ods_corpus *c);
/* Bytes of the corpus read so far and in all (for progress). */
size_t ods_corpus_bytes_done(const struct ods_corpus *c);
size_t ods_corpus_bytes_total(const struct ods_corpus *c);
/* Where the last document came from: "file:line". Borrowed. */
const char *ods_corpus_where(const struct ods_corpus *c);
void ods_corpus_free(struct ods_corpus *c);

#endif
