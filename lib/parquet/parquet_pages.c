/* Parquet column chunks: page headers, decompression, the RLE/bit-packed
 * hybrid, and PLAIN and dictionary values, decoded into a level pair per
 * entry and a value per defined entry (struct nc_parquet_column). */
#include "parquet.h"
#include "../err.h"
#include "../le.h"
#include "../mem.h"
#include "thrift.h"

#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

enum { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICT = 2, PAGE_DATA_V2 = 3 };
enum { ENC_PLAIN = 0, ENC_PLAIN_DICT = 2, ENC_RLE = 3, ENC_BIT_PACKED = 4, ENC_RLE_DICT = 8 };
enum { CODEC_NONE = 0, CODEC_SNAPPY = 1, CODEC_GZIP = 2, CODEC_ZSTD = 6 };

static const char *const encoding_names[] = {
	"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED",
	"DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT",
};
static const char *const codec_names[] = {
	"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW",
};

struct page_header {
	int type;
	int32_t usize, csize;
	int32_t num_values;
	int encoding, def_encoding, rep_encoding;
	int32_t def_len, rep_len;     /* v2: level bytes, stored uncompressed */
	int is_compressed;            /* v2 */
};

/* Where we are, for messages and for the dictionary a chunk carries. */
struct ctx {
	struct nc_parquet *p;
	int rg;
	const struct nc_parquet_node *leaf;
	const struct nc_parquet_chunk *ch;
	size_t page_off;
	struct nc_parquet_value *dict;
	size_t ndict;
	int have_dict;
	uint32_t *scratch;
	size_t scap;
};

static int page_fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int page_fail(struct ctx *x, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return nc_fail("%s: row group %d: column %s: page at byte %zu: %s", x->p->name, x->rg,
		       x->leaf->path, x->page_off, what);
}

static const char *encoding_name(int e)
{
	return e >= 0 && e < (int)(sizeof encoding_names / sizeof *encoding_names) ? encoding_names[e] : "unknown";
}

static const char *codec_name(int c)
{
	return c >= 0 && c < (int)(sizeof codec_names / sizeof *codec_names) ? codec_names[c] : "unknown";
}

/* ---- page headers ---- */

static void parse_data_header(struct nc_thrift *r, struct page_header *h)
{
	int16_t last = 0, id;
	int t;
	if (nc_thrift_enter(r))
		return;
	while ((t = nc_thrift_field(r, &last, &id)) != TH_STOP) {
		if (id == 1 && t == TH_I32)
			h->num_values = nc_thrift_i32(r);
		else if (id == 2 && t == TH_I32)
			h->encoding = nc_thrift_i32(r);
		else if (id == 3 && t == TH_I32)
			h->def_encoding = nc_thrift_i32(r);
		else if (id == 4 && t == TH_I32)
			h->rep_encoding = nc_thrift_i32(r);
		else
			nc_thrift_skip(r, t);
	}
	nc_thrift_leave(r);
}

static void parse_v2_header(struct nc_thrift *r, struct page_header *h)
{
	int16_t last = 0, id;
	int t;
	if (nc_thrift_enter(r))
		return;
	while ((t = nc_thrift_field(r, &last, &id)) != TH_STOP) {
		if (id == 1 && t == TH_I32)
			h->num_values = nc_thrift_i32(r);
		else if (id == 4 && t == TH_I32)
			h->encoding = nc_thrift_i32(r);
		else if (id == 5 && t == TH_I32)
			h->def_len = nc_thrift_i32(r);
		else if (id == 6 && t == TH_I32)
			h->rep_len = nc_thrift_i32(r);
		else if (id == 7 && (t == TH_TRUE || t == TH_FALSE))
			h->is_compressed = nc_thrift_bool(r, t);
		else
			nc_thrift_skip(r, t);
	}
	nc_thrift_leave(r);
}

