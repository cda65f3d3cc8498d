/* A Parquet reader, written from the format specification: the footer, the
 * schema tree, row groups, pages (v1 and v2, dictionary and plain, with
 * UNCOMPRESSED, SNAPPY, GZIP and ZSTD codecs), and the assembly of nested
 * values from repetition and definition levels into JSON rows. The file is
 * bytes in memory; only the column chunks of requested fields are read. */
#ifndef NC_PARQUET_H
#define NC_PARQUET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Physical types, repetitions and codecs as the format numbers them. */
enum { NC_PARQUET_BOOLEAN, NC_PARQUET_INT32, NC_PARQUET_INT64, NC_PARQUET_INT96, NC_PARQUET_FLOAT, NC_PARQUET_DOUBLE, NC_PARQUET_BYTE_ARRAY, NC_PARQUET_FIXED };
enum { NC_PARQUET_REQUIRED, NC_PARQUET_OPTIONAL, NC_PARQUET_REPEATED };

/* One schema element. Levels count the optional and repeated nodes from
 * the root down to and including this one. */
struct nc_parquet_node {
	char *name;
	char *path;          /* dotted path from the root, for messages */
	int type;            /* physical type; -1 for a group */
	int type_length;     /* FIXED_LEN_BYTE_ARRAY width */
	int repetition;
	int is_list;         /* annotated LIST (converted or logical type) */
	int list_elem;       /* a well-formed LIST: node of its element, else -1 */
	int nchildren;
	int *children;       /* indices into nc_parquet.nodes */
	int def, rep;        /* max definition and repetition level */
	int column;          /* leaf: column index; group: -1 */
};

struct nc_parquet_chunk {
	int type, codec;
	int has_meta, external;  /* ColumnMetaData present; pages in another file */
	int64_t num_values;
	int64_t start, size;     /* byte range of the pages in the file */
};

struct nc_parquet_rowgroup {
	int64_t num_rows;
	struct nc_parquet_chunk *chunks;   /* one per leaf column */
};

struct nc_parquet {
	const unsigned char *data;
	size_t size;
	char *name;
	struct nc_parquet_node *nodes;     /* nodes[0] is the root */
	int nnodes;
	int *leaves;                  /* node index of each column */
	int ncolumns;
	struct nc_parquet_rowgroup *rgs;
	int nrgs;
	uint64_t num_rows;
	/* Sanity limits against hostile files (set by open; a fuzzer may lower
	 * them): bytes of one decompressed page, decompressed bytes held for
	 * one column chunk, level entries in one chunk. */
	size_t max_page_bytes;
	size_t max_chunk_bytes;
	size_t max_entries;
};

/* Open from bytes in memory (a mapped file or an archive member read
 * whole); name is used in messages. The bytes must stay valid until close. */
int nc_parquet_open(struct nc_parquet *p, const unsigned char *data, size_t size, const char *name);
uint64_t nc_parquet_num_rows(const struct nc_parquet *p);
int nc_parquet_num_row_groups(const struct nc_parquet *p);
/* Decode row group rg, only the named top-level fields (all if nfields is
 * 0), into one JSON object per row. Strings (BYTE_ARRAY) become JSON
 * strings and must be valid UTF-8; INT32/INT64 integers; FLOAT/DOUBLE
 * reals; BOOLEAN booleans; nulls null; lists arrays; groups objects. The
 * caller json_decref()s each row and free()s the array. */
int nc_parquet_read_rows(struct nc_parquet *p, int rg, const char *const *fields, int nfields,
			 json_t ***rows, size_t *nrows);
void nc_parquet_close(struct nc_parquet *p);

/* One decoded column chunk: a level pair per entry, and a value for each
 * entry whose definition level is the column's maximum. Strings point
 * into the file or into page buffers the column owns. */
struct nc_parquet_value {
	const unsigned char *s;
	size_t len;
	int64_t i;
	double d;
};

struct nc_parquet_column {
	uint8_t *rep, *def;
	size_t n, cap;
	struct nc_parquet_value *vals;
	size_t nvals, vcap;
	unsigned char **bufs;         /* decompressed pages kept for the strings */
	size_t nbufs, bcap, buf_bytes;
};

const char *nc_parquet_type_name(int type);
/* Read column chunk `col` of row group `rg` (lib/parquet/parquet_pages.c). */
int nc_parquet_read_column(struct nc_parquet *p, int rg, int col, struct nc_parquet_column *c);
void nc_parquet_column_free(struct nc_parquet_column *c);

#endif
