/* util.h - files, hashing, time, UTF-8 and small containers shared by all modules.
 *
 * Ownership: ods_file_read returns a malloc'd buffer the caller frees;
 * struct ods_map is released with ods_map_release.
 */
#ifndef ODS_UTIL_H
#define ODS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "odscope/err.h"

#define ODS_VERSION "0.1.0"

/* Read a whole file; *data is NUL-terminated (not counted in *len). */
int ods_file_read(const char *path, char **data, size_t *len, struct ods_err *err);

/* A read-only memory map of a whole file. */
struct ods_map {
	const uint8_t *data;
	size_t len;
};
int ods_map_open(struct ods_map *m, const char *path, struct ods_err *err);
void ods_map_release(struct ods_map *m);

int ods_path_exists(const char *path);
int ods_path_is_dir(const char *path);
/* "dir/name" into buf; returns buf. */
char *ods_path_join(char *buf, size_t cap, const char *dir, const char *name);

/* 64-bit FNV-1a, chainable: start with ODS_FNV_INIT. */
#define ODS_FNV_INIT 0xcbf29ce484222325ULL
uint64_t ods_fnv1a(uint64_t h, const void *data, size_t len);

double ods_now(void);          /* monotonic seconds */
void ods_iso_time(char *buf, size_t cap); /* current UTC time, ISO 8601 */

/* "512M", "2G", "1000" -> bytes. */
int ods_parse_size(const char *s, size_t *out);

/* Length of the longest valid UTF-8 prefix of s[0..n); == n when all valid. */
size_t ods_utf8_valid_prefix(const char *s, size_t n);

/* Growable int32 vector (token ids). */
struct ods_ids {
	int32_t *v;
	size_t n, cap;
};
void ods_ids_push(struct ods_ids *a, int32_t x);
void ods_ids_release(struct ods_ids *a);

/* Quickselect: reorders a[0..n) so that a[k] is its k-th smallest (0-based),
 * nothing after it smaller, nothing before it larger. */
void ods_nth_u32(uint32_t *a, size_t n, size_t k);

/* Float16 / bfloat16 to float32. */
float ods_f16_to_f32(uint16_t h);
float ods_bf16_to_f32(uint16_t h);

/* Escape bytes for display: control characters as \n \t \r \xNN, invalid
 * UTF-8 bytes as \xNN, backslash as \\. Writes a NUL-terminated string into
 * out (cap >= 4*n+1 always suffices); returns out. */
char *ods_escape(const char *s, size_t n, char *out, size_t cap);

#endif
