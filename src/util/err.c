/* err.c - error messages and checked allocation (see include/odscope/err.h). */
#include "odscope/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int ods_err_set(struct ods_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int ods_err_prefix(struct ods_err *err, const char *fmt, ...)
{
	char buf[2 * sizeof err->msg];
	va_list ap;
	int n;

	if (!err)
		return ODS_EINVAL;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof err->msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof err->msg)
		n = sizeof err->msg - 1;
	memcpy(buf + n, ": ", 2);
	memcpy(buf + n + 2, err->msg, sizeof err->msg);
	memcpy(err->msg, buf, sizeof err->msg - 1);
	err->msg[sizeof err->msg - 1] = 0;
	return err->code;
}

void ods_die_oom(size_t size)
{
	fprintf(stderr, "odscope: out of memory allocating %zu bytes\n", size);
	abort();
}

void ods_die_assert(const char *file, int line, const char *expr)
{
	fprintf(stderr, "odscope: %s:%d: assertion failed: %s\n", file, line, expr);
	abort();
}

void *ods_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		ods_die_oom(size);
	return p;
}

void *ods_xmalloc_huge(size_t bytes)
{
	const size_t huge = (size_t)2 << 20;
	void *p;

	if (bytes < huge)
		return ods_xmalloc(bytes);
	if (posix_memalign(&p, huge, bytes) != 0)
		ods_die_oom(bytes);
#ifdef MADV_HUGEPAGE
	madvise(p, bytes / huge * huge, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
	return p;
}

void *ods_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		ods_die_oom(n * size);
	return p;
}

void *ods_xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		ods_die_oom(size);
	return q;
}

char *ods_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ods_xmalloc(n);
	memcpy(p, s, n);
	return p;
}
