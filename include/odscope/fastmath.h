/* fastmath.h - branch-free elementary functions that vectorize inside
 * `#pragma omp simd` loops (glibc's expf does not without -ffast-math).
 * Their clamps become vector selects only in files built with
 * -fno-trapping-math when the target has no AVX-512 masks (see Makefile). */
#ifndef ODS_FASTMATH_H
#define ODS_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* expf to about 2 ulp for x in [-87, 88] (clamped outside): range reduction
 * by ln 2 and the Cephes degree-6 polynomial. Loops over it vectorize at -O3. */
static inline float ods_expf(float x)
{
	float n, r, p, scale;
	uint32_t bits;
	x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
	/* round to nearest by the 1.5 * 2^23 trick (floorf blocks GCC's vectorizer) */
	n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	r = x - n * 0.693359375f + n * 2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	bits = (uint32_t)((int32_t)n + 127) << 23;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

/* tanh(x) to about 1.5e-7 relative error: for |x| < 1/2 its Taylor series to
 * x^15 (the rest is below 1e-8 of it), else (1 - t) / (1 + t) with
 * t = e^-2|x| (no cancellation: t <= 1/e). NaN gives NaN. */
static inline float ods_tanhf(float x)
{
	float ax = x < 0.0f ? -x : x, x2 = x * x, p, t, q;
	p = -929569.0f / 638512875.0f;
	p = p * x2 + 21844.0f / 6081075.0f;
	p = p * x2 - 1382.0f / 155925.0f;
	p = p * x2 + 62.0f / 2835.0f;
	p = p * x2 - 17.0f / 315.0f;
	p = p * x2 + 2.0f / 15.0f;
	p = p * x2 - 1.0f / 3.0f;
	p = x + x * x2 * p;
	t = ods_expf(-2.0f * ax);
	q = (1.0f - t) / (1.0f + t);
	q = x < 0.0f ? -q : q;
	return ax < 0.5f ? p : q;
}

/* 2^t to about 2.2e-7 relative error for t in [-126, 127] (clamped
 * outside): 2^round(t) times a degree-5 polynomial in t - round(t), fitted
 * on [-1/2, 1/2]. The AVX-512 kernels of src/ops/smx.c use the same
 * coefficients. */
#define ODS_EXP2_C5 1.3266970636323094e-3f
#define ODS_EXP2_C4 9.675459936261177e-3f
#define ODS_EXP2_C3 5.550742521882057e-2f
#define ODS_EXP2_C2 2.4022121727466583e-1f
#define ODS_EXP2_C1 6.931469440460205e-1f
#define ODS_EXP2_C0 1.0000001192092896f
static inline float ods_exp2f(float t)
{
	float n, f, p, scale;
	uint32_t bits;
	t = t < -126.0f ? -126.0f : t > 127.0f ? 127.0f : t;
	n = (t + 12582912.0f) - 12582912.0f;
	f = t - n;
	p = ODS_EXP2_C5;
	p = p * f + ODS_EXP2_C4;
	p = p * f + ODS_EXP2_C3;
	p = p * f + ODS_EXP2_C2;
	p = p * f + ODS_EXP2_C1;
	p = p * f + ODS_EXP2_C0;
	bits = (uint32_t)((int32_t)n + 127) << 23;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

#endif
