/* st.h - safetensors files: memory-mapped, header validated strictly.
 *
 * A model's weights are one model.safetensors or several shards listed in
 * model.safetensors.index.json. Every header is checked: length inside the
 * file, valid JSON, known dtypes, data_offsets inside the data area, size =
 * product(shape) x dtype size, no two tensors overlapping.
 *
 * Ownership: struct ods_st is initialised by ods_st_open and released with
 * ods_st_release; tensors and their data are borrowed from it.
 */
#ifndef ODS_ST_H
#define ODS_ST_H

#include <stddef.h>
#include <stdint.h>

#include "odscope/err.h"
#include "odscope/util.h"

enum ods_dtype {
	ODS_DT_F32, ODS_DT_F16, ODS_DT_BF16, ODS_DT_F64,
	ODS_DT_I64, ODS_DT_I32, ODS_DT_I16, ODS_DT_I8, ODS_DT_U8, ODS_DT_U16, ODS_DT_U32,
	ODS_DT_U64, ODS_DT_BOOL, ODS_DT_F8_E4M3, ODS_DT_F8_E5M2,
	ODS_DT_COUNT
};
const char *ods_dtype_name(int dtype);
size_t ods_dtype_size(int dtype);

#define ODS_ST_MAX_DIMS 8

struct ods_tensor {
	char *name;
	int dtype;
	int n_dim;
	int64_t shape[ODS_ST_MAX_DIMS];
	int64_t n_elem;
	const uint8_t *data; /* inside the file's map */
	size_t nbytes;
	int file;            /* index into ods_st.paths */
};

struct ods_st {
	int n_files;
	char **paths;         /* [n_files] */
	struct ods_map *maps; /* [n_files] */
	int n_tensors;
	struct ods_tensor *tensors; /* [n_tensors], sorted by name */
	uint64_t hash;        /* FNV-1a over every file's header bytes */
};

/* Open model_dir/model.safetensors, or the shards of model_dir/model.safetensors.index.json. */
int ods_st_open_dir(struct ods_st *st, const char *model_dir, struct ods_err *err);
/* Open one file (appending to st, which must be zeroed or already opened). */
int ods_st_add_file(struct ods_st *st, const char *path, struct ods_err *err);
void ods_st_release(struct ods_st *st);

/* Lookup by exact name; NULL if absent. */
const struct ods_tensor *ods_st_find(const struct ods_st *st, const char *name);

/* The tensor as float32 with the expected shape (n_dim dims). On success *out
 * points either into the map (F32, aligned: *owned = 0) or to a malloc'd copy
 * converted from F16/BF16/F64 (*owned = 1, caller frees). Errors name the file
 * and tensor: missing, wrong shape, non-float dtype. */
int ods_st_get_f32(const struct ods_st *st, const char *name, int n_dim, const int64_t *shape,
		   float **out, int *owned, struct ods_err *err);

/* Write a safetensors file (tests and benchmarks): tensor i is t[i], its
 * values produced by fill(ctx, i, off, n, buf) as float32 in chunks
 * (elements off .. off + n) and stored as dtype (F32, F16 or BF16, rounded
 * to nearest even). Memory stays one chunk whatever the file size. */
struct ods_st_out {
	const char *name;
	int n_dim;
	int64_t shape[ODS_ST_MAX_DIMS];
};
int ods_st_write(const char *path, int n, const struct ods_st_out *t, int dtype,
		 void (*fill)(void *ctx, int i, size_t off, size_t n, float *buf), void *ctx,
		 struct ods_err *err);

#endif
