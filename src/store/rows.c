/* rows.c - rows shared by several commands: models + vocab, counts tables
 * (see include/odscope/store.h). Callers hold the write transaction. */
#include "odscope/store.h"
#include "odscope/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ods_hex64(char buf[17], uint64_t h)
{
	snprintf(buf, 17, "%016" PRIx64, h);
}

void ods_db_bind_real(sqlite3_stmt *st, int k, double v)
{
	if (isnan(v))
		sqlite3_bind_null(st, k);
	else
		sqlite3_bind_double(st, k, v);
}

const char *ods_token_text(struct ods_tok *tok, int32_t id, char *buf, size_t cap)
{
	char bytes[1024];
	int n = ods_tok_bytes(tok, id, bytes, sizeof bytes);
	if (n < 0) {
		buf[0] = 0;
		return buf;
	}
	if ((size_t)n > sizeof bytes) /* longer tokens are cut for display */
		n = sizeof bytes;
	return ods_escape(bytes, (size_t)n, buf, cap);
}

int ods_db_store_token_lists(struct ods_db *db, const char *table, int64_t run, int dim,
			     const struct ods_tok_entry *promoted, const struct ods_tok_entry *suppressed,
			     int k, struct ods_tok *tok, const int64_t *counts, const int32_t *frank,
			     struct ods_err *err)
{
	sqlite3_stmt *st;
	char sql[128], esc[4200];
	int rc;

	snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (?,?,?,?,?,?,?,?,?,?)", table);
	if ((rc = ods_db_prepare(db, &st, sql, err)))
		return rc;
	for (int kind = 0; kind < 2; kind++) {
		const struct ods_tok_entry *e = kind ? suppressed : promoted;
		for (int r = 0; r < k; r++) {
			int t = e[r].token_id;
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, run);
			sqlite3_bind_int(st, 2, dim);
			sqlite3_bind_text(st, 3, kind ? "suppressed" : "promoted", -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 4, r + 1);
			sqlite3_bind_int(st, 5, t);
			sqlite3_bind_text(st, 6, ods_token_text(tok, t, esc, sizeof esc), -1, SQLITE_TRANSIENT);
			sqlite3_bind_double(st, 7, e[r].weight);
			sqlite3_bind_double(st, 8, e[r].contribution);
			sqlite3_bind_int64(st, 9, counts[t]);
			sqlite3_bind_int(st, 10, frank[t]);
			if (sqlite3_step(st) != SQLITE_DONE) {
				rc = ods_db_error(db, "cannot store token tables", err);
				break;
			}
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int ods_db_store_model(struct ods_db *db, const struct ods_model *m, struct ods_tok *tok,
		       const char *path, struct ods_err *err)
{
	const struct ods_config *c = &m->cfg;
	char mh[17], esc[4200];
	sqlite3_stmt *st = NULL;
	int rc, fresh;

	ods_hex64(mh, m->hash);
	if ((rc = ods_db_prepare(db, &st,
				 "INSERT OR IGNORE INTO models (hash, path, model_type, n_layer, d_model, "
				 "n_head, n_vocab, n_ctx, tied, weight_dtype, tokenizer) "
				 "VALUES (?,?,?,?,?,?,?,?,?,?,?)", err)))
		return rc;
	sqlite3_bind_text(st, 1, mh, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, c->model_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, c->n_layer);
	sqlite3_bind_int(st, 5, c->d_out); /* width of the analysed h */
	sqlite3_bind_int(st, 6, c->n_head);
	sqlite3_bind_int(st, 7, c->n_vocab);
	sqlite3_bind_int(st, 8, c->n_ctx);
	sqlite3_bind_int(st, 9, m->tied);
	sqlite3_bind_text(st, 10, m->weight_dtype, -1, SQLITE_TRANSIENT);
	if (tok)
		sqlite3_bind_text(st, 11, ods_tok_kind(tok), -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ods_db_error(db, "cannot store the model", err);
		goto out;
	}
	fresh = sqlite3_changes(db->h) > 0;
	sqlite3_finalize(st);
	st = NULL;
	if (!fresh || !tok)
		return 0;
	if ((rc = ods_db_prepare(db, &st,
				 "INSERT INTO vocab (model_hash, token_id, piece, text) VALUES (?,?,?,?)", err)))
		return rc;
	for (int id = 0; id < ods_tok_n_vocab(tok); id++) {
		const char *piece = ods_tok_piece(tok, id);
		if (!piece)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, mh, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, id);
		sqlite3_bind_text(st, 3, piece, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, ods_token_text(tok, id, esc, sizeof esc), -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(db, "cannot store the vocabulary", err);
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int ods_db_store_counts(struct ods_db *db, const char *model_hash, const char *kind,
			const char *source, uint64_t source_hash, const int64_t *counts, int V,
			int64_t *id, struct ods_err *err)
{
	sqlite3_stmt *st = NULL;
	char sh[17], now[32];
	int64_t total = 0;
	int rc;

	for (int t = 0; t < V; t++)
		total += counts[t];
	ods_hex64(sh, source_hash);
	ods_iso_time(now, sizeof now);
	if ((rc = ods_db_prepare(db, &st,
				 "INSERT INTO counts (model_hash, kind, source, source_hash, n_tokens, created_at) "
				 "VALUES (?,?,?,?,?,?)", err)))
		return rc;
	sqlite3_bind_text(st, 1, model_hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, sh, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, total);
	sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ods_db_error(db, "cannot store the counts", err);
		goto out;
	}
	*id = sqlite3_last_insert_rowid(db->h);
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = ods_db_prepare(db, &st, "INSERT INTO count_values VALUES (?,?,?)", err)))
		return rc;
	for (int t = 0; t < V; t++) {
		if (!counts[t])
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int(st, 2, t);
		sqlite3_bind_int64(st, 3, counts[t]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ods_db_error(db, "cannot store the counts", err);
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int ods_db_load_counts(struct ods_db *db, const char *table, int64_t id, int V, int64_t *counts,
		       struct ods_err *err)
{
	sqlite3_stmt *st = NULL;
	char sql[256];
	int rc, step, n = 0;

	memset(counts, 0, (size_t)V * sizeof *counts);
	if (!strcmp(table, "counts")) {
		if ((rc = ods_db_prepare(db, &st, "SELECT count(*) FROM counts WHERE id = ?", err)))
			return rc;
		sqlite3_bind_int64(st, 1, id);
		step = sqlite3_step(st);
		n = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
		sqlite3_finalize(st);
		if (!n)
			return ods_err_set(err, ODS_ENOTFOUND, "%s: no counts table %lld (see 'odscope freq')",
					   db->path, (long long)id);
		snprintf(sql, sizeof sql, "SELECT token_id, count FROM count_values WHERE counts_id = ?");
	} else {
		snprintf(sql, sizeof sql, "SELECT token_id, count FROM freq WHERE run_id = ?");
	}
	if ((rc = ods_db_prepare(db, &st, sql, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int t = sqlite3_column_int(st, 0);
		if (t < 0 || t >= V) {
			sqlite3_finalize(st);
			return ods_err_set(err, ODS_EINVAL, "%s: %s %lld has token id %d outside the vocabulary of %d",
					   db->path, table, (long long)id, t, V);
		}
		counts[t] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return ods_db_error(db, "cannot read counts", err);
	return 0;
}
