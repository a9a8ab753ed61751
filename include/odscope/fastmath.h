/* fastmath.h - branch-free elementary functions that vectorize inside
 * `#pragma omp simd` loops (glibc's expf does not without -ffast-math). */
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

#endif
