/* npy.h - write float32 arrays in NumPy's .npy format (version 1.0, C order). */
#ifndef ODS_NPY_H
#define ODS_NPY_H

#include <stdint.h>

#include "odscope/err.h"

/* Write data[rows, cols] to path; the file is complete or absent (written to
 * path.tmp and renamed). */
int ods_npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols,
		      struct ods_err *err);

#endif
