#include "thrift.h"
#include "../err.h"
#include "../mem.h"

#include <string.h>

#define MAX_DEPTH 32

void nc_thrift_init(struct nc_thrift *r, const unsigned char *p, size_t n,
		    const unsigned char *base, const char *name)
{
	r->p = p;
	r->end = p + n;
	r->base = base;
	r->name = name;
	r->depth = 0;
	r->err = 0;
}

int nc_thrift_fail(struct nc_thrift *r, const char *what)
{
	/* Keep the first message: later ones only echo its consequences. */
	if (!r->err)
		nc_fail("%s: byte %zu: %s", r->name, (size_t)(r->p - r->base), what);
	r->err = 1;
	r->p = r->end;
	return -1;
}

static int need(struct nc_thrift *r, size_t n)
{
	if (r->err)
		return -1;
	if ((size_t)(r->end - r->p) < n)
		return nc_thrift_fail(r, "truncated");
	return 0;
}

uint64_t nc_thrift_varint(struct nc_thrift *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (need(r, 1))
			return 0;
		unsigned b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	nc_thrift_fail(r, "varint longer than 10 bytes");
	return 0;
}

int64_t nc_thrift_zigzag(struct nc_thrift *r)
{
	uint64_t v = nc_thrift_varint(r);
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

int32_t nc_thrift_i32(struct nc_thrift *r)
{
	int64_t v = nc_thrift_zigzag(r);
	if (v < INT32_MIN || v > INT32_MAX) {
		nc_thrift_fail(r, "i32 out of range");
		return 0;
	}
	return (int32_t)v;
}

double nc_thrift_double(struct nc_thrift *r)
{
	if (need(r, 8))
		return 0;
	uint64_t bits = 0;
	for (int i = 7; i >= 0; i--)
		bits = bits << 8 | r->p[i];
	r->p += 8;
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

const unsigned char *nc_thrift_binary(struct nc_thrift *r, size_t *len)
{
	uint64_t n = nc_thrift_varint(r);
	*len = 0;
	if (r->err)
		return NULL;
	if (n > (uint64_t)(r->end - r->p)) {
		nc_thrift_fail(r, "binary longer than its buffer");
		return NULL;
	}
	const unsigned char *s = r->p;
	r->p += n;
	*len = n;
	return s;
}

char *nc_thrift_string(struct nc_thrift *r)
{
	size_t n;
	const unsigned char *s = nc_thrift_binary(r, &n);
	char *out = nc_xmalloc(n + 1);
	if (n)
		memcpy(out, s, n);
	out[n] = 0;
	return out;
}

int nc_thrift_field(struct nc_thrift *r, int16_t *last_id, int16_t *id)
{
	if (need(r, 1))
		return TH_STOP;
	unsigned b = *r->p++;
	if (b == 0)
		return TH_STOP;
	int type = b & 0x0f, delta = b >> 4;
	if (delta)
		*id = (int16_t)(*last_id + delta);
	else {
		int64_t v = nc_thrift_zigzag(r);
		if (v < INT16_MIN || v > INT16_MAX)
			return nc_thrift_fail(r, "field id out of range"), TH_STOP;
		*id = (int16_t)v;
	}
	if (type > TH_STRUCT)
		return nc_thrift_fail(r, "unknown field type"), TH_STOP;
	*last_id = *id;
	return r->err ? TH_STOP : type;
}

int nc_thrift_list(struct nc_thrift *r, int *elem_type, size_t *count)
{
	*count = 0;
	*elem_type = 0;
	if (need(r, 1))
		return -1;
	unsigned b = *r->p++;
	uint64_t n = b >> 4;
	if (n == 15)
		n = nc_thrift_varint(r);
	if (r->err)
		return -1;
	if (n > (uint64_t)(r->end - r->p))
		return nc_thrift_fail(r, "list longer than its buffer");
	*elem_type = b & 0x0f;
	*count = n;
	return 0;
}

int nc_thrift_bool(struct nc_thrift *r, int type)
{
	if (type == TH_TRUE || type == TH_FALSE)
		return type == TH_TRUE;
	if (need(r, 1))
		return 0;
	return *r->p++ == 1;
}

int nc_thrift_enter(struct nc_thrift *r)
{
	if (r->err)
		return -1;
	if (++r->depth > MAX_DEPTH)
		return nc_thrift_fail(r, "structs nested too deeply");
	return 0;
}

void nc_thrift_leave(struct nc_thrift *r)
{
	r->depth--;
}

static void skip_struct(struct nc_thrift *r)
{
	if (nc_thrift_enter(r))
		return;
	int16_t last = 0, id;
	int type;
	while ((type = nc_thrift_field(r, &last, &id)) != TH_STOP)
		nc_thrift_skip(r, type);
	nc_thrift_leave(r);
}

/* Inside a list or map a boolean is a byte of its own, not a field type. */
static void skip_elem(struct nc_thrift *r, int type)
{
	if (type == TH_TRUE || type == TH_FALSE)
		nc_thrift_bool(r, TH_BYTE);
	else
		nc_thrift_skip(r, type);
}

static void skip_map(struct nc_thrift *r)
{
	uint64_t n = nc_thrift_varint(r);
	if (n == 0 || r->err)
		return;
	if (n > (uint64_t)(r->end - r->p))
		return (void)nc_thrift_fail(r, "map longer than its buffer");
	if (need(r, 1))
		return;
	unsigned kv = *r->p++;
	if (nc_thrift_enter(r))
		return;
	for (uint64_t i = 0; i < n && !r->err; i++) {
		skip_elem(r, kv >> 4);
		skip_elem(r, kv & 0x0f);
	}
	nc_thrift_leave(r);
}

void nc_thrift_skip(struct nc_thrift *r, int type)
{
	size_t n;
	int elem;
	switch (type) {
	case TH_TRUE:
	case TH_FALSE:
		return;   /* as a field the value is in the type; see below for lists */
	case TH_BYTE:
		if (!need(r, 1))
			r->p++;
		return;
	case TH_I16:
	case TH_I32:
	case TH_I64:
		nc_thrift_varint(r);
		return;
	case TH_DOUBLE:
		nc_thrift_double(r);
		return;
	case TH_BINARY:
		nc_thrift_binary(r, &n);
		return;
	case TH_LIST:
	case TH_SET:
		if (nc_thrift_list(r, &elem, &n) || nc_thrift_enter(r))
			return;
		for (size_t i = 0; i < n && !r->err; i++)
			skip_elem(r, elem);
		nc_thrift_leave(r);
		return;
	case TH_MAP:
		skip_map(r);
		return;
	case TH_STRUCT:
		skip_struct(r);
		return;
	default:
		nc_thrift_fail(r, "unknown value type");
	}
}
