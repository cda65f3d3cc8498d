/* The CUDA ops (kernels/ops_cuda.cu): a plain C header, no CUDA types. */
#ifndef NC_OPS_CUDA_H
#define NC_OPS_CUDA_H

#include "../lib/ops.h"

/* How many CUDA devices this process can use (0 without a driver). */
int nc_cuda_devices(void);
/* The op table on device 0, set up on first use; NULL without a device. */
const struct nc_ops *nc_ops_cuda(void);
/* The same, with matrix products in bf16 (fp32 accumulation), as
 * nanochat's autocast trains; every other op as nc_ops_cuda's. */
const struct nc_ops *nc_ops_cuda_bf16(void);

#endif
