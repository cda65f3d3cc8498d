/* safetensors reading (mapped, checked whole) and writing (atomic). The
 * checks follow the reference implementation's: a JSON object header,
 * known dtypes, byte ranges that match the shapes and tile the data buffer
 * exactly, in any order, with no gap or overlap. */
#include "safetensors.h"
#include "bf16.h"
#include "err.h"
#include "hash.h"
#include "le.h"
#include "mem.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The reference implementation refuses headers above 100 MB too. */
#define MAX_HEADER ((uint64_t)100000000)

static const struct {
	const char *name;
	int size;
} dtypes[NC_ST_NDTYPES] = {
	[NC_ST_BOOL] = {"BOOL", 1}, [NC_ST_U8] = {"U8", 1}, [NC_ST_I8] = {"I8", 1},
	[NC_ST_F8_E5M2] = {"F8_E5M2", 1}, [NC_ST_F8_E4M3] = {"F8_E4M3", 1},
	[NC_ST_F8_E8M0] = {"F8_E8M0", 1}, [NC_ST_I16] = {"I16", 2}, [NC_ST_U16] = {"U16", 2},
	[NC_ST_F16] = {"F16", 2}, [NC_ST_BF16] = {"BF16", 2}, [NC_ST_I32] = {"I32", 4},
	[NC_ST_U32] = {"U32", 4}, [NC_ST_F32] = {"F32", 4}, [NC_ST_I64] = {"I64", 8},
	[NC_ST_U64] = {"U64", 8}, [NC_ST_F64] = {"F64", 8}, [NC_ST_C64] = {"C64", 8},
};

const char *nc_st_dtype_name(int dtype)
{
	return dtype >= 0 && dtype < NC_ST_NDTYPES ? dtypes[dtype].name : "?";
}

int nc_st_dtype_size(int dtype)
{
	return dtype >= 0 && dtype < NC_ST_NDTYPES ? dtypes[dtype].size : 0;
}

float nc_f16_to_f32(uint16_t h)
{
	int exp = h >> 10 & 0x1f, man = h & 0x3ff;
	float f;
	if (exp == 0)
		f = ldexpf((float)man, -24);            /* zero or subnormal */
	else if (exp == 31)
		f = man ? NAN : INFINITY;
	else
		f = ldexpf((float)(man | 0x400), exp - 25);
	return h & 0x8000 ? -f : f;
}

/* "[2, 3]" */
static const char *shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
	size_t at = (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < ndim && at < size; i++)
		at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (at < size)
		snprintf(buf + at, size - at, "]");
	return buf;
}

/* Bytes of a tensor, or UINT64_MAX when the product overflows. */
static uint64_t tensor_bytes(int dtype, int ndim, const int64_t *shape)
{
	uint64_t n = (uint64_t)dtypes[dtype].size;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0 || (shape[i] && n > UINT64_MAX / (uint64_t)shape[i]))
			return UINT64_MAX;
		n *= (uint64_t)shape[i];
	}
	return n;
}

/* ---- reading ---- */

struct span {
	uint64_t begin, end;
	struct nc_st_tensor t;
};

static int parse_dtype(const char *file, const char *name, json_t *v, int *dtype)
{
	if (!json_is_string(v))
		return nc_fail("%s: tensor %s: dtype missing or not a string", file, name);
	for (int d = 0; d < NC_ST_NDTYPES; d++)
		if (strcmp(json_string_value(v), dtypes[d].name) == 0) {
			*dtype = d;
			return 0;
		}
	return nc_fail("%s: tensor %s: unknown dtype %s", file, name, json_string_value(v));
}

static int parse_shape(const char *file, const char *name, json_t *v, struct nc_st_tensor *t)
{
	if (!json_is_array(v))
		return nc_fail("%s: tensor %s: shape missing or not an array", file, name);
	if (json_array_size(v) > NC_ST_MAX_DIM)
		return nc_fail("%s: tensor %s: %zu dimensions (at most %d)", file, name,
			       json_array_size(v), NC_ST_MAX_DIM);
	t->ndim = (int)json_array_size(v);
	for (int i = 0; i < t->ndim; i++) {
		json_t *d = json_array_get(v, i);
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return nc_fail("%s: tensor %s: shape holds something other than a size", file, name);
		t->shape[i] = json_integer_value(d);
	}
	return 0;
}

