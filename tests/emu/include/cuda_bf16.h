/* Stands in for the CUDA header of this name under the emulator: the bf16
 * type as its bits, and the conversions nc's kernels use. */
#ifndef NC_EMU_CUDA_BF16_H
#define NC_EMU_CUDA_BF16_H
#include "../cuda_emu.h"

struct __nv_bfloat16 {
	unsigned short bits;
};

static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b)
{
	__nv_bfloat16 h;
	h.bits = b;
	return h;
}

static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits; }

static inline float __bfloat162float(__nv_bfloat16 h)
{
	return __uint_as_float((unsigned)h.bits << 16);
}

#endif