static int parse_page_header(struct ctx *x, const unsigned char *p, size_t n, struct page_header *h, size_t *used)
{
	struct nc_thrift r;
	char what[600];
	snprintf(what, sizeof what, "%s: row group %d: column %s: page header", x->p->name, x->rg, x->leaf->path);
	nc_thrift_init(&r, p, n, x->p->data, what);
	memset(h, 0, sizeof *h);
	h->type = -1;
	h->usize = h->csize = -1;
	h->encoding = h->def_encoding = h->rep_encoding = ENC_RLE;
	h->is_compressed = 1;
	int16_t last = 0, id;
	int t;
	while ((t = nc_thrift_field(&r, &last, &id)) != TH_STOP) {
		if (id == 1 && t == TH_I32)
			h->type = nc_thrift_i32(&r);
		else if (id == 2 && t == TH_I32)
			h->usize = nc_thrift_i32(&r);
		else if (id == 3 && t == TH_I32)
			h->csize = nc_thrift_i32(&r);
		else if ((id == 5 || id == 7) && t == TH_STRUCT)
			parse_data_header(&r, h);   /* the dictionary header's first fields match */
		else if (id == 8 && t == TH_STRUCT)
			parse_v2_header(&r, h);
		else
			nc_thrift_skip(&r, t);
	}
	if (r.err)
		return -1;
	if (h->type < 0 || h->usize < 0 || h->csize < 0 || h->num_values < 0)
		return page_fail(x, "page header lacks its type, sizes or value count");
	*used = (size_t)(r.p - p);
	return 0;
}

/* ---- decompression ---- */

static int inflate_gzip(const unsigned char *src, size_t n, unsigned char *dst, size_t dn)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 15 + 32) != Z_OK)   /* +32: accept gzip or zlib headers */
		return -1;
	z.next_in = (unsigned char *)src;
	z.avail_in = (uInt)n;
	z.next_out = dst;
	z.avail_out = (uInt)dn;
	int rc = inflate(&z, Z_FINISH);
	size_t got = z.total_out;
	inflateEnd(&z);
	return rc == Z_STREAM_END && got == dn ? 0 : -1;
}

/* Decompress src into a buffer of exactly dn bytes, kept by the column
 * (strings point into it). Uncompressed data is used where it lies. */
static int decompress(struct ctx *x, struct nc_parquet_column *c, int codec, const unsigned char *src,
		      size_t n, size_t dn, const unsigned char **out)
{
	if (codec == CODEC_NONE) {
		if (n != dn)
			return page_fail(x, "uncompressed page of %zu bytes claims %zu", n, dn);
		*out = src;
		return 0;
	}
	if (codec != CODEC_SNAPPY && codec != CODEC_GZIP && codec != CODEC_ZSTD)
		return page_fail(x, "unsupported codec %s (%d)", codec_name(codec), codec);
	if (dn > x->p->max_page_bytes)
		return page_fail(x, "page of %zu bytes is over the limit of %zu", dn, x->p->max_page_bytes);
	if (dn > x->p->max_chunk_bytes - c->buf_bytes)
		return page_fail(x, "column chunk over the limit of %zu decompressed bytes", x->p->max_chunk_bytes);
	c->buf_bytes += dn;
	unsigned char *buf = nc_xmalloc(dn);
	nc_xgrow(&c->bufs, &c->bcap, c->nbufs + 1, sizeof *c->bufs);
	c->bufs[c->nbufs++] = buf;
	int ok;
	if (codec == CODEC_SNAPPY) {
		size_t len = 0;
		ok = snappy_uncompressed_length((const char *)src, n, &len) == SNAPPY_OK && len == dn &&
		     snappy_uncompress((const char *)src, n, (char *)buf, &len) == SNAPPY_OK && len == dn;
	} else if (codec == CODEC_GZIP) {
		ok = n <= UINT32_MAX && dn <= UINT32_MAX && inflate_gzip(src, n, buf, dn) == 0;
	} else {
		size_t got = ZSTD_decompress(buf, dn, src, n);
		ok = !ZSTD_isError(got) && got == dn;
	}
	if (!ok)
		return page_fail(x, "%s decompression failed (or not %zu bytes)", codec_name(codec), dn);
	*out = buf;
	return 0;
}

/* ---- the RLE / bit-packed hybrid ---- */

