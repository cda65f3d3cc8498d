/* safetensors (Hugging Face's tensor file, the checkpoint format of
 * DESIGN §3): an 8-byte little-endian header length N, N bytes of JSON
 * naming each tensor's dtype, shape and [begin, end) byte range in the data
 * buffer that follows, plus an optional "__metadata__" object of strings.
 * Tensors are row-major and little-endian. Reading maps the file and checks
 * it whole before anything is used; writing borrows the caller's arrays and
 * replaces the file atomically. */
#ifndef NC_SAFETENSORS_H
#define NC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "file.h"

#define NC_ST_MAX_DIM 8

/* The dtypes of the format with whole-byte elements. Sub-byte ones (F4,
 * F6_*) are refused as unknown. */
enum {
	NC_ST_BOOL, NC_ST_U8, NC_ST_I8, NC_ST_F8_E5M2, NC_ST_F8_E4M3, NC_ST_F8_E8M0,
	NC_ST_I16, NC_ST_U16, NC_ST_F16, NC_ST_BF16,
	NC_ST_I32, NC_ST_U32, NC_ST_F32,
	NC_ST_I64, NC_ST_U64, NC_ST_F64, NC_ST_C64,
	NC_ST_NDTYPES
};

const char *nc_st_dtype_name(int dtype);    /* "F32", ... */
int nc_st_dtype_size(int dtype);            /* bytes per element */

struct nc_st_tensor {
	char *name;
	int dtype;
	int ndim;
	int64_t shape[NC_ST_MAX_DIM];
	const void *data;       /* inside the mapping; not necessarily aligned */
	size_t nbytes;
};

struct nc_st_meta {
	char *key, *value;
};

struct nc_safetensors {
	struct nc_map map;
	struct nc_st_tensor *tensors;   /* in file order (by offset) */
	size_t n;
	struct nc_st_meta *meta;        /* "__metadata__", in header order */
	size_t n_meta;
};

/* Map path and check everything: header JSON, dtypes, shapes against byte
 * sizes, offsets in range, no overlaps or gaps, data buffer covered. */
/* Open and check a file: its header, its tensors' extents, and the data's
 * checksum when the metadata carries one (files without, such as PyTorch's
 * or nanochat conversions, are read all the same). */
int nc_st_open(struct nc_safetensors *st, const char *path);
void nc_st_close(struct nc_safetensors *st);
const struct nc_st_tensor *nc_st_find(const struct nc_safetensors *st, const char *name);
const char *nc_st_meta(const struct nc_safetensors *st, const char *key);    /* or NULL */

/* Copy tensor name into out after checking that it exists and has exactly
 * the expected shape. _f32 converts from F32, BF16, F16, I32 or I64; _i32
 * from I32 or I64 (values must fit). */
int nc_st_read_f32(const struct nc_safetensors *st, const char *name, int ndim,
		   const int64_t *shape, float *out);
int nc_st_read_i32(const struct nc_safetensors *st, const char *name, int ndim,
		   const int64_t *shape, int32_t *out);

/* Writing: tensors are written in the order added. The arrays are borrowed,
 * not copied: they must stay valid until nc_st_write. Mistakes in adding (a
 * repeated name, a bad ndim) are reported by nc_st_write. The format allows
 * no padding between tensors, so add 4-byte dtypes (F32, I32) before BF16
 * ones if readers that map the file (torch) are to find each aligned. */
struct nc_st_wtensor {
	char *name;
	int dtype;              /* in the file */
	int ndim;
	int64_t shape[NC_ST_MAX_DIM];
	const void *data;       /* float for F32/BF16, int32_t for I32 */
};

/* The metadata key holding the XXH3-64 of the tensor data (every byte after
 * the header), as 16 hex digits: written when a writer asks for it, and
 * checked by nc_st_open wherever it is present. */
#define NC_ST_CHECKSUM_KEY "data_xxh3"

struct nc_st_writer {
	struct nc_st_wtensor *t;
	size_t n, cap;
	struct nc_st_meta *meta;
	size_t n_meta, meta_cap;
	int checksum;           /* store NC_ST_CHECKSUM_KEY (nc's checkpoints do) */
};

void nc_st_writer_init(struct nc_st_writer *w);
/* as_bf16 stores the floats as BF16 (round to nearest even), else F32. */
void nc_st_add_f32(struct nc_st_writer *w, const char *name, int ndim, const int64_t *shape,
		   const float *data, int as_bf16);
void nc_st_add_i32(struct nc_st_writer *w, const char *name, int ndim, const int64_t *shape,
		   const int32_t *data);
/* Set (or replace) a metadata string. */
void nc_st_set_meta(struct nc_st_writer *w, const char *key, const char *value);
int nc_st_write(struct nc_st_writer *w, const char *path);
void nc_st_writer_free(struct nc_st_writer *w);

/* IEEE half to float (exact: every half is a float). */
float nc_f16_to_f32(uint16_t h);

#endif
