/* safetensors.c - strict safetensors reader (see include/odscope/st.h). */
#include "odscope/st.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

static const struct {
	const char *name;
	size_t size;
} dtypes[ODS_DT_COUNT] = {
	[ODS_DT_F32] = {"F32", 4},   [ODS_DT_F16] = {"F16", 2},   [ODS_DT_BF16] = {"BF16", 2},
	[ODS_DT_F64] = {"F64", 8},   [ODS_DT_I64] = {"I64", 8},   [ODS_DT_I32] = {"I32", 4},
	[ODS_DT_I16] = {"I16", 2},   [ODS_DT_I8] = {"I8", 1},     [ODS_DT_U8] = {"U8", 1},
	[ODS_DT_U16] = {"U16", 2},   [ODS_DT_U32] = {"U32", 4},   [ODS_DT_U64] = {"U64", 8},
	[ODS_DT_BOOL] = {"BOOL", 1}, [ODS_DT_F8_E4M3] = {"F8_E4M3", 1},
	[ODS_DT_F8_E5M2] = {"F8_E5M2", 1},
};

const char *ods_dtype_name(int dtype)
{
	return dtype >= 0 && dtype < ODS_DT_COUNT ? dtypes[dtype].name : "?";
}

size_t ods_dtype_size(int dtype)
{
	return dtype >= 0 && dtype < ODS_DT_COUNT ? dtypes[dtype].size : 0;
}

static int dtype_parse(const char *s)
{
	for (int i = 0; i < ODS_DT_COUNT; i++)
		if (!strcmp(s, dtypes[i].name))
			return i;
	return -1;
}

static int cmp_tensor_off(const void *a, const void *b)
{
	const struct ods_tensor *x = *(const struct ods_tensor *const *)a;
	const struct ods_tensor *y = *(const struct ods_tensor *const *)b;
	return x->data < y->data ? -1 : x->data > y->data;
}

static int cmp_tensor_name(const void *a, const void *b)
{
	return strcmp(((const struct ods_tensor *)a)->name, ((const struct ods_tensor *)b)->name);
}

static int parse_tensor(struct ods_tensor *t, const cJSON *e, const uint8_t *base, size_t data_len,
			const char *path, struct ods_err *err)
{
	const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
	const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
	double b, en;
	int i = 0;
	const cJSON *d;

	if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
	    cJSON_GetArraySize(offs) != 2)
		return ods_err_set(err, ODS_EFORMAT,
				   "%s: tensor '%s' needs dtype, shape and two data_offsets", path, e->string);
	t->dtype = dtype_parse(dt->valuestring);
	if (t->dtype < 0)
		return ods_err_set(err, ODS_EFORMAT, "%s: tensor '%s' has unknown dtype '%s'", path,
				   e->string, dt->valuestring);
	if (cJSON_GetArraySize(shape) > ODS_ST_MAX_DIMS)
		return ods_err_set(err, ODS_EFORMAT, "%s: tensor '%s' has too many dimensions", path,
				   e->string);
	t->n_elem = 1;
	cJSON_ArrayForEach(d, shape) {
		if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e15 ||
		    d->valuedouble != (double)(int64_t)d->valuedouble)
			return ods_err_set(err, ODS_EFORMAT, "%s: tensor '%s' has a bad shape", path,
					   e->string);
		t->shape[i++] = (int64_t)d->valuedouble;
		if (t->n_elem > 0 && (int64_t)d->valuedouble > (INT64_C(1) << 50) / t->n_elem)
			return ods_err_set(err, ODS_EFORMAT, "%s: tensor '%s' is impossibly large", path,
					   e->string);
		t->n_elem *= (int64_t)d->valuedouble;
	}
	t->n_dim = i;
	b = cJSON_GetArrayItem(offs, 0)->valuedouble;
	en = cJSON_GetArrayItem(offs, 1)->valuedouble;
	if (!cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) ||
	    b < 0 || en < b || en > (double)data_len)
		return ods_err_set(err, ODS_EFORMAT,
				   "%s: tensor '%s' data_offsets [%.0f, %.0f] lie outside the file's %zu data bytes "
				   "(file truncated?)", path, e->string, b, en, data_len);
	t->nbytes = (size_t)(en - b);
	if ((size_t)t->n_elem * ods_dtype_size(t->dtype) != t->nbytes)
		return ods_err_set(err, ODS_EFORMAT,
				   "%s: tensor '%s' has %zu bytes but shape x %s needs %zu", path, e->string,
				   t->nbytes, dtypes[t->dtype].name,
				   (size_t)t->n_elem * ods_dtype_size(t->dtype));
	t->data = base + (size_t)b;
	t->name = ods_xstrdup(e->string);
	return 0;
}

