/* err.h - error reporting and checked allocation.
 *
 * Expected failures (bad files, bad options, database trouble) are returned as a
 * negative ODS_E* code and described in a caller-owned struct ods_err; the
 * message is one line naming the file, tensor or JSON path, lowercase, in git's
 * style ("model.safetensors: tensor 'h.0.attn.c_attn.weight' is missing").
 * Contract violations abort with file:line (ODS_ASSERT); out-of-memory aborts
 * with the size asked for. Only src/main.c chooses exit codes.
 */
#ifndef ODS_ERR_H
#define ODS_ERR_H

#include <stddef.h>

enum ods_errcode {
	ODS_OK = 0,
	ODS_EIO = -1,          /* open/read/write/mmap failed */
	ODS_EFORMAT = -2,      /* malformed file contents */
	ODS_EUNSUPPORTED = -3, /* valid input we do not handle (names the key) */
	ODS_EINVAL = -4,       /* bad option or argument value */
	ODS_EDB = -5,          /* SQLite error (locked, corrupt, unwritable) */
	ODS_ENOTFOUND = -6,    /* missing tensor, run, file */
};

struct ods_err {
	int code;
	char msg[1024];
};

/* Fill err (may be NULL) with a printf-style message; returns code. */
int ods_err_set(struct ods_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an existing message: "<prefix>: <old message>". Returns err->code. */
int ods_err_prefix(struct ods_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void ods_die_oom(size_t size) __attribute__((noreturn));
void ods_die_assert(const char *file, int line, const char *expr) __attribute__((noreturn));

#define ODS_ASSERT(e) ((e) ? (void)0 : ods_die_assert(__FILE__, __LINE__, #e))

/* Allocation that never returns NULL (aborts naming the size). Free with free(). */
void *ods_xmalloc(size_t size);
void *ods_xcalloc(size_t n, size_t size);
void *ods_xrealloc(void *p, size_t size);
char *ods_xstrdup(const char *s);
/* Large buffers: 2 MB aligned, their whole 2 MB pages marked for transparent
 * huge pages where the system has them (first-touch page faults of a large
 * fresh buffer otherwise cost more than filling it); smaller ones as
 * ods_xmalloc. Uninitialized; free with free(). */
void *ods_xmalloc_huge(size_t bytes);

#endif
