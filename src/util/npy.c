/* npy.c - .npy writer (see include/odscope/npy.h). */
#include "odscope/npy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ods_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols,
		      struct ods_err *err)
{
	char hdr[128], tmp[4096];
	int n;
	FILE *f;
	int ok;

	n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
		     (long long)rows, (long long)cols);
	/* pad so that magic(6) + version(2) + len(2) + header is a multiple of 64, ending in \n */
	while ((10 + n + 1) % 64)
		hdr[n++] = ' ';
	hdr[n++] = '\n';
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (!f)
		return ods_err_set(err, ODS_EIO, "%s: cannot create: %s", path, strerror(errno));
	ok = fwrite("\x93NUMPY\x01\x00", 1, 8, f) == 8 && fputc(n & 0xff, f) != EOF &&
	     fputc(n >> 8, f) != EOF && fwrite(hdr, 1, (size_t)n, f) == (size_t)n &&
	     fwrite(data, sizeof *data, (size_t)(rows * cols), f) == (size_t)(rows * cols);
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		remove(tmp);
		return ods_err_set(err, ODS_EIO, "%s: write failed: %s", path, strerror(errno));
	}
	return 0;
}