int ods_st_add_file(struct ods_st *st, const char *path, struct ods_err *err)
{
	struct ods_map m;
	uint64_t hlen = 0;
	cJSON *root = NULL, *e;
	int rc, fi, n0 = st->n_tensors, n_new = 0;
	const uint8_t *base;
	size_t data_len;

	if ((rc = ods_map_open(&m, path, err)))
		return rc;
	if (m.len < 8) {
		ods_map_release(&m);
		return ods_err_set(err, ODS_EFORMAT, "%s: truncated safetensors file (%zu bytes)", path, m.len);
	}
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | m.data[i];
	if (hlen > MAX_HEADER || hlen > m.len - 8) {
		ods_map_release(&m);
		return ods_err_set(err, ODS_EFORMAT,
				   "%s: header length %llu exceeds the file size %zu (truncated or not safetensors)",
				   path, (unsigned long long)hlen, m.len);
	}
	root = cJSON_ParseWithLength((const char *)m.data + 8, (size_t)hlen);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		ods_map_release(&m);
		return ods_err_set(err, ODS_EFORMAT, "%s: header is not a valid JSON object", path);
	}
	fi = st->n_files++;
	st->paths = ods_xrealloc(st->paths, st->n_files * sizeof *st->paths);
	st->maps = ods_xrealloc(st->maps, st->n_files * sizeof *st->maps);
	st->paths[fi] = ods_xstrdup(path);
	st->maps[fi] = m;
	st->hash = ods_fnv1a(st->hash ? st->hash : ODS_FNV_INIT, m.data, 8 + (size_t)hlen);
	base = m.data + 8 + hlen;
	data_len = m.len - 8 - (size_t)hlen;

	cJSON_ArrayForEach(e, root) {
		if (!strcmp(e->string, "__metadata__"))
			continue;
		n_new++;
	}
	st->tensors = ods_xrealloc(st->tensors, (size_t)(n0 + n_new) * sizeof *st->tensors);
	cJSON_ArrayForEach(e, root) {
		struct ods_tensor *t = &st->tensors[st->n_tensors];
		if (!strcmp(e->string, "__metadata__"))
			continue;
		memset(t, 0, sizeof *t);
		if ((rc = parse_tensor(t, e, base, data_len, path, err)))
			goto out;
		if (ods_st_find(st, t->name)) {
			rc = ods_err_set(err, ODS_EFORMAT, "%s: tensor '%s' appears twice", path, t->name);
			free(t->name);
			goto out;
		}
		t->file = fi;
		st->n_tensors++;
	}
	/* No two tensors of this file may overlap. */
	if (st->n_tensors - n0 > 1) {
		int n = st->n_tensors - n0;
		struct ods_tensor **v = ods_xmalloc((size_t)n * sizeof *v);
		for (int i = 0; i < n; i++)
			v[i] = &st->tensors[n0 + i];
		qsort(v, (size_t)n, sizeof *v, cmp_tensor_off);
		for (int i = 1; i < n && !rc; i++)
			if (v[i - 1]->data + v[i - 1]->nbytes > v[i]->data)
				rc = ods_err_set(err, ODS_EFORMAT, "%s: tensors '%s' and '%s' overlap", path,
						 v[i - 1]->name, v[i]->name);
		free(v);
	}
out:
	cJSON_Delete(root);
	/* sorted by name: listings (odscope info) read in a stable order */
	qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_tensor_name);
	return rc;
}

/* A linear scan: models have hundreds of tensors, looked up once each at load. */
const struct ods_tensor *ods_st_find(const struct ods_st *st, const char *name)
{
	for (int i = 0; i < st->n_tensors; i++)
		if (!strcmp(st->tensors[i].name, name))
			return &st->tensors[i];
	return NULL;
}

