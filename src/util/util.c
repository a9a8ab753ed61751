/* util.c - see include/odscope/util.h. */
#include "odscope/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ods_file_read(const char *path, char **data, size_t *len, struct ods_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return ods_err_set(err, ODS_EIO, "%s: cannot open: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return ods_err_set(err, ODS_EIO, "%s: cannot read: %s", path, strerror(errno));
	}
	buf = ods_xmalloc((size_t)n + 1);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return ods_err_set(err, ODS_EIO, "%s: short read", path);
	}
	fclose(f);
	buf[n] = 0;
	*data = buf;
	if (len)
		*len = (size_t)n;
	return 0;
}

int ods_map_open(struct ods_map *m, const char *path, struct ods_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	void *p;

	m->data = NULL;
	m->len = 0;
	if (fd < 0)
		return ods_err_set(err, ODS_EIO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		close(fd);
		return ods_err_set(err, ODS_EIO, "%s: cannot stat: %s", path, strerror(errno));
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return ods_err_set(err, ODS_EIO, "%s: cannot map: %s", path, strerror(errno));
	m->data = p;
	m->len = (size_t)st.st_size;
	return 0;
}

void ods_map_release(struct ods_map *m)
{
	if (m->data && m->len)
		munmap((void *)m->data, m->len);
	m->data = NULL;
	m->len = 0;
}

int ods_path_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int ods_path_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *ods_path_join(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
	return buf;
}

uint64_t ods_fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

double ods_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ods_iso_time(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ods_parse_size(const char *s, size_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return ODS_EINVAL;
	switch (*end) {
	case 'k': case 'K': v *= 1024.0; end++; break;
	case 'm': case 'M': v *= 1024.0 * 1024.0; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024.0 * 1024.0; end++; break;
	case 't': case 'T': v *= 1024.0 * 1024.0 * 1024.0 * 1024.0; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return ODS_EINVAL;
	*out = (size_t)v;
	return 0;
}

size_t ods_utf8_valid_prefix(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1; cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2; cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3; cp = c & 0x07;
		} else {
			return i;
		}
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += k + 1;
	}
	return n;
}

void ods_ids_push(struct ods_ids *a, int32_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 256;
		a->v = ods_xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = x;
}

void ods_ids_release(struct ods_ids *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

float ods_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	float f;

	if (exp == 0) {
		if (man == 0) {
			bits = sign;
		} else { /* subnormal: renormalize */
			exp = 127 - 15 + 1;
			while (!(man & 0x400)) {
				man <<= 1;
				exp--;
			}
			man &= 0x3ff;
			bits = sign | (exp << 23) | (man << 13);
		}
	} else if (exp == 31) {
		bits = sign | 0x7f800000u | (man << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
	}
	memcpy(&f, &bits, 4);
	return f;
}

float ods_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

char *ods_escape(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	while (i < n && o + 5 < cap) {
		unsigned char c = (unsigned char)s[i];
		size_t v;
		if (c >= 0x80) {
			v = ods_utf8_valid_prefix(s + i, n - i < 4 ? n - i : 4);
			/* length of one valid sequence starting here, if any */
			size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (v >= k && o + k < cap) {
				for (size_t j = 0; j < k; j++)
					out[o++] = s[i++];
				continue;
			}
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		} else if (c == '\n') {
			out[o++] = '\\'; out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\'; out[o++] = 't';
		} else if (c == '\r') {
			out[o++] = '\\'; out[o++] = 'r';
		} else if (c == '\\') {
			out[o++] = '\\'; out[o++] = '\\';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
		i++;
	}
	out[o] = 0;
	return out;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Three-way partitions around random medians of three; sorts what is left
 * after 64 rounds (adversarial input). */
void ods_nth_u32(uint32_t *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n;
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ n;
	int budget = 64;

	while (hi - lo > 16) {
		size_t m = hi - lo, lt = lo, i = lo, gt = hi;
		uint32_t p, x, y, z;
		if (budget-- == 0) {
			qsort(a + lo, m, sizeof *a, cmp_u32);
			return;
		}
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		x = a[lo + rng % m];
		y = a[lo + (rng >> 21) % m];
		z = a[lo + (rng >> 42) % m];
		p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
		while (i < gt) {
			uint32_t v = a[i];
			if (v < p) {
				a[i++] = a[lt];
				a[lt++] = v;
			} else if (v > p) {
				a[i] = a[--gt];
				a[gt] = v;
			} else {
				i++;
			}
		}
		if (k < lt)
			hi = lt;
		else if (k >= gt)
			lo = gt;
		else
			return;
	}
	for (size_t i = lo + 1; i < hi; i++) {
		uint32_t v = a[i];
		size_t j = i;
		for (; j > lo && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}