static int parse_offsets(const char *file, const char *name, json_t *v, struct span *s)
{
	json_t *b = json_array_get(v, 0), *e = json_array_get(v, 1);
	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
	    json_integer_value(b) < 0 || json_integer_value(e) < json_integer_value(b))
		return nc_fail("%s: tensor %s: data_offsets is not [begin, end] with begin <= end", file, name);
	s->begin = (uint64_t)json_integer_value(b);
	s->end = (uint64_t)json_integer_value(e);
	return 0;
}

static int parse_tensor(const char *file, const char *name, json_t *info, struct span *s)
{
	memset(s, 0, sizeof *s);
	if (!json_is_object(info))
		return nc_fail("%s: tensor %s: not an object", file, name);
	if (parse_dtype(file, name, json_object_get(info, "dtype"), &s->t.dtype) != 0 ||
	    parse_shape(file, name, json_object_get(info, "shape"), &s->t) != 0 ||
	    parse_offsets(file, name, json_object_get(info, "data_offsets"), s) != 0)
		return -1;
	uint64_t want = tensor_bytes(s->t.dtype, s->t.ndim, s->t.shape);
	char sh[256];
	if (want == UINT64_MAX)
		return nc_fail("%s: tensor %s: shape %s is too large", file, name,
			       shape_str(sh, sizeof sh, s->t.ndim, s->t.shape));
	if (want != s->end - s->begin)
		return nc_fail("%s: tensor %s: %s %s needs %llu bytes but data_offsets give %llu", file,
			       name, dtypes[s->t.dtype].name, shape_str(sh, sizeof sh, s->t.ndim, s->t.shape),
			       (unsigned long long)want, (unsigned long long)(s->end - s->begin));
	s->t.name = nc_xstrdup(name);
	s->t.nbytes = (size_t)want;
	return 0;
}

static int parse_meta(struct nc_safetensors *st, json_t *meta)
{
	if (!json_is_object(meta))
		return nc_fail("%s: __metadata__ is not an object", st->map.path);
	size_t n = json_object_size(meta), i = 0;
	st->meta = nc_xcalloc(n + 1, sizeof *st->meta);
	const char *key;
	json_t *v;
	json_object_foreach(meta, key, v) {
		if (!json_is_string(v))
			return nc_fail("%s: __metadata__: %s is not a string", st->map.path, key);
		st->meta[i].key = nc_xstrdup(key);
		st->meta[i].value = nc_xstrdup(json_string_value(v));
		st->n_meta = ++i;
	}
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

/* Sorted by offset, each tensor must start where the last one ended and
 * the last must end at the end of the file. */
static int check_tiling(const char *file, struct span *s, size_t n, uint64_t data_size)
{
	qsort(s, n, sizeof *s, by_offset);
	uint64_t at = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].end > data_size)
			return nc_fail("%s: tensor %s: data_offsets [%llu, %llu] run past the end of the "
				       "%llu data bytes (truncated?)", file, s[i].t.name,
				       (unsigned long long)s[i].begin, (unsigned long long)s[i].end,
				       (unsigned long long)data_size);
		if (s[i].begin < at)
			return nc_fail("%s: tensor %s overlaps tensor %s", file, s[i].t.name, s[i - 1].t.name);
		if (s[i].begin > at)
			return nc_fail("%s: tensor %s: gap of %llu unused bytes before it", file,
				       s[i].t.name, (unsigned long long)(s[i].begin - at));
		at = s[i].end;
	}
	if (at != data_size)
		return nc_fail("%s: %llu data bytes after the last tensor", file,
			       (unsigned long long)(data_size - at));
	return 0;
}

static int parse_tensors(struct nc_safetensors *st, json_t *root, uint64_t data_off)
{
	const char *file = st->map.path, *name;
	size_t cap = json_object_size(root);
	struct span *s = nc_xcalloc(cap + 1, sizeof *s);
	json_t *v;
	int rc = 0;
	json_object_foreach(root, name, v) {
		if (strcmp(name, "__metadata__") == 0)
			rc = parse_meta(st, v);
		else if ((rc = parse_tensor(file, name, v, &s[st->n])) == 0)
			st->n++;
		if (rc != 0)
			break;
	}
	if (rc == 0)
		rc = check_tiling(file, s, st->n, st->map.size - data_off);
	st->tensors = nc_xcalloc(st->n + 1, sizeof *st->tensors);
	for (size_t i = 0; i < st->n; i++) {
		st->tensors[i] = s[i].t;
		st->tensors[i].data = st->map.data + data_off + (rc == 0 ? s[i].begin : 0);
	}
	free(s);
	return rc;
}

