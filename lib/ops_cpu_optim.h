/* The optimizer's ops on the CPU (lib/ops_cpu_optim.c), for the table in
 * lib/ops_cpu.c. */
#ifndef NC_OPS_CPU_OPTIM_H
#define NC_OPS_CPU_OPTIM_H

#include "ops.h"

void nc_cpu_scale(float *x, size_t n, float a);
void nc_cpu_divide(float *x, size_t n, float d);
double nc_cpu_sumsq(const float *x, size_t n);
void nc_cpu_transpose(float *dst, const float *src, int rows, int cols);
void nc_cpu_round_bf16(float *x, size_t n);
void nc_cpu_pack_bf16(uint16_t *dst, const float *src, size_t n);
void nc_cpu_unpack_bf16(float *dst, const uint16_t *src, size_t n);
void nc_cpu_scale_to(float *y, float a, const float *x, size_t n, int bf16);
void nc_cpu_axpby(float *y, float a, const float *x, float b, size_t n, int bf16);
void nc_cpu_normalize(float *x, size_t n, float eps, int bf16);
void nc_cpu_fma_into(float *y, float a, const float *x, size_t n);
void nc_cpu_momentum(float *out, const float *g, float *buf, size_t n, double mu, int nesterov);
void nc_cpu_adamw(float *p, const float *g, float *m, float *v, size_t n, const struct nc_adamw_args *a);

#endif
