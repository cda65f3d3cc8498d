/* --device=cpu|cuda|auto for the tools that run the model: the op table to
 * use. cmd/ files include this; it sees the CUDA ops only in builds with
 * CUDA (NC_CUDA), and then finds out at run time whether a GPU is there. */
#ifndef NC_DEVICE_H
#define NC_DEVICE_H

#include <string.h>

#include "../lib/err.h"
#include "../lib/ops.h"
#ifdef NC_CUDA
#include "ops_cuda.h"
#endif

/* NULL (with a message) when cuda is asked for and there is none; auto
 * (or NULL) is the GPU when there is one, else the CPU. bf16: the GPU's
 * matrix products take bf16 operands (the CPU computes in fp32 always). */
static inline const struct nc_ops *nc_device_ops(const char *device, int bf16)
{
	int want_cuda = device && !strcmp(device, "cuda");
#ifdef NC_CUDA
	if (!device || !strcmp(device, "auto") || want_cuda) {
		const struct nc_ops *g = nc_cuda_devices() < 1 ? NULL : bf16 ? nc_ops_cuda_bf16()
										: nc_ops_cuda();
		if (g)
			return g;
	}
#endif
	if (want_cuda) {
		nc_fail("--device=cuda: no CUDA device here%s",
#ifdef NC_CUDA
			""
#else
			" (and nc was built without CUDA)"
#endif
		);
		return NULL;
	}
	return &nc_ops_cpu;
}

#endif