static int read_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		unsigned b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

static uint32_t bits_at(const unsigned char *p, uint64_t bit, int width)
{
	const unsigned char *q = p + (bit >> 3);
	int shift = bit & 7, nbytes = (shift + width + 7) / 8;
	uint64_t v = 0;
	for (int k = 0; k < nbytes; k++)
		v |= (uint64_t)q[k] << (8 * k);
	return (uint32_t)((v >> shift) & ((1ull << width) - 1));
}

/* Decode count values of the given bit width from [p, end). Returns NULL
 * or what is wrong. */
static const char *rle_hybrid(const unsigned char *p, const unsigned char *end, int width,
			      uint32_t *out, size_t count)
{
	size_t vbytes = (size_t)(width + 7) / 8, got = 0;
	while (got < count) {
		uint64_t h;
		if (read_varint(&p, end, &h))
			return "levels or indices truncated (run header)";
		if (h & 1) {
			uint64_t groups = h >> 1, avail = (uint64_t)(end - p);
			uint64_t take = count - got;
			if (groups <= take / 8)
				take = groups * 8;
			if ((take * width + 7) / 8 > avail)
				return "levels or indices truncated (bit-packed run)";
			for (uint64_t j = 0; j < take; j++)
				out[got + j] = bits_at(p, j * width, width);
			got += take;
			/* The last run may stop short of its stated length. */
			p += groups > avail || groups * width > avail ? avail : groups * width;
		} else {
			if ((size_t)(end - p) < vbytes)
				return "levels or indices truncated (repeated run)";
			uint32_t v = 0;
			for (size_t k = 0; k < vbytes; k++)
				v |= (uint32_t)p[k] << (8 * k);
			p += vbytes;
			if (width < 32 && v >> width)
				return "repeated run value wider than its bit width";
			uint64_t take = h >> 1 < count - got ? h >> 1 : count - got;
			for (uint64_t j = 0; j < take; j++)
				out[got + j] = v;
			got += take;
		}
	}
	return NULL;
}

static uint32_t *scratch(struct ctx *x, size_t n)
{
	nc_xgrow(&x->scratch, &x->scap, n + 1, sizeof *x->scratch);
	return x->scratch;
}

static int bit_width(int max)
{
	int w = 0;
	while (max >> w)
		w++;
	return w;
}

/* Levels of one kind (rep or def) for n entries into dst. */
static int decode_levels(struct ctx *x, const unsigned char *p, size_t len, int max, uint8_t *dst,
			 size_t n, const char *kind)
{
	if (max == 0) {
		memset(dst, 0, n);
		return 0;
	}
	uint32_t *v = scratch(x, n);
	const char *bad = rle_hybrid(p, p + len, bit_width(max), v, n);
	if (bad)
		return page_fail(x, "%s levels: %s", kind, bad);
	for (size_t i = 0; i < n; i++) {
		if (v[i] > (uint32_t)max)
			return page_fail(x, "%s level %u at entry %zu is over the maximum %d", kind, v[i], i, max);
		dst[i] = (uint8_t)v[i];
	}
	return 0;
}

/* v1 pages: a 4-byte length before each level section. */
static int v1_levels(struct ctx *x, const unsigned char **p, const unsigned char *end, int max,
		     int encoding, uint8_t *dst, size_t n, const char *kind)
{
	if (max == 0)
		return decode_levels(x, *p, 0, 0, dst, n, kind);
	if (encoding != ENC_RLE)
		return page_fail(x, "unsupported %s level encoding %s (%d)", kind, encoding_name(encoding), encoding);
	if (end - *p < 4)
		return page_fail(x, "%s levels truncated", kind);
	uint32_t len = le32(*p);
	*p += 4;
	if (len > (size_t)(end - *p))
		return page_fail(x, "%s levels of %u bytes overrun the page", kind, len);
	if (decode_levels(x, *p, len, max, dst, n, kind))
		return -1;
	*p += len;
	return 0;
}

/* ---- values ---- */