/* The data against the checksum in the metadata, if there is one. */
static int check_data(const struct nc_safetensors *st, uint64_t data_off)
{
	const char *file = st->map.path, *want = nc_st_meta(st, NC_ST_CHECKSUM_KEY);
	if (!want)
		return 0;
	char *end;
	unsigned long long v = strtoull(want, &end, 16);
	if (strlen(want) != 16 || *end)
		return nc_fail("%s: __metadata__: %s is '%s', not 16 hex digits", file, NC_ST_CHECKSUM_KEY, want);
	if (nc_hash64(st->map.data + data_off, st->map.size - data_off) != (uint64_t)v)
		return nc_fail("%s: checksum mismatch: the tensor data (bytes %llu to %zu) do not match its "
			       "%s", file, (unsigned long long)data_off, st->map.size - 1, NC_ST_CHECKSUM_KEY);
	return 0;
}

static int parse(struct nc_safetensors *st)
{
	const char *file = st->map.path;
	if (st->map.size < 8)
		return nc_fail("%s: truncated: %zu bytes, too short for a safetensors file", file, st->map.size);
	uint64_t hlen = le64(st->map.data);
	if (hlen > MAX_HEADER)
		return nc_fail("%s: header length %llu is not plausible (not a safetensors file?)", file,
			       (unsigned long long)hlen);
	if (hlen > st->map.size - 8)
		return nc_fail("%s: truncated: header of %llu bytes but only %zu follow", file,
			       (unsigned long long)hlen, st->map.size - 8);
	json_error_t jerr;
	json_t *root = json_loadb((const char *)st->map.data + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return nc_fail("%s: bad header JSON: %s (byte %d)", file, jerr.text, jerr.position + 8);
	int rc = json_is_object(root) ? parse_tensors(st, root, 8 + hlen)
				      : nc_fail("%s: header JSON is not an object", file);
	json_decref(root);
	return rc == 0 ? check_data(st, 8 + hlen) : rc;
}

int nc_st_open(struct nc_safetensors *st, const char *path)
{
	memset(st, 0, sizeof *st);
	if (nc_map_open(&st->map, path) != 0) {
		memset(st, 0, sizeof *st);
		return -1;
	}
	if (parse(st) != 0) {
		nc_st_close(st);
		return -1;
	}
	return 0;
}

void nc_st_close(struct nc_safetensors *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->tensors[i].name);
	for (size_t i = 0; i < st->n_meta; i++) {
		free(st->meta[i].key);
		free(st->meta[i].value);
	}
	free(st->tensors);
	free(st->meta);
	if (st->map.path)
		nc_map_close(&st->map);
	memset(st, 0, sizeof *st);
}

/* A linear search: checkpoints hold hundreds of tensors, read once each. */
const struct nc_st_tensor *nc_st_find(const struct nc_safetensors *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->tensors[i].name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

const char *nc_st_meta(const struct nc_safetensors *st, const char *key)
{
	for (size_t i = 0; i < st->n_meta; i++)
		if (strcmp(st->meta[i].key, key) == 0)
			return st->meta[i].value;
	return NULL;
}

/* The tensor, if it exists with exactly this shape. */
static const struct nc_st_tensor *lookup(const struct nc_safetensors *st, const char *name, int ndim,
					 const int64_t *shape)
{
	const struct nc_st_tensor *t = nc_st_find(st, name);
	if (!t) {
		nc_fail("%s: no tensor %s", st->map.path, name);
		return NULL;
	}
	int same = t->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same) {
		char have[256], want[256];
		nc_fail("%s: tensor %s: shape %s but expected %s", st->map.path, name,
			shape_str(have, sizeof have, t->ndim, t->shape), shape_str(want, sizeof want, ndim, shape));
		return NULL;
	}
	return t;
}

int nc_st_read_f32(const struct nc_safetensors *st, const char *name, int ndim, const int64_t *shape,
		   float *out)
{
	const struct nc_st_tensor *t = lookup(st, name, ndim, shape);
	if (!t)
		return -1;
	const unsigned char *p = t->data;
	size_t n = t->nbytes / (size_t)dtypes[t->dtype].size;
	switch (t->dtype) {
	case NC_ST_F32:
		for (size_t i = 0; i < n; i++) {
			uint32_t u = le32(p + 4 * i);
			memcpy(&out[i], &u, 4);
		}
		return 0;
	case NC_ST_BF16:
		for (size_t i = 0; i < n; i++)
			out[i] = nc_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
		return 0;
	case NC_ST_F16:
		for (size_t i = 0; i < n; i++)
			out[i] = nc_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
		return 0;
	case NC_ST_I32:
		for (size_t i = 0; i < n; i++)
			out[i] = (float)(int32_t)le32(p + 4 * i);
		return 0;
	case NC_ST_I64:
		for (size_t i = 0; i < n; i++)
			out[i] = (float)(int64_t)le64(p + 8 * i);
		return 0;
	}
	return nc_fail("%s: tensor %s: dtype %s cannot be read as floats", st->map.path, name,
		       dtypes[t->dtype].name);
}

