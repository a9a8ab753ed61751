/* print.c - query results as aligned tables, CSV, TSV or JSON (see include/odscope/store.h). */
#include "odscope/store.h"
#include "odscope/util.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

int ods_fmt_parse(const char *s, int *fmt)
{
	static const char *names[] = {"table", "csv", "tsv", "json"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*fmt = i;
			return 0;
		}
	return ODS_EINVAL;
}

/* One cell as text: integers plainly, reals with `digits` significant digits. */
static char *cell_text(sqlite3_stmt *st, int c, int digits)
{
	char buf[64];
	switch (sqlite3_column_type(st, c)) {
	case SQLITE_NULL:
		return ods_xstrdup("");
	case SQLITE_INTEGER:
		snprintf(buf, sizeof buf, "%lld", (long long)sqlite3_column_int64(st, c));
		return ods_xstrdup(buf);
	case SQLITE_FLOAT:
		snprintf(buf, sizeof buf, "%.*g", digits, sqlite3_column_double(st, c));
		return ods_xstrdup(buf);
	default:
		return ods_xstrdup((const char *)sqlite3_column_text(st, c));
	}
}

void ods_put_field(FILE *out, const char *s, int tsv)
{
	if (tsv) { /* TSV: no quoting; tabs and newlines become spaces */
		for (; *s; s++)
			fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, out);
		return;
	}
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* Display width of UTF-8 text (code points). */
static int width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

int ods_db_print(struct ods_db *db, sqlite3_stmt *st, int fmt, int digits, FILE *out,
		 struct ods_err *err)
{
	int nc = sqlite3_column_count(st), rc, n_rows = 0, cap = 0;
	char **cells = NULL; /* [n_rows][nc] for the table format */
	cJSON *arr = fmt == ODS_FMT_JSON ? cJSON_CreateArray() : NULL;

	if (fmt == ODS_FMT_CSV || fmt == ODS_FMT_TSV) {
		for (int c = 0; c < nc; c++) {
			if (c)
				fputc(fmt == ODS_FMT_CSV ? ',' : '\t', out);
			ods_put_field(out, sqlite3_column_name(st, c), fmt == ODS_FMT_TSV);
		}
		fputc('\n', out);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fmt == ODS_FMT_JSON) {
			cJSON *o = cJSON_CreateObject();
			for (int c = 0; c < nc; c++) {
				const char *name = sqlite3_column_name(st, c);
				switch (sqlite3_column_type(st, c)) {
				case SQLITE_NULL: cJSON_AddNullToObject(o, name); break;
				case SQLITE_INTEGER:
					cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, c));
					break;
				case SQLITE_FLOAT:
					cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, c));
					break;
				default:
					cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(st, c));
				}
			}
			cJSON_AddItemToArray(arr, o);
		} else if (fmt == ODS_FMT_TABLE) {
			if (n_rows == cap) {
				cap = cap ? 2 * cap : 64;
				cells = ods_xrealloc(cells, (size_t)cap * (size_t)nc * sizeof *cells);
			}
			for (int c = 0; c < nc; c++)
				cells[(size_t)n_rows * nc + c] = cell_text(st, c, digits);
		} else {
			for (int c = 0; c < nc; c++) {
				char *t = cell_text(st, c, digits);
				if (c)
					fputc(fmt == ODS_FMT_CSV ? ',' : '\t', out);
				ods_put_field(out, t, fmt == ODS_FMT_TSV);
				free(t);
			}
			fputc('\n', out);
		}
		n_rows++;
	}
	if (rc != SQLITE_DONE) {
		rc = ods_db_error(db, "query failed", err);
	} else {
		rc = n_rows;
		if (fmt == ODS_FMT_JSON) {
			char *s = cJSON_Print(arr);
			fprintf(out, "%s\n", s);
			free(s);
		} else if (fmt == ODS_FMT_TABLE) {
			int *w = ods_xcalloc((size_t)nc, sizeof *w);
			for (int c = 0; c < nc; c++) {
				w[c] = width(sqlite3_column_name(st, c));
				for (int r = 0; r < n_rows; r++) {
					int x = width(cells[(size_t)r * nc + c]);
					w[c] = x > w[c] ? x : w[c];
				}
			}
			for (int c = 0; c < nc; c++)
				fprintf(out, "%s%*s%s", c ? "  " : "", w[c], sqlite3_column_name(st, c),
					c == nc - 1 ? "\n" : "");
			for (int r = 0; r < n_rows; r++)
				for (int c = 0; c < nc; c++) {
					const char *t = cells[(size_t)r * nc + c];
					fprintf(out, "%s%*s%s%s", c ? "  " : "",
						w[c] - width(t) > 0 ? w[c] - width(t) : 0, "", t,
						c == nc - 1 ? "\n" : "");
				}
			free(w);
		}
	}
	for (int i = 0; i < n_rows * (fmt == ODS_FMT_TABLE ? nc : 0); i++)
		free(cells[i]);
	free(cells);
	cJSON_Delete(arr);
	return rc;
}