static size_t plain_size(int type, int type_length)
{
	switch (type) {
	case NC_PARQUET_INT32:
	case NC_PARQUET_FLOAT:
		return 4;
	case NC_PARQUET_INT64:
	case NC_PARQUET_DOUBLE:
		return 8;
	case NC_PARQUET_FIXED:
		return (size_t)type_length;
	default:
		return 0;
	}
}

static void fixed_value(int type, const unsigned char *p, size_t size, struct nc_parquet_value *v)
{
	memset(v, 0, sizeof *v);
	if (type == NC_PARQUET_INT32)
		v->i = (int32_t)le32(p);
	else if (type == NC_PARQUET_INT64)
		v->i = (int64_t)le64(p);
	else if (type == NC_PARQUET_FLOAT) {
		uint32_t b = le32(p);
		float f;
		memcpy(&f, &b, sizeof f);
		v->d = f;
	} else if (type == NC_PARQUET_DOUBLE) {
		uint64_t b = le64(p);
		memcpy(&v->d, &b, sizeof v->d);
	} else {
		v->s = p;
		v->len = size;
	}
}

/* n PLAIN values of the leaf's type from [p, end) into out. */
static int decode_plain(struct ctx *x, const unsigned char *p, const unsigned char *end,
			struct nc_parquet_value *out, size_t n)
{
	int type = x->leaf->type;
	size_t avail = (size_t)(end - p);
	if (type == NC_PARQUET_BOOLEAN) {
		if ((n + 7) / 8 > avail)
			return page_fail(x, "PLAIN booleans truncated");
		for (size_t i = 0; i < n; i++) {
			memset(&out[i], 0, sizeof out[i]);
			out[i].i = p[i >> 3] >> (i & 7) & 1;
		}
		return 0;
	}
	if (type == NC_PARQUET_BYTE_ARRAY) {
		for (size_t i = 0; i < n; i++) {
			if (end - p < 4)
				return page_fail(x, "PLAIN byte array %zu truncated (length)", i);
			uint32_t len = le32(p);
			p += 4;
			if (len > (size_t)(end - p))
				return page_fail(x, "PLAIN byte array %zu of %u bytes overruns the page", i, len);
			memset(&out[i], 0, sizeof out[i]);
			out[i].s = p;
			out[i].len = len;
			p += len;
		}
		return 0;
	}
	size_t size = plain_size(type, x->leaf->type_length);
	if (size == 0)
		return page_fail(x, "unsupported physical type %d", type);
	if (n > avail / size)
		return page_fail(x, "PLAIN values truncated (%zu of %zu bytes)", avail, n * size);
	for (size_t i = 0; i < n; i++)
		fixed_value(type, p + i * size, size, &out[i]);
	return 0;
}

/* Most values n bytes of PLAIN data can hold: bounds an allocation before
 * the values are read. */
static size_t plain_capacity(const struct nc_parquet_node *leaf, size_t bytes)
{
	if (leaf->type == NC_PARQUET_BOOLEAN)
		return bytes * 8;
	if (leaf->type == NC_PARQUET_BYTE_ARRAY)
		return bytes / 4;
	size_t size = plain_size(leaf->type, leaf->type_length);
	return size ? bytes / size : 0;
}

static int decode_dict_indices(struct ctx *x, const unsigned char *p, const unsigned char *end,
			       struct nc_parquet_value *out, size_t n)
{
	if (!x->have_dict)
		return page_fail(x, "dictionary-encoded page without a dictionary page");
	if (n == 0)
		return 0;
	if (p >= end)
		return page_fail(x, "dictionary indices truncated (bit width)");
	int width = *p++;
	if (width > 32)
		return page_fail(x, "dictionary index bit width %d is over 32", width);
	uint32_t *idx = scratch(x, n);
	const char *bad = rle_hybrid(p, end, width, idx, n);
	if (bad)
		return page_fail(x, "dictionary indices: %s", bad);
	for (size_t i = 0; i < n; i++) {
		if (idx[i] >= x->ndict)
			return page_fail(x, "dictionary index %u out of range (dictionary has %zu values)", idx[i], x->ndict);
		out[i] = x->dict[idx[i]];
	}
	return 0;
}