static int open_index(struct ods_st *st, const char *dir, const char *index_path, struct ods_err *err)
{
	char *text, path[4096];
	size_t len;
	cJSON *root, *map, *e;
	int rc;
	char **files = NULL;
	int n_files = 0;

	if ((rc = ods_file_read(index_path, &text, &len, err)))
		return rc;
	root = cJSON_ParseWithLength(text, len);
	free(text);
	map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
	if (!cJSON_IsObject(map)) {
		cJSON_Delete(root);
		return ods_err_set(err, ODS_EFORMAT, "%s: %s", index_path,
				   root ? "missing object 'weight_map'" : "malformed JSON");
	}
	cJSON_ArrayForEach(e, map) {
		int seen = 0;
		if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
			cJSON_Delete(root);
			for (int i = 0; i < n_files; i++)
				free(files[i]);
			free(files);
			return ods_err_set(err, ODS_EFORMAT, "%s: weight_map.%s is not a file name in the directory",
					   index_path, e->string);
		}
		for (int i = 0; i < n_files && !seen; i++)
			seen = !strcmp(files[i], e->valuestring);
		if (!seen) {
			files = ods_xrealloc(files, (size_t)(n_files + 1) * sizeof *files);
			files[n_files++] = ods_xstrdup(e->valuestring);
		}
	}
	rc = 0;
	for (int i = 0; i < n_files; i++) {
		if (!rc)
			rc = ods_st_add_file(st, ods_path_join(path, sizeof path, dir, files[i]), err);
		free(files[i]);
	}
	free(files);
	/* every tensor the index names must be where it says */
	if (!rc) {
		cJSON_ArrayForEach(e, map) {
			const struct ods_tensor *t = ods_st_find(st, e->string);
			if (!t) {
				rc = ods_err_set(err, ODS_ENOTFOUND, "%s: tensor '%s' listed in the index is missing from %s",
						 index_path, e->string, e->valuestring);
				break;
			}
		}
	}
	cJSON_Delete(root);
	return rc;
}

int ods_st_open_dir(struct ods_st *st, const char *dir, struct ods_err *err)
{
	char path[4096];
	int rc;

	memset(st, 0, sizeof *st);
	if (ods_path_exists(ods_path_join(path, sizeof path, dir, "model.safetensors")))
		rc = ods_st_add_file(st, path, err);
	else if (ods_path_exists(ods_path_join(path, sizeof path, dir, "model.safetensors.index.json")))
		rc = open_index(st, dir, path, err);
	else
		rc = ods_err_set(err, ODS_ENOTFOUND,
				 "%s: no model.safetensors or model.safetensors.index.json", dir);
	if (rc)
		ods_st_release(st);
	return rc;
}

void ods_st_release(struct ods_st *st)
{
	for (int i = 0; i < st->n_tensors; i++)
		free(st->tensors[i].name);
	for (int i = 0; i < st->n_files; i++) {
		ods_map_release(&st->maps[i]);
		free(st->paths[i]);
	}
	free(st->tensors);
	free(st->maps);
	free(st->paths);
	memset(st, 0, sizeof *st);
}

static void shape_str(char *buf, size_t cap, int n_dim, const int64_t *shape)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, cap - o, "[");
	for (int i = 0; i < n_dim && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, "]");
}

int ods_st_get_f32(const struct ods_st *st, const char *name, int n_dim, const int64_t *shape,
		   float **out, int *owned, struct ods_err *err)
{
	const struct ods_tensor *t = ods_st_find(st, name);
	const char *file = st->n_files ? st->paths[0] : "model";
	int ok;
	float *f;

	*out = NULL;
	*owned = 0;
	if (!t)
		return ods_err_set(err, ODS_ENOTFOUND, "%s: tensor '%s' is missing", file, name);
	file = st->paths[t->file];
	ok = t->n_dim == n_dim;
	for (int i = 0; ok && i < n_dim; i++)
		ok = t->shape[i] == shape[i];
	if (!ok) {
		char want[128], got[128];
		shape_str(want, sizeof want, n_dim, shape);
		shape_str(got, sizeof got, t->n_dim, t->shape);
		return ods_err_set(err, ODS_EFORMAT, "%s: tensor '%s' has shape %s, expected %s", file, name,
				   got, want);
	}
	switch (t->dtype) {
	case ODS_DT_F32:
		if (((uintptr_t)t->data & 3) == 0) {
			*out = (float *)(uintptr_t)t->data;
			return 0;
		}
		f = ods_xmalloc(t->nbytes);
		memcpy(f, t->data, t->nbytes);
		break;
	case ODS_DT_F16:
	case ODS_DT_BF16:
		f = ods_xmalloc((size_t)t->n_elem * sizeof *f);
		for (int64_t i = 0; i < t->n_elem; i++) {
			uint16_t h;
			memcpy(&h, t->data + 2 * i, 2);
			f[i] = t->dtype == ODS_DT_F16 ? ods_f16_to_f32(h) : ods_bf16_to_f32(h);
		}
		break;
	case ODS_DT_F64:
		f = ods_xmalloc((size_t)t->n_elem * sizeof *f);
		for (int64_t i = 0; i < t->n_elem; i++) {
			double d;
			memcpy(&d, t->data + 8 * i, 8);
			f[i] = (float)d;
		}
		break;
	default:
		return ods_err_set(err, ODS_EFORMAT, "%s: tensor '%s' has dtype %s, expected a float type",
				   file, name, ods_dtype_name(t->dtype));
	}
	*out = f;
	*owned = 1;
	return 0;
}

