/* The optimizer's ops on the CPU (lib/ops.h): the reference that torch's
 * own CPU kernels are matched against bit for bit (tests/unit/test_optim.c),
 * and that the CUDA ops reproduce. */
#include "ops_cpu_optim.h"
#include "bf16.h"

#include <math.h>

/* torch's lerp as its vectorized CPU kernels compute it: one fused
 * multiply-add from whichever end is nearer, a + w (b - a) or
 * b + (w - 1)(b - a). Rounding once matters: the fixture's Nesterov input
 * is matched bit for bit only so, and bf16 Newton–Schulz grows any last-bit
 * difference into visible noise (tests/fixtures/gpt/README.md). */
static inline float lerp(float a, float b, float w)
{
	return fabsf(w) < 0.5f ? fmaf(w, b - a, a) : fmaf(w - 1, b - a, b);
}

void nc_cpu_pack_bf16(uint16_t *dst, const float *src, size_t n)
{
	#pragma omp parallel for if (n > ((size_t)1 << 16))
	for (size_t i = 0; i < n; i++)
		dst[i] = nc_f32_to_bf16(src[i]);
}

void nc_cpu_unpack_bf16(float *dst, const uint16_t *src, size_t n)
{
	#pragma omp parallel for if (n > ((size_t)1 << 16))
	for (size_t i = 0; i < n; i++)
		dst[i] = nc_bf16_to_f32(src[i]);
}

void nc_cpu_scale(float *x, size_t n, float a)
{
	#pragma omp parallel for if (n > ((size_t)1 << 16))
	for (size_t i = 0; i < n; i++)
		x[i] *= a;
}

void nc_cpu_divide(float *x, size_t n, float d)
{
	#pragma omp parallel for if (n > ((size_t)1 << 16))
	for (size_t i = 0; i < n; i++)
		x[i] /= d;
}

double nc_cpu_sumsq(const float *x, size_t n)
{
	double ss = 0;
	#pragma omp parallel for reduction(+ : ss) if (n > ((size_t)1 << 16))
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	return ss;
}

void nc_cpu_transpose(float *dst, const float *src, int rows, int cols)
{
	#pragma omp parallel for
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

void nc_cpu_round_bf16(float *x, size_t n)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		x[i] = nc_bf16_round(x[i]);
}

void nc_cpu_scale_to(float *y, float a, const float *x, size_t n, int bf16)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		y[i] = bf16 ? nc_bf16_round(a * x[i]) : a * x[i];
}

void nc_cpu_axpby(float *y, float a, const float *x, float b, size_t n, int bf16)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		float ax = a * x[i], by = b * y[i];
		if (bf16)
			ax = nc_bf16_round(ax), by = nc_bf16_round(by);
		y[i] = bf16 ? nc_bf16_round(ax + by) : ax + by;
	}
}

/* The norm as nanochat's bf16 X.norm() + eps rounds it. */
float nc_ns_norm(double sumsq, float eps, int bf16)
{
	float norm = (float)sqrt(sumsq);
	return bf16 ? nc_bf16_round(nc_bf16_round(norm) + eps) : norm + eps;
}

void nc_cpu_normalize(float *x, size_t n, float eps, int bf16)
{
	float norm = nc_ns_norm(nc_cpu_sumsq(x, n), eps, bf16);
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		x[i] = bf16 ? nc_bf16_round(x[i] / norm) : x[i] / norm;
}

void nc_cpu_fma_into(float *y, float a, const float *x, size_t n)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		y[i] = fmaf(a, x[i], y[i]);
}

void nc_cpu_momentum(float *out, const float *g, float *buf, size_t n, double mu, int nesterov)
{
	float w = (float)(1 - mu), muf = (float)mu;   /* as torch takes Python's 1 - mu */
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		buf[i] = lerp(buf[i], g[i], w);
		out[i] = nesterov ? lerp(g[i], buf[i], muf) : buf[i];
	}
}

void nc_cpu_adamw(float *p, const float *g, float *m, float *v, size_t n, const struct nc_adamw_args *a)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		float gi = g[i], pi = a->decay_on ? p[i] * a->decay : p[i];
		m[i] = lerp(m[i], gi, a->w1);
		v[i] = fmaf(a->w2 * gi, gi, v[i] * a->b2);    /* torch's addcmul, fused */
		p[i] = pi - a->step * m[i] / (sqrtf(v[i]) / a->bc2_sqrt + a->eps);
	}
}
