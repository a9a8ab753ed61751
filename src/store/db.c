/* db.c - database connection, schema, transactions (see include/odscope/store.h). */
#include "odscope/store.h"
#include "odscope/util.h"

#include <stdlib.h>
#include <string.h>

static const char schema_sql[] =
#include "schema.inc"
	;

int ods_db_error(struct ods_db *db, const char *what, struct ods_err *err)
{
	int ec = db->h ? sqlite3_errcode(db->h) : SQLITE_ERROR;
	const char *msg = db->h ? sqlite3_errmsg(db->h) : "cannot open";
	if (ec == SQLITE_BUSY || ec == SQLITE_LOCKED)
		return ods_err_set(err, ODS_EDB, "%s: database is locked by another writer (%s)", db->path,
				   what);
	if (ec == SQLITE_NOTADB || ec == SQLITE_CORRUPT)
		return ods_err_set(err, ODS_EDB, "%s: not an odscope database or corrupt (%s)", db->path, msg);
	return ods_err_set(err, ODS_EDB, "%s: %s: %s", db->path, what, msg);
}

int ods_db_exec(struct ods_db *db, const char *sql, struct ods_err *err)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return ods_db_error(db, "query failed", err);
	return 0;
}

int ods_db_prepare(struct ods_db *db, sqlite3_stmt **st, const char *sql, struct ods_err *err)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
		return ods_db_error(db, "cannot prepare query", err);
	return 0;
}

int ods_db_begin(struct ods_db *db, struct ods_err *err)
{
	if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return ods_db_error(db, "cannot start a write transaction", err);
	return 0;
}

int ods_db_commit(struct ods_db *db, struct ods_err *err)
{
	if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = ods_db_error(db, "commit failed", err);
		ods_db_rollback(db);
		return rc;
	}
	return 0;
}

void ods_db_rollback(struct ods_db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

static int db_version(struct ods_db *db, int *v, struct ods_err *err)
{
	sqlite3_stmt *st;
	int rc = ods_db_prepare(db, &st, "PRAGMA user_version", err);
	if (rc)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return ods_db_error(db, "cannot read the schema version", err);
	}
	*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int ods_db_open(struct ods_db **out, const char *path, int readonly, struct ods_err *err)
{
	struct ods_db *db = ods_xcalloc(1, sizeof *db);
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc, v = 0;

	*out = NULL;
	db->path = ods_xstrdup(path);
	if (readonly && !ods_path_exists(path)) {
		rc = ods_err_set(err, ODS_ENOTFOUND, "%s: no such database (run 'odscope scan' first)", path);
		goto fail;
	}
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		rc = ods_err_set(err, ODS_EDB, "%s: cannot open database: %s", path,
				 db->h ? sqlite3_errmsg(db->h) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 2000);
	if ((rc = ods_db_exec(db, "PRAGMA foreign_keys = ON", err)) || (rc = db_version(db, &v, err)))
		goto fail;
	if (v > ODS_SCHEMA_VERSION) {
		rc = ods_err_set(err, ODS_EDB, "%s: schema version %d is newer than this odscope's %d", path, v,
				 ODS_SCHEMA_VERSION);
		goto fail;
	}
	if (v < ODS_SCHEMA_VERSION) {
		char sql[64];
		if (readonly) {
			rc = ods_err_set(err, ODS_EDB, "%s: not an odscope database (schema version %d)", path, v);
			goto fail;
		}
		if ((rc = ods_db_begin(db, err)))
			goto fail;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", ODS_SCHEMA_VERSION);
		if ((rc = ods_db_exec(db, schema_sql, err)) || (rc = ods_db_exec(db, sql, err)) ||
		    (rc = ods_db_commit(db, err))) {
			ods_db_rollback(db);
			goto fail;
		}
	}
	*out = db;
	return 0;
fail:
	ods_db_close(db);
	return rc;
}

void ods_db_close(struct ods_db *db)
{
	if (!db)
		return;
	if (db->h)
		sqlite3_close_v2(db->h);
	free(db->path);
	free(db);
}

int ods_db_latest_run(struct ods_db *db, int64_t *run_id, struct ods_err *err)
{
	sqlite3_stmt *st;
	int rc = ods_db_prepare(db, &st, "SELECT max(id) FROM runs WHERE status = 'complete'", err);
	if (rc)
		return rc;
	*run_id = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		*run_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (!*run_id)
		return ods_err_set(err, ODS_ENOTFOUND, "%s: no complete run", db->path);
	return 0;
}

int ods_db_check_run(struct ods_db *db, int64_t run_id, struct ods_err *err)
{
	sqlite3_stmt *st;
	int rc = ods_db_prepare(db, &st, "SELECT status FROM runs WHERE id = ?", err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = ods_err_set(err, ODS_ENOTFOUND, "%s: no run %lld", db->path, (long long)run_id);
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "complete"))
		rc = ods_err_set(err, ODS_ENOTFOUND, "%s: run %lld is not complete (status '%s')", db->path,
				 (long long)run_id, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}
