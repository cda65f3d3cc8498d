/* bfloat16, the top half of a float: the one conversion used by the CPU
 * ops (nanochat's bf16 arithmetic), safetensors files, and mirrored by the
 * CUDA kernels' bf16_round (kernels/cuda_common.h). Base layer. */
#ifndef NC_BF16_H
#define NC_BF16_H

#include <stdint.h>
#include <string.h>

/* Rounding is to nearest, ties to even, as PyTorch does; a NaN stays a NaN
 * (quieted) rather than rounding into an infinity. */
static inline uint16_t nc_f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)(u >> 16 | 0x40);
	u += 0x7fffu + (u >> 16 & 1);
	return (uint16_t)(u >> 16);
}

static inline float nc_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* x rounded to the nearest bf16, kept as a float. */
static inline float nc_bf16_round(float x)
{
	return nc_bf16_to_f32(nc_f32_to_bf16(x));
}

#endif