/* float32 -> bfloat16, round to nearest even (NaN stays NaN). */
static uint16_t f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

int ods_st_write(const char *path, int n, const struct ods_st_out *t, int dtype,
		 void (*fill)(void *ctx, int i, size_t off, size_t n, float *buf), void *ctx,
		 struct ods_err *err)
{
	enum { CHUNK = 1 << 16 };
	cJSON *root = cJSON_CreateObject();
	size_t off = 0, hlen, es = ods_dtype_size(dtype);
	char *hdr, *padded;
	FILE *f;
	uint8_t len8[8], *out;
	float *buf;
	int rc = 0;

	ODS_ASSERT(dtype == ODS_DT_F32 || dtype == ODS_DT_F16 || dtype == ODS_DT_BF16);
	for (int i = 0; i < n; i++) {
		cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
		cJSON *sh = cJSON_AddArrayToObject(e, "shape");
		cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
		size_t ne = 1;
		cJSON_AddStringToObject(e, "dtype", ods_dtype_name(dtype));
		for (int d = 0; d < t[i].n_dim; d++) {
			cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
			ne *= (size_t)t[i].shape[d];
		}
		cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
		off += ne * es;
		cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
	}
	hdr = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	hlen = (strlen(hdr) + 7) & ~(size_t)7;
	padded = ods_xmalloc(hlen);
	memset(padded, ' ', hlen);
	memcpy(padded, hdr, strlen(hdr));
	free(hdr);
	for (int i = 0; i < 8; i++)
		len8[i] = (uint8_t)(hlen >> (8 * i));
	f = fopen(path, "wb");
	if (!f) {
		free(padded);
		return ods_err_set(err, ODS_EIO, "%s: cannot create: %s", path, strerror(errno));
	}
	if (fwrite(len8, 1, 8, f) != 8 || fwrite(padded, 1, hlen, f) != hlen)
		rc = ods_err_set(err, ODS_EIO, "%s: write failed", path);
	buf = ods_xmalloc(CHUNK * sizeof *buf);
	out = ods_xmalloc(CHUNK * es);
	for (int i = 0; i < n && !rc; i++) {
		size_t ne = 1;
		for (int d = 0; d < t[i].n_dim; d++)
			ne *= (size_t)t[i].shape[d];
		for (size_t o = 0; o < ne && !rc; o += CHUNK) {
			size_t k = ne - o < CHUNK ? ne - o : CHUNK;
			fill(ctx, i, o, k, buf);
			for (size_t j = 0; j < k; j++) {
				uint16_t h;
				if (dtype == ODS_DT_F32) {
					memcpy(out + 4 * j, &buf[j], 4);
					continue;
				}
				if (dtype == ODS_DT_BF16) {
					h = f32_to_bf16(buf[j]);
				} else {
					_Float16 x = (_Float16)buf[j];
					memcpy(&h, &x, 2);
				}
				memcpy(out + 2 * j, &h, 2);
			}
			if (fwrite(out, es, k, f) != k)
				rc = ods_err_set(err, ODS_EIO, "%s: write failed", path);
		}
	}
	if (fclose(f) != 0 && !rc)
		rc = ods_err_set(err, ODS_EIO, "%s: write failed: %s", path, strerror(errno));
	free(buf);
	free(out);
	free(padded);
	return rc;
}