static int decode_rle_booleans(struct ctx *x, const unsigned char *p, const unsigned char *end,
			       struct nc_parquet_value *out, size_t n)
{
	if (end - p < 4 || le32(p) > (size_t)(end - p - 4))
		return page_fail(x, "RLE booleans truncated");
	uint32_t *v = scratch(x, n);
	const char *bad = rle_hybrid(p + 4, p + 4 + le32(p), 1, v, n);
	if (bad)
		return page_fail(x, "RLE booleans: %s", bad);
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof out[i]);
		out[i].i = v[i];
	}
	return 0;
}

static int decode_values(struct ctx *x, int encoding, const unsigned char *p, const unsigned char *end,
			 struct nc_parquet_column *c, size_t n)
{
	if (encoding == ENC_PLAIN && n > plain_capacity(x->leaf, (size_t)(end - p)))
		return page_fail(x, "%zu PLAIN values cannot fit in %zu bytes", n, (size_t)(end - p));
	nc_xgrow(&c->vals, &c->vcap, c->nvals + n + 1, sizeof *c->vals);
	struct nc_parquet_value *out = c->vals + c->nvals;
	int rc;
	if (encoding == ENC_PLAIN)
		rc = decode_plain(x, p, end, out, n);
	else if (encoding == ENC_PLAIN_DICT || encoding == ENC_RLE_DICT)
		rc = decode_dict_indices(x, p, end, out, n);
	else if (encoding == ENC_RLE && x->leaf->type == NC_PARQUET_BOOLEAN)
		rc = decode_rle_booleans(x, p, end, out, n);
	else
		rc = page_fail(x, "unsupported encoding %s (%d)", encoding_name(encoding), encoding);
	if (rc == 0)
		c->nvals += n;
	return rc;
}

/* ---- pages ---- */

static int read_dict_page(struct ctx *x, struct nc_parquet_column *c, const struct page_header *h,
			  const unsigned char *body)
{
	if (x->have_dict)
		return page_fail(x, "a second dictionary page");
	if (h->encoding != ENC_PLAIN && h->encoding != ENC_PLAIN_DICT)
		return page_fail(x, "unsupported dictionary encoding %s (%d)", encoding_name(h->encoding), h->encoding);
	const unsigned char *data;
	if (decompress(x, c, x->ch->codec, body, (size_t)h->csize, (size_t)h->usize, &data))
		return -1;
	size_t n = (size_t)h->num_values;
	if (n > plain_capacity(x->leaf, (size_t)h->usize))
		return page_fail(x, "%zu dictionary values cannot fit in %d bytes", n, h->usize);
	x->dict = nc_xmalloc(n * sizeof *x->dict);
	x->ndict = n;
	x->have_dict = 1;
	return decode_plain(x, data, data + h->usize, x->dict, n);
}

static size_t count_defined(const struct nc_parquet_column *c, size_t from, int max_def)
{
	size_t k = 0;
	for (size_t i = from; i < c->n; i++)
		k += c->def[i] == max_def;
	return k;
}

static int grow_levels(struct ctx *x, struct nc_parquet_column *c, size_t n)
{
	if (n > (size_t)x->ch->num_values - c->n)
		return page_fail(x, "page of %zu values overruns the chunk's %lld", n, (long long)x->ch->num_values);
	/* One spare entry, so that an empty page still has arrays to point at. */
	size_t cap = c->cap;
	nc_xgrow(&c->rep, &cap, c->n + n + 1, 1);
	cap = c->cap;
	nc_xgrow(&c->def, &cap, c->n + n + 1, 1);
	c->cap = cap;
	return 0;
}

static int read_data_page(struct ctx *x, struct nc_parquet_column *c, const struct page_header *h,
			  const unsigned char *body)
{
	size_t n = (size_t)h->num_values;
	const unsigned char *data;
	if (grow_levels(x, c, n) ||
	    decompress(x, c, x->ch->codec, body, (size_t)h->csize, (size_t)h->usize, &data))
		return -1;
	const unsigned char *p = data, *end = data + h->usize;
	const struct nc_parquet_node *leaf = x->leaf;
	if (v1_levels(x, &p, end, leaf->rep, h->rep_encoding, c->rep + c->n, n, "repetition") ||
	    v1_levels(x, &p, end, leaf->def, h->def_encoding, c->def + c->n, n, "definition"))
		return -1;
	size_t from = c->n;
	c->n += n;
	return decode_values(x, h->encoding, p, end, c, count_defined(c, from, leaf->def));
}