int nc_st_read_i32(const struct nc_safetensors *st, const char *name, int ndim, const int64_t *shape,
		   int32_t *out)
{
	const struct nc_st_tensor *t = lookup(st, name, ndim, shape);
	if (!t)
		return -1;
	const unsigned char *p = t->data;
	size_t n = t->nbytes / (size_t)dtypes[t->dtype].size;
	if (t->dtype == NC_ST_I32) {
		for (size_t i = 0; i < n; i++)
			out[i] = (int32_t)le32(p + 4 * i);
		return 0;
	}
	if (t->dtype != NC_ST_I64)
		return nc_fail("%s: tensor %s: dtype %s cannot be read as 32-bit integers", st->map.path,
			       name, dtypes[t->dtype].name);
	for (size_t i = 0; i < n; i++) {
		int64_t v = (int64_t)le64(p + 8 * i);
		if (v < INT32_MIN || v > INT32_MAX)
			return nc_fail("%s: tensor %s: element %zu (%lld) does not fit 32 bits", st->map.path,
				       name, i, (long long)v);
		out[i] = (int32_t)v;
	}
	return 0;
}

/* ---- writing ---- */

void nc_st_writer_init(struct nc_st_writer *w)
{
	memset(w, 0, sizeof *w);
}

static void add(struct nc_st_writer *w, const char *name, int dtype, int ndim, const int64_t *shape,
		const void *data)
{
	nc_xgrow(&w->t, &w->cap, w->n + 1, sizeof *w->t);
	struct nc_st_wtensor *t = &w->t[w->n++];
	memset(t, 0, sizeof *t);
	t->name = nc_xstrdup(name);
	t->dtype = dtype;
	t->ndim = ndim;
	for (int i = 0; i < ndim && i < NC_ST_MAX_DIM; i++)
		t->shape[i] = shape[i];
	t->data = data;
}

void nc_st_add_f32(struct nc_st_writer *w, const char *name, int ndim, const int64_t *shape,
		   const float *data, int as_bf16)
{
	add(w, name, as_bf16 ? NC_ST_BF16 : NC_ST_F32, ndim, shape, data);
}

void nc_st_add_i32(struct nc_st_writer *w, const char *name, int ndim, const int64_t *shape,
		   const int32_t *data)
{
	add(w, name, NC_ST_I32, ndim, shape, data);
}

void nc_st_set_meta(struct nc_st_writer *w, const char *key, const char *value)
{
	for (size_t i = 0; i < w->n_meta; i++)
		if (strcmp(w->meta[i].key, key) == 0) {
			free(w->meta[i].value);
			w->meta[i].value = nc_xstrdup(value);
			return;
		}
	nc_xgrow(&w->meta, &w->meta_cap, w->n_meta + 1, sizeof *w->meta);
	w->meta[w->n_meta].key = nc_xstrdup(key);
	w->meta[w->n_meta++].value = nc_xstrdup(value);
}

void nc_st_writer_free(struct nc_st_writer *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->t[i].name);
	for (size_t i = 0; i < w->n_meta; i++) {
		free(w->meta[i].key);
		free(w->meta[i].value);
	}
	free(w->t);
	free(w->meta);
	memset(w, 0, sizeof *w);
}

#define CHECKSUM_PLACEHOLDER "0000000000000000"

static json_t *header_meta(const struct nc_st_writer *w, const char *path)
{
	json_t *meta = json_object();
	/* filled in once the data is written (nc_st_write) */
	if (w->checksum)
		json_object_set_new(meta, NC_ST_CHECKSUM_KEY, json_string(CHECKSUM_PLACEHOLDER));
	for (size_t i = 0; i < w->n_meta; i++)
		if (json_object_set_new(meta, w->meta[i].key, json_string(w->meta[i].value)) != 0) {
			nc_fail("%s: __metadata__: %s: key or value is not UTF-8", path, w->meta[i].key);
			json_decref(meta);
			return NULL;
		}
	return meta;
}

