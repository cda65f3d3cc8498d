/* Document input: document streams (JSONL with a text field) and plain
 * text, from files or stdin, compressed or inside archives (through
 * libarchive: .gz, .zst, .xz, .bz2, .tar, .zip, ...). Records are read in
 * batches so that parsing and the work on them can run on all cores while
 * order is kept. */
#ifndef NC_DOCS_H
#define NC_DOCS_H

#include <stddef.h>
#include <stdint.h>

enum nc_docs_format {
	NC_DOCS_AUTO,   /* by name (.jsonl .json .ndjson .parquet .csv), else by content:
			 * "PAR1" Parquet, a leading '{' or '[' JSONL, else text */
	NC_DOCS_JSONL,  /* one JSON object a line, text in a field; an entry whose
			 * first line is a lone "[" is one JSON array of records */
	NC_DOCS_TEXT,   /* one file (or archive member) = one document */
	NC_DOCS_LINES,  /* one line = one document */
	NC_DOCS_PARQUET,/* rows of a Parquet file (found by name or by its magic) */
	NC_DOCS_CSV,    /* records of an RFC 4180 CSV file, fields named "0", "1", ... */
};

/* One record: a raw line or file, not yet parsed. */
struct nc_rec {
	size_t off, len;      /* in the batch's data */
	uint32_t source;      /* index into the batch's source names */
	uint64_t line;        /* 1-based line, or row (0 for whole files) */
	int json;
	void *obj;            /* an already parsed record (json_t *), or NULL */
	int row;              /* line is a table row number (Parquet), not a line */
};

struct nc_batch {
	unsigned char *data;
	size_t len, cap;
	struct nc_rec *recs;
	size_t n, rcap;
	char **sources;
	size_t nsources, scap;
};

struct archive;
struct nc_parquet;
struct nc_csv;

struct nc_docs {
	char *path;           /* operand as named in messages */
	int format;
	struct archive *a;
	int raw;              /* input is not an archive: one entry, named path */
	char *entry;          /* current entry's name for messages */
	int entry_format;     /* resolved format of the current entry */
	int in_entry, done;
	uint64_t line;
	unsigned char *buf;   /* unconsumed bytes of the current entry */
	size_t len, pos, cap;
	int entry_eof;
	size_t block;         /* bytes asked of libarchive per read */
	uint64_t bytes_in;    /* bytes read so far (decompressed) */
	const char *field;    /* the one field tables need to decode; NULL: all */
	char *member;         /* "archive#member": read only this member */
	int found;            /* entries read (for a missing member) */
	/* A table entry (Parquet, CSV), read whole, then served row by row. */
	struct nc_parquet *pq;
	int rg;
	void **rows;          /* json_t * of the current row group */
	size_t nrows, row;
	uint64_t rows_before; /* rows of earlier row groups */
	struct nc_csv *csv;
	void *array;          /* a JSON array entry (json_t *), served row by row */
	uint64_t records;     /* records read from the current entry */
};

/* The format named auto, jsonl, text, lines, parquet or csv (a --format
 * value); -1 with a message for any other name. */
int nc_docs_format_named(const char *name);

/* field: the field tables (Parquet) need to decode, NULL for all. A path
 * "ARCHIVE#MEMBER" that names no file reads one member of ARCHIVE. */
int nc_docs_open(struct nc_docs *d, const char *path, int format, const char *field);
/* Append records to b until about max_bytes are held (at least one
 * record). Returns the number of records added, 0 at the end, -1 on error. */
long nc_docs_read(struct nc_docs *d, struct nc_batch *b, size_t max_bytes);
void nc_docs_close(struct nc_docs *d);

void nc_batch_reset(struct nc_batch *b);
void nc_batch_free(struct nc_batch *b);

/* The text of a record: for JSON, the string in `field` (decoded into a
 * new buffer *own that the caller frees); for text, the bytes in place
 * (*own = NULL). Thread-safe. On error returns -1 with a message naming
 * source and line. */
int nc_rec_text(const struct nc_batch *b, const struct nc_rec *r, const char *field,
		const unsigned char **text, size_t *len, unsigned char **own);
/* Where a record is, for messages: "file:LINE", or "file: row N" for
 * table rows. */
void nc_rec_where(const struct nc_batch *b, const struct nc_rec *r, char *buf, size_t n);
/* The record as a JSON value (json_t *, a new reference the caller
 * releases); text records are an error. Thread-safe. */
int nc_rec_json(const struct nc_batch *b, const struct nc_rec *r, void **json);

#endif
