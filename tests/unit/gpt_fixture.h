/* Reading the fixtures of tests/oracle/nanochat_train_ref.py: the model a
 * fixture describes, its metadata, float64 results, and how far a model's
 * weights are from a set of reference tensors. For the unit tests only. */
#ifndef NC_TEST_GPT_FIXTURE_H
#define NC_TEST_GPT_FIXTURE_H

#include "../../lib/err.h"
#include "../../lib/gpt.h"
#include "../../lib/safetensors.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int meta_int(const struct nc_safetensors *st, const char *key)
{
	const char *v = nc_st_meta(st, key);
	return v ? atoi(v) : -1;
}

static inline double meta_real(const struct nc_safetensors *st, const char *key)
{
	const char *v = nc_st_meta(st, key);
	return v ? atof(v) : NAN;
}

/* n float64 values of a F64 tensor (safetensors is little-endian, as are
 * the machines nc runs on). */
static inline int read_f64(const struct nc_safetensors *st, const char *name, size_t n, double *out)
{
	const struct nc_st_tensor *t = nc_st_find(st, name);
	if (!t || t->nbytes != n * sizeof *out || strcmp(nc_st_dtype_name(t->dtype), "F64"))
		return nc_fail("%s: no F64 tensor of %zu values", name, n);
	memcpy(out, t->data, n * sizeof *out);
	return 0;
}

/* The fixture's model: its config from the metadata, param.* loaded. */
static inline int load_model(struct nc_gpt *m, const struct nc_safetensors *st)
{
	struct nc_gpt_config c = {
		.n_layer = meta_int(st, "config.n_layer"), .n_head = meta_int(st, "config.n_head"),
		.n_kv_head = meta_int(st, "config.n_kv_head"), .n_embd = meta_int(st, "config.n_embd"),
		.vocab_size = meta_int(st, "config.vocab_size"),
		.sequence_len = meta_int(st, "config.sequence_len"), .rope_base = 10000,
		.softcap = 15, .norm_eps = 1.1920928955078125e-07f};
	if (nc_gpt_init(m, &c, &nc_ops_cpu) != 0)
		return -1;
	char name[128];
	for (int p = 0; p < m->nparams; p++) {
		int64_t shape[2] = {m->params[p].rows, m->params[p].cols};
		snprintf(name, sizeof name, "param.%s", m->params[p].name);
		if (nc_st_read_f32(st, name, 2, shape, m->w + m->params[p].offset) != 0)
			return -1;
	}
	return 0;
}

/* Largest difference between the model's weights and PREFIX.*, relative
 * to the largest weight of the same tensor. */
static inline double params_err(const struct nc_gpt *m, const struct nc_safetensors *st, const char *prefix,
			 const char **where)
{
	char name[128];
	double worst = 0;
	for (int p = 0; p < m->nparams; p++) {
		size_t n = (size_t)m->params[p].rows * m->params[p].cols;
		int64_t shape[2] = {m->params[p].rows, m->params[p].cols};
		float *want = malloc(n * sizeof *want);
		snprintf(name, sizeof name, "%s%s", prefix, m->params[p].name);
		double e = nc_st_read_f32(st, name, 2, shape, want) == 0
				   ? tap_rel_err(m->w + m->params[p].offset, want, n) : INFINITY;
		if (e > worst) {
			worst = e;
			*where = m->params[p].name;
		}
		free(want);
	}
	return worst;
}

#endif