static json_t *header_entry(const struct nc_st_wtensor *t, const char *path, uint64_t *at)
{
	if (t->ndim < 0 || t->ndim > NC_ST_MAX_DIM) {
		nc_fail("%s: tensor %s: %d dimensions (0 to %d allowed)", path, t->name, t->ndim, NC_ST_MAX_DIM);
		return NULL;
	}
	uint64_t n = tensor_bytes(t->dtype, t->ndim, t->shape);
	if (n == UINT64_MAX || n > (uint64_t)LLONG_MAX - *at) {
		nc_fail("%s: tensor %s: negative or oversized shape", path, t->name);
		return NULL;
	}
	json_t *shape = json_array();
	for (int i = 0; i < t->ndim; i++)
		json_array_append_new(shape, json_integer(t->shape[i]));
	json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtypes[t->dtype].name, "shape", shape,
			      "data_offsets", (json_int_t)*at, (json_int_t)(*at + n));
	*at += n;
	return e;
}

/* The header JSON, padded with spaces so that the data starts 8-aligned. */
static char *header_json(const struct nc_st_writer *w, const char *path, size_t *len)
{
	int with_meta = w->n_meta || w->checksum;
	json_t *root = json_object(), *e = with_meta ? header_meta(w, path) : NULL;
	int rc = with_meta && !e ? -1 : 0;
	if (e)
		json_object_set_new(root, "__metadata__", e);
	uint64_t at = 0;
	for (size_t i = 0; rc == 0 && i < w->n; i++) {
		const char *name = w->t[i].name;
		if (strcmp(name, "__metadata__") == 0 || json_object_get(root, name))
			rc = nc_fail("%s: tensor %s: name used twice or reserved", path, name);
		else if (!(e = header_entry(&w->t[i], path, &at)))
			rc = -1;
		else if (json_object_set_new(root, name, e) != 0)
			rc = nc_fail("%s: tensor %s: name is not UTF-8", path, name);
	}
	char *s = rc == 0 ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!s)
		return NULL;
	size_t n = strlen(s), padded = (n + 7) / 8 * 8;
	s = nc_xrealloc(s, padded);
	memset(s + n, ' ', padded - n);
	*len = padded;
	return s;
}

/* One tensor's elements in little-endian, converted a block at a time. */
static int write_data(struct nc_out *o, struct nc_hasher *h, const struct nc_st_wtensor *t)
{
	unsigned char buf[1 << 14];
	int size = dtypes[t->dtype].size;
	size_t n = tensor_bytes(t->dtype, t->ndim, t->shape) / (size_t)size, per = sizeof buf / (size_t)size;
	const uint32_t *src = t->data;          /* float and int32_t alike: the bits */
	for (size_t i = 0; i < n; i += per) {
		size_t k = n - i < per ? n - i : per;
		for (size_t j = 0; j < k; j++) {
			uint32_t u;
			memcpy(&u, src + i + j, 4);
			if (t->dtype == NC_ST_BF16) {
				float f;
				memcpy(&f, &u, 4);
				uint16_t h = nc_f32_to_bf16(f);
				buf[2 * j] = (unsigned char)h;
				buf[2 * j + 1] = (unsigned char)(h >> 8);
			} else {
				put_le32(buf + 4 * j, u);
			}
		}
		nc_hasher_update(h, buf, k * (size_t)size);
		if (nc_out_write(o, buf, k * (size_t)size) != 0)
			return -1;
	}
	return 0;
}

/* Put the data's checksum where the header holds its placeholder. */
static int patch_checksum(struct nc_out *o, const char *header, uint64_t digest)
{
	char key[64], hex[17];
	snprintf(key, sizeof key, "\"%s\":\"", NC_ST_CHECKSUM_KEY);
	const char *at = strstr(header, key);
	if (!at)
		return nc_fail("%s: no room for the checksum in the header", o->path);
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)digest);
	return nc_out_patch(o, 8 + (uint64_t)(at - header) + strlen(key), hex, 16);
}

int nc_st_write(struct nc_st_writer *w, const char *path)
{
	size_t hlen;
	char *header = header_json(w, path, &hlen);
	if (!header)
		return -1;
	struct nc_out o;
	unsigned char len[8];
	put_le64(len, hlen);
	int rc = nc_out_open(&o, path);
	if (rc == 0)
		rc = nc_out_write(&o, len, 8) || nc_out_write(&o, header, hlen) ? -1 : 0;
	struct nc_hasher h;
	nc_hasher_init(&h);
	for (size_t i = 0; rc == 0 && i < w->n; i++)
		rc = write_data(&o, &h, &w->t[i]);
	if (rc == 0 && w->checksum)
		rc = patch_checksum(&o, header, nc_hasher_digest(&h));
	nc_hasher_free(&h);
	free(header);
	if (rc == 0)
		return nc_out_commit(&o);
	if (o.fp)
		nc_out_abort(&o);
	return -1;
}
