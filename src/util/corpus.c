/* corpus.c - corpus reader (see include/odscope/corpus.h). */
#include "odscope/corpus.h"
#include "odscope/util.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ods_corpus {
	char **files;      /* [n_files] */
	int n_files, cur;  /* file being read */
	int per_file;      /* directory mode: each file is one document */
	char *field;       /* JSONL field, or NULL */
	struct ods_map map;/* current file */
	size_t pos;        /* offset in the current file */
	long line;         /* line number of the last document */
	size_t done, total;
	uint64_t hash;
	char *doc;         /* JSONL: the decoded document */
	char where[4200];
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && !strcmp(s + n - k, suf);
}

int ods_corpus_open(struct ods_corpus **out, const char *path, const char *field,
		    struct ods_err *err)
{
	struct ods_corpus *c = ods_xcalloc(1, sizeof *c);
	int rc = 0;

	*out = NULL;
	c->cur = -1;
	if (ods_path_is_dir(path)) {
		DIR *d = opendir(path);
		struct dirent *e;
		char p[4096];
		if (!d) {
			free(c);
			return ods_err_set(err, ODS_EIO, "%s: cannot open directory: %s", path, strerror(errno));
		}
		while ((e = readdir(d))) {
			if (!ends_with(e->d_name, ".txt"))
				continue;
			c->files = ods_xrealloc(c->files, (size_t)(c->n_files + 1) * sizeof *c->files);
			c->files[c->n_files++] = ods_xstrdup(ods_path_join(p, sizeof p, path, e->d_name));
		}
		closedir(d);
		qsort(c->files, (size_t)c->n_files, sizeof *c->files, cmp_str);
		c->per_file = 1;
		if (!c->n_files)
			rc = ods_err_set(err, ODS_EINVAL, "%s: directory holds no .txt files", path);
	} else {
		c->files = ods_xmalloc(sizeof *c->files);
		c->files[c->n_files++] = ods_xstrdup(path);
		if (field || ends_with(path, ".jsonl"))
			c->field = ods_xstrdup(field ? field : "text");
	}
	c->hash = ODS_FNV_INIT;
	for (int i = 0; i < c->n_files && !rc; i++) {
		struct ods_map m;
		if ((rc = ods_map_open(&m, c->files[i], err)))
			break;
		c->hash = ods_fnv1a(c->hash, m.data, m.len);
		c->total += m.len;
		ods_map_release(&m);
	}
	if (rc) {
		ods_corpus_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int bad_utf8(struct ods_corpus *c, size_t at, struct ods_err *err)
{
	return ods_err_set(err, ODS_EFORMAT, "%s: invalid UTF-8 at byte offset %zu of the document",
			   c->where, at);
}

int ods_corpus_next(struct ods_corpus *c, const char **text, size_t *len, struct ods_err *err)
{
	for (;;) {
		const char *s, *nl;
		size_t n, v;
		int rc;

		if (c->cur < 0 || c->pos >= c->map.len) {
			ods_map_release(&c->map);
			if (++c->cur >= c->n_files)
				return 0;
			if ((rc = ods_map_open(&c->map, c->files[c->cur], err)))
				return rc;
			c->pos = 0;
			c->line = 0;
			if (c->map.len == 0)
				continue;
		}
		s = (const char *)c->map.data + c->pos;
		if (c->per_file) {
			n = c->map.len;
			c->pos = c->map.len;
			c->line = 1;
			snprintf(c->where, sizeof c->where, "%s", c->files[c->cur]);
		} else {
			nl = memchr(s, '\n', c->map.len - c->pos);
			n = nl ? (size_t)(nl - s) : c->map.len - c->pos;
			c->pos += n + (nl != NULL);
			c->line++;
			snprintf(c->where, sizeof c->where, "%s:%ld", c->files[c->cur], c->line);
			if (n && s[n - 1] == '\r')
				n--;
		}
		c->done += n;
		if ((v = ods_utf8_valid_prefix(s, n)) != n)
			return bad_utf8(c, v, err);
		if (c->field) {
			cJSON *o, *f;
			if (n == 0)
				continue;
			o = cJSON_ParseWithLength(s, n);
			f = cJSON_GetObjectItemCaseSensitive(o, c->field);
			if (!cJSON_IsObject(o) || !cJSON_IsString(f)) {
				if (cJSON_IsObject(o))
					rc = ods_err_set(err, ODS_EFORMAT, "%s: no string field '%s'", c->where,
							 c->field);
				else
					rc = ods_err_set(err, ODS_EFORMAT, "%s: not a JSON object", c->where);
				cJSON_Delete(o);
				return rc;
			}
			free(c->doc);
			c->doc = ods_xstrdup(f->valuestring);
			cJSON_Delete(o);
			n = strlen(c->doc);
			if ((v = ods_utf8_valid_prefix(c->doc, n)) != n)
				return bad_utf8(c, v, err);
			s = c->doc;
		}
		if (n == 0)
			continue;
		*text = s;
		*len = n;
		return 1;
	}
}

uint64_t ods_corpus_hash(const struct ods_corpus *c)
{
	return c->hash;
}

size_t ods_corpus_bytes_done(const struct ods_corpus *c)
{
	return c->done;
}

size_t ods_corpus_bytes_total(const struct ods_corpus *c)
{
	return c->total;
}

const char *ods_corpus_where(const struct ods_corpus *c)
{
	return c->where;
}

void ods_corpus_free(struct ods_corpus *c)
{
	if (!c)
		return;
	ods_map_release(&c->map);
	for (int i = 0; i < c->n_files; i++)
		free(c->files[i]);
	free(c->files);
	free(c->field);
	free(c->doc);
	free(c);
}
