/* store.h - the SQLite database (schema in db/schema.sql, compiled in).
 *
 * ods_db_open creates or upgrades the schema (PRAGMA user_version) and sets a
 * short busy timeout, so a database locked by another writer fails with a
 * clear error instead of hanging. Writes happen inside ods_db_begin/commit;
 * ods_db_rollback undoes everything since begin.
 *
 * Ownership: ods_db_open returns a heap handle closed with ods_db_close.
 */
#ifndef ODS_STORE_H
#define ODS_STORE_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "odscope/err.h"
#include "odscope/link.h"
#include "odscope/model.h"
#include "odscope/tok.h"

#define ODS_SCHEMA_VERSION 1
#define ODS_DEFAULT_DB "db/odscope.sqlite"

struct ods_db {
	sqlite3 *h;
	char *path;
};

/* readonly: open an existing database only. */
int ods_db_open(struct ods_db **out, const char *path, int readonly, struct ods_err *err);
void ods_db_close(struct ods_db *db);

int ods_db_exec(struct ods_db *db, const char *sql, struct ods_err *err);
int ods_db_begin(struct ods_db *db, struct ods_err *err); /* BEGIN IMMEDIATE */
int ods_db_commit(struct ods_db *db, struct ods_err *err);
void ods_db_rollback(struct ods_db *db);

/* Prepare a statement; errors name the database file. */
int ods_db_prepare(struct ods_db *db, sqlite3_stmt **st, const char *sql, struct ods_err *err);
/* Fill err from the connection's last error ("PATH: <what>: <sqlite message>"). */
int ods_db_error(struct ods_db *db, const char *what, struct ods_err *err);

/* The newest complete run (0 if none). */
int ods_db_latest_run(struct ods_db *db, int64_t *run_id, struct ods_err *err);
/* Check run exists and is complete (errors name the run and its status). */
int ods_db_check_run(struct ods_db *db, int64_t run_id, struct ods_err *err);

/* 16 hex digits + NUL. */
void ods_hex64(char buf[17], uint64_t h);
/* Bind a real, NaN as NULL. */
void ods_db_bind_real(sqlite3_stmt *st, int k, double v);
/* A token's display text: decoded bytes, control characters escaped (buf, returned). */
const char *ods_token_text(struct ods_tok *tok, int32_t id, char *buf, size_t cap);
/* The promoted and suppressed lists (k each) of one dimension into `table`
 * (tokens, or a temp table of the same shape). frank[V]: frequency ranks. */
int ods_db_store_token_lists(struct ods_db *db, const char *table, int64_t run, int dim,
			     const struct ods_tok_entry *promoted, const struct ods_tok_entry *suppressed,
			     int k, struct ods_tok *tok, const int64_t *counts, const int32_t *frank,
			     struct ods_err *err);

/* The models row (and, the first time, the vocab rows) of a model; tok may be NULL. */
int ods_db_store_model(struct ods_db *db, const struct ods_model *m, struct ods_tok *tok,
		       const char *path, struct ods_err *err);
/* A counts table (counts + count_values); sets *id. */
int ods_db_store_counts(struct ods_db *db, const char *model_hash, const char *kind,
			const char *source, uint64_t source_hash, const int64_t *counts, int V,
			int64_t *id, struct ods_err *err);
/* counts[V] from table "counts" (a counts table id) or "freq" (a run id). */
int ods_db_load_counts(struct ods_db *db, const char *table, int64_t id, int V, int64_t *counts,
		       struct ods_err *err);

/* Output formats of query results. */
enum ods_fmt { ODS_FMT_TABLE, ODS_FMT_CSV, ODS_FMT_TSV, ODS_FMT_JSON };
int ods_fmt_parse(const char *s, int *fmt);
/* One CSV field (quoted when it holds , " or a newline) or TSV field (tabs
 * and newlines become spaces). */
void ods_put_field(FILE *out, const char *s, int tsv);

/* Step a prepared SELECT to its end and print its rows to out in fmt
 * (table: aligned columns with a header; csv/tsv with a header; json: an
 * array of objects). Real numbers print with `digits` significant digits.
 * Returns the row count or a negative error. */
int ods_db_print(struct ods_db *db, sqlite3_stmt *st, int fmt, int digits, FILE *out,
		 struct ods_err *err);

#endif
