/* Thrift compact protocol decoding, as Parquet uses it for its footer and
 * page headers. Every read is bounds-checked: a reader that runs off its
 * buffer or meets a malformed value records an error (naming the input and
 * the byte offset) and sets r->err; later reads then return zeros, so a
 * caller may check r->err once after a whole struct. */
#ifndef NC_THRIFT_H
#define NC_THRIFT_H

#include <stddef.h>
#include <stdint.h>

enum {
	TH_STOP = 0,
	TH_TRUE = 1,     /* a boolean field carries its value in its type */
	TH_FALSE = 2,
	TH_BYTE = 3,
	TH_I16 = 4,
	TH_I32 = 5,
	TH_I64 = 6,
	TH_DOUBLE = 7,
	TH_BINARY = 8,
	TH_LIST = 9,
	TH_SET = 10,
	TH_MAP = 11,
	TH_STRUCT = 12,
};

struct nc_thrift {
	const unsigned char *p, *end;
	const unsigned char *base;   /* offsets in messages are counted from here */
	const char *name;            /* what is read, naming the file: starts messages */
	int depth;                   /* struct nesting, bounded against hostile input */
	int err;
};

void nc_thrift_init(struct nc_thrift *r, const unsigned char *p, size_t n,
		    const unsigned char *base, const char *name);
/* Record a decoding error at the current offset; returns -1. */
int nc_thrift_fail(struct nc_thrift *r, const char *what);

uint64_t nc_thrift_varint(struct nc_thrift *r);
int64_t nc_thrift_zigzag(struct nc_thrift *r);   /* i16, i32, i64 */
int32_t nc_thrift_i32(struct nc_thrift *r);
double nc_thrift_double(struct nc_thrift *r);
/* A binary or string: a pointer into the buffer and its length. */
const unsigned char *nc_thrift_binary(struct nc_thrift *r, size_t *len);
/* A newly allocated NUL-terminated copy of a string field. */
char *nc_thrift_string(struct nc_thrift *r);

/* Fields of a struct. Each struct keeps its own last field id (start it
 * at 0). Returns the field's type, or TH_STOP at the end (or on error). */
int nc_thrift_field(struct nc_thrift *r, int16_t *last_id, int16_t *id);
/* A list or set header: element type and count. The count is checked
 * against the bytes left (every element takes at least one). */
int nc_thrift_list(struct nc_thrift *r, int *elem_type, size_t *count);
/* Value of a boolean field (its type) or a boolean list element. */
int nc_thrift_bool(struct nc_thrift *r, int type);
/* Enter and leave a nested struct (bounds the nesting depth). */
int nc_thrift_enter(struct nc_thrift *r);
void nc_thrift_leave(struct nc_thrift *r);

/* Skip a value of the given type (unknown fields). */
void nc_thrift_skip(struct nc_thrift *r, int type);

#endif