static int read_data_page_v2(struct ctx *x, struct nc_parquet_column *c, const struct page_header *h,
			     const unsigned char *body)
{
	size_t n = (size_t)h->num_values;
	if (h->rep_len < 0 || h->def_len < 0 || (int64_t)h->rep_len + h->def_len > h->csize ||
	    (int64_t)h->rep_len + h->def_len > h->usize)
		return page_fail(x, "level lengths overrun the page");
	if (grow_levels(x, c, n))
		return -1;
	const struct nc_parquet_node *leaf = x->leaf;
	size_t lv = (size_t)h->rep_len + (size_t)h->def_len;
	if (decode_levels(x, body, (size_t)h->rep_len, leaf->rep, c->rep + c->n, n, "repetition") ||
	    decode_levels(x, body + h->rep_len, (size_t)h->def_len, leaf->def, c->def + c->n, n, "definition"))
		return -1;
	const unsigned char *data;
	int codec = h->is_compressed ? x->ch->codec : CODEC_NONE;
	if (decompress(x, c, codec, body + lv, (size_t)h->csize - lv, (size_t)h->usize - lv, &data))
		return -1;
	size_t from = c->n;
	c->n += n;
	return decode_values(x, h->encoding, data, data + (h->usize - lv), c, count_defined(c, from, leaf->def));
}

static int read_page(struct ctx *x, struct nc_parquet_column *c, size_t *pos, size_t end)
{
	struct page_header h;
	size_t used = 0;
	x->page_off = *pos;
	if (parse_page_header(x, x->p->data + *pos, end - *pos, &h, &used))
		return -1;
	if ((size_t)h.csize > end - *pos - used)
		return page_fail(x, "page of %d bytes overruns its column chunk", h.csize);
	const unsigned char *body = x->p->data + *pos + used;
	*pos += used + (size_t)h.csize;
	switch (h.type) {
	case PAGE_DICT:
		return read_dict_page(x, c, &h, body);
	case PAGE_DATA:
		return read_data_page(x, c, &h, body);
	case PAGE_DATA_V2:
		return read_data_page_v2(x, c, &h, body);
	default:
		return 0;   /* index pages and kinds we do not know carry no values */
	}
}

int nc_parquet_read_column(struct nc_parquet *p, int rg, int col, struct nc_parquet_column *c)
{
	memset(c, 0, sizeof *c);
	struct ctx x = {p, rg, &p->nodes[p->leaves[col]], &p->rgs[rg].chunks[col], 0, NULL, 0, 0, NULL, 0};
	size_t pos = (size_t)x.ch->start, end = pos + (size_t)x.ch->size;
	x.page_off = pos;
	int rc = 0;
	if ((uint64_t)x.ch->num_values > p->max_entries)
		rc = page_fail(&x, "%lld values in one column chunk is over the limit of %zu",
			       (long long)x.ch->num_values, p->max_entries);
	while (rc == 0 && c->n < (size_t)x.ch->num_values && pos < end)
		rc = read_page(&x, c, &pos, end);
	if (rc == 0 && c->n != (size_t)x.ch->num_values)
		rc = page_fail(&x, "column chunk ends after %zu of its %lld values", c->n, (long long)x.ch->num_values);
	free(x.dict);
	free(x.scratch);
	if (rc)
		nc_parquet_column_free(c);
	return rc;
}

void nc_parquet_column_free(struct nc_parquet_column *c)
{
	for (size_t i = 0; i < c->nbufs; i++)
		free(c->bufs[i]);
	free(c->bufs);
	free(c->rep);
	free(c->def);
	free(c->vals);
	memset(c, 0, sizeof *c);
}
