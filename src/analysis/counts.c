/* counts.c - token_id<TAB>count files (see include/odscope/link.h). */
#include "odscope/link.h"
#include "odscope/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ods_counts_read(const char *path, int V, int64_t *counts, uint64_t *hash, struct ods_err *err)
{
	char *text, *p, *end;
	size_t len;
	long line = 0;
	int rc;
	uint8_t *seen;

	if ((rc = ods_file_read(path, &text, &len, err)))
		return rc;
	*hash = ods_fnv1a(ODS_FNV_INIT, text, len);
	memset(counts, 0, (size_t)V * sizeof *counts);
	seen = ods_xcalloc((size_t)V, 1);
	for (p = text; p < text + len; p = end + 1) {
		char *nl = memchr(p, '\n', (size_t)(text + len - p)), *q;
		long long id, c;
		end = nl ? nl : text + len;
		*end = 0;
		line++;
		if (end > p && end[-1] == '\r')
			end[-1] = 0;
		if (!*p || *p == '#')
			continue;
		errno = 0;
		id = strtoll(p, &q, 10);
		if (q == p || *q != '\t' || errno) {
			rc = ods_err_set(err, ODS_EFORMAT, "%s:%ld: expected token_id<TAB>count, got '%.40s'",
					 path, line, p);
			break;
		}
		p = q + 1;
		c = strtoll(p, &q, 10);
		if (q == p || *q || errno) {
			rc = ods_err_set(err, ODS_EFORMAT, "%s:%ld: count '%.40s' is not an integer", path, line, p);
			break;
		}
		if (id < 0 || id >= V) {
			rc = ods_err_set(err, ODS_EINVAL, "%s:%ld: token id %lld is outside the vocabulary [0, %d)",
					 path, line, id, V);
			break;
		}
		if (c < 0) {
			rc = ods_err_set(err, ODS_EINVAL, "%s:%ld: negative count %lld", path, line, c);
			break;
		}
		if (seen[id]) {
			rc = ods_err_set(err, ODS_EFORMAT, "%s:%ld: token id %lld appears twice", path, line, id);
			break;
		}
		seen[id] = 1;
		counts[id] = c;
	}
	free(seen);
	free(text);
	return rc;
}
