#include "docs.h"
#include "csv.h"
#include "err.h"
#include "mem.h"
#include "parquet/parquet.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BLOCK (1 << 20)
/* A file smaller than READ_BLOCK is read in blocks of SMALL_BLOCK: the
 * buffers are then ordinary heap blocks, where two 1 MiB ones per file
 * (libarchive's and ours) cost more than reading a short file does. */
#define SMALL_BLOCK (1 << 16)

static void batch_source(struct nc_batch *b, const char *name)
{
	if (b->nsources && strcmp(b->sources[b->nsources - 1], name) == 0)
		return;
	nc_xgrow(&b->sources, &b->scap, b->nsources + 1, sizeof *b->sources);
	b->sources[b->nsources++] = nc_xstrdup(name);
}

static void batch_add(struct nc_batch *b, const unsigned char *s, size_t n, uint64_t line, int json)
{
	nc_xgrow(&b->data, &b->cap, b->len + n + 1, 1);
	memcpy(b->data + b->len, s, n);
	nc_xgrow(&b->recs, &b->rcap, b->n + 1, sizeof *b->recs);
	b->recs[b->n++] = (struct nc_rec){b->len, n, (uint32_t)(b->nsources - 1), line, json, NULL, 0};
	b->len += n;
	b->data[b->len] = 0;
}

void nc_batch_reset(struct nc_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->recs[i].obj)
			json_decref(b->recs[i].obj);
	for (size_t i = 0; i < b->nsources; i++)
		free(b->sources[i]);
	b->len = b->n = b->nsources = 0;
}

void nc_batch_free(struct nc_batch *b)
{
	nc_batch_reset(b);
	free(b->data);
	free(b->recs);
	free(b->sources);
	memset(b, 0, sizeof *b);
}

int nc_docs_format_named(const char *name)
{
	static const struct {
		const char *name;
		int format;
	} f[] = {{"auto", NC_DOCS_AUTO}, {"jsonl", NC_DOCS_JSONL}, {"text", NC_DOCS_TEXT},
		 {"lines", NC_DOCS_LINES}, {"parquet", NC_DOCS_PARQUET}, {"csv", NC_DOCS_CSV}};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (strcmp(name, f[i].name) == 0)
			return f[i].format;
	return nc_fail("--format: '%s' is not auto, jsonl, text, lines, parquet or csv", name);
}

int nc_docs_open(struct nc_docs *d, const char *path, int format, const char *field)
{
	memset(d, 0, sizeof *d);
	d->field = field;
	int from_stdin = !path || strcmp(path, "-") == 0;
	d->path = nc_xstrdup(from_stdin ? "(stdin)" : path);
	char *hash = from_stdin ? NULL : strrchr(d->path, '#');
	if (hash && access(d->path, F_OK) != 0) {
		d->member = nc_xstrdup(hash + 1);
		*hash = 0;
		path = d->path;
	}
	d->format = format;
	d->a = archive_read_new();
	archive_read_support_filter_all(d->a);
	archive_read_support_format_tar(d->a);
	archive_read_support_format_zip(d->a);
	archive_read_support_format_7zip(d->a);
	archive_read_support_format_cpio(d->a);
	archive_read_support_format_empty(d->a);
	archive_read_support_format_raw(d->a);
	struct stat st;
	d->block = !from_stdin && stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < READ_BLOCK
		   ? SMALL_BLOCK : READ_BLOCK;
	int r = from_stdin ? archive_read_open_fd(d->a, 0, d->block)
			   : archive_read_open_filename(d->a, path, d->block);
	if (r != ARCHIVE_OK) {
		/* libarchive's own text repeats the path ("Failed to open
		   'x'"); the system's reason says why, once. */
		int e = archive_errno(d->a);
		nc_fail("%s: %s", d->path, e > 0 ? strerror(e) : archive_error_string(d->a));
		nc_docs_close(d);
		return -1;
	}
	return 0;
}

static void end_table(struct nc_docs *d)
{
	for (size_t i = d->row; i < d->nrows; i++)
		json_decref(d->rows[i]);
	free(d->rows);
	d->rows = NULL;
	d->nrows = d->row = 0;
	if (d->pq) {
		nc_parquet_close(d->pq);
		free(d->pq);
		d->pq = NULL;
	}
	if (d->csv) {
		nc_csv_free(d->csv);
		free(d->csv);
		d->csv = NULL;
	}
	if (d->array) {
		json_decref(d->array);
		d->array = NULL;
	}
}

void nc_docs_close(struct nc_docs *d)
{
	end_table(d);
	if (d->a)
		archive_read_free(d->a);
	free(d->path);
	free(d->member);
	free(d->entry);
	free(d->buf);
	memset(d, 0, sizeof *d);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int compressed_name(const char *name)
{
	static const char *const comp[] = {".gz", ".zst", ".xz", ".bz2", ".lz4", ".zstd"};
	for (size_t i = 0; i < sizeof comp / sizeof comp[0]; i++)
		if (name && ends_with(name, comp[i]))
			return 1;
	return 0;
}

/* The format a name says (compression suffixes aside), or NC_DOCS_AUTO. */
static int named_format(const char *name)
{
	char *s = nc_xstrdup(name);
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 32;
	static const char *const comp[] = {".gz", ".zst", ".xz", ".bz2", ".lz4", ".zstd"};
	for (size_t i = 0; i < sizeof comp / sizeof comp[0]; i++) {
		size_t n = strlen(s), k = strlen(comp[i]);
		if (n > k && strcmp(s + n - k, comp[i]) == 0)
			s[n - k] = 0;
	}
	int f = NC_DOCS_AUTO;
	if (ends_with(s, ".jsonl") || ends_with(s, ".json") || ends_with(s, ".ndjson"))
		f = NC_DOCS_JSONL;
	else if (ends_with(s, ".parquet"))
		f = NC_DOCS_PARQUET;
	else if (ends_with(s, ".csv"))
		f = NC_DOCS_CSV;
	free(s);
	return f;
}

/* Read more of the current entry into d->buf. Returns bytes read, 0 at the
 * entry's end, -1 on error. */
static long fill(struct nc_docs *d)
{
	if (d->entry_eof)
		return 0;
	if (d->pos > 0 && d->pos == d->len) {
		d->pos = d->len = 0;
	} else if (d->pos > (1 << 22)) {
		memmove(d->buf, d->buf + d->pos, d->len - d->pos);
		d->len -= d->pos;
		d->pos = 0;
	}
	nc_xgrow(&d->buf, &d->cap, d->len + d->block + 1, 1);
	la_ssize_t got = archive_read_data(d->a, d->buf + d->len, d->block);
	if (got < 0)
		return nc_fail("%s: %s", d->entry, archive_error_string(d->a));
	if (got == 0)
		d->entry_eof = 1;
	d->len += got;
	d->bytes_in += got;
	return got;
}

/* Move to the next regular-file entry. Returns 1, 0 at the end, -1. */
static int next_entry(struct nc_docs *d)
{
	struct archive_entry *e;
	for (;;) {
		int r = archive_read_next_header(d->a, &e);
		if (r == ARCHIVE_EOF) {
			if (d->member && !d->found)
				return nc_fail("%s: no member %s", d->path, d->member);
			return 0;
		}
		if (r < ARCHIVE_WARN)
			return nc_fail("%s: %s", d->path, archive_error_string(d->a));
		d->raw = archive_format(d->a) == ARCHIVE_FORMAT_RAW;
		if (!d->raw && archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (d->member && (d->raw || strcmp(archive_entry_pathname(e), d->member) != 0))
			continue;
		d->found++;
		if (!d->raw && compressed_name(archive_entry_pathname(e)))
			return nc_fail("%s: member %s is compressed; nc does not read compressed members of archives",
				       d->path, archive_entry_pathname(e));
		break;
	}
	free(d->entry);
	if (d->raw) {
		d->entry = nc_xstrdup(d->path);
	} else {
		const char *m = archive_entry_pathname(e);
		size_t n = strlen(d->path) + strlen(m ? m : "?") + 2;
		d->entry = nc_xmalloc(n);
		snprintf(d->entry, n, "%s:%s", d->path, m ? m : "?");
	}
	d->pos = d->len = 0;
	d->entry_eof = 0;
	d->line = 0;
	d->records = 0;
	d->entry_format = d->format;
	if (d->format == NC_DOCS_AUTO) {
		const char *name = d->raw ? d->path : archive_entry_pathname(e);
		int named = name ? named_format(name) : NC_DOCS_AUTO;
		if (named != NC_DOCS_AUTO) {
			d->entry_format = named;
		} else {
			/* Sniff the first non-blank byte. */
			size_t i = 0;
			for (;;) {
				while (i < d->len && (d->buf[i] == ' ' || d->buf[i] == '\t' ||
						      d->buf[i] == '\n' || d->buf[i] == '\r'))
					i++;
				if (i < d->len || d->entry_eof)
					break;
				if (fill(d) < 0)
					return -1;
			}
			while (d->len < 4 && !d->entry_eof)
				if (fill(d) < 0)
					return -1;
			if (d->len >= 4 && memcmp(d->buf, "PAR1", 4) == 0)
				d->entry_format = NC_DOCS_PARQUET;
			else
				d->entry_format = i < d->len && (d->buf[i] == '{' || d->buf[i] == '[')
							  ? NC_DOCS_JSONL : NC_DOCS_TEXT;
		}
	}
	d->in_entry = 1;
	return 1;
}

/* Next line of the current entry (without its '\n'); 1, 0 at end, -1. */
static int next_line(struct nc_docs *d, const unsigned char **s, size_t *n)
{
	for (;;) {
		unsigned char *start = d->buf ? d->buf + d->pos : NULL;
		unsigned char *nl = d->len > d->pos ? memchr(start, '\n', d->len - d->pos) : NULL;
		if (nl) {
			*s = start;
			*n = nl - start;
			d->pos += *n + 1;
			d->line++;
			return 1;
		}
		long got = fill(d);
		if (got < 0)
			return -1;
		if (got == 0) {
			if (d->pos == d->len)
				return 0;
			*s = d->buf + d->pos;
			*n = d->len - d->pos;
			d->pos = d->len;
			d->line++;
			return 1;
		}
	}
}

static void batch_add_obj(struct nc_batch *b, json_t *obj, uint64_t number, int row)
{
	nc_xgrow(&b->recs, &b->rcap, b->n + 1, sizeof *b->recs);
	b->recs[b->n++] = (struct nc_rec){b->len, 0, (uint32_t)(b->nsources - 1), number, 0, obj, row};
}

/* Read the whole entry: tables are not streamed. */
static int slurp(struct nc_docs *d)
{
	long got;
	while ((got = fill(d)) > 0)
		;
	return got < 0 ? -1 : 0;
}

static int start_table(struct nc_docs *d)
{
	if (slurp(d) != 0)
		return -1;
	if (d->entry_format == NC_DOCS_PARQUET) {
		d->pq = nc_xcalloc(1, sizeof *d->pq);
		if (nc_parquet_open(d->pq, d->buf + d->pos, d->len - d->pos, d->entry) != 0) {
			free(d->pq);
			d->pq = NULL;
			return -1;
		}
	} else {
		d->csv = nc_xcalloc(1, sizeof *d->csv);
		nc_csv_init(d->csv, d->entry, (const char *)d->buf + d->pos, d->len - d->pos);
	}
	d->rg = 0;
	d->rows_before = 0;
	return 0;
}

/* The next row of the current table entry as JSON: 1, 0 at its end, -1. */
static int next_row(struct nc_docs *d, json_t **row, uint64_t *number)
{
	if (d->array) {
		if (d->row == json_array_size(d->array))
			return 0;
		*row = json_incref(json_array_get(d->array, d->row));
		*number = ++d->row;
		return 1;
	}
	if (d->csv) {
		int r = nc_csv_next(d->csv);
		if (r <= 0)
			return r;
		json_t *o = json_object();
		for (size_t i = 0; i < d->csv->nf; i++) {
			char key[24];
			snprintf(key, sizeof key, "%zu", i);
			json_object_set_new(o, key, json_stringn(d->csv->f[i].s, d->csv->f[i].len));
		}
		*row = o;
		*number = d->csv->record_line;
		return 1;
	}
	while (d->row == d->nrows) {
		d->rows_before += d->nrows;
		free(d->rows);
		d->rows = NULL;
		d->nrows = d->row = 0;
		if (d->rg == nc_parquet_num_row_groups(d->pq))
			return 0;
		const char *fields[1] = {d->field};
		if (nc_parquet_read_rows(d->pq, d->rg++, fields, d->field ? 1 : 0, (json_t ***)&d->rows,
					 &d->nrows) != 0)
			return -1;
	}
	*number = d->rows_before + d->row + 1;
	*row = d->rows[d->row++];
	return 1;
}

/* Rows of a table entry into b; returns rows added or -1. */
static long read_table(struct nc_docs *d, struct nc_batch *b, size_t max_bytes)
{
	if (!d->pq && !d->csv && !d->array && start_table(d) != 0)
		return -1;
	long added = 0;
	size_t bytes = 0;
	while (bytes < max_bytes) {
		json_t *row;
		uint64_t number;
		int r = next_row(d, &row, &number);
		if (r < 0)
			return -1;
		if (r == 0) {
			end_table(d);
			d->in_entry = 0;
			break;
		}
		batch_add_obj(b, row, number, d->pq || d->array);
		json_t *v = d->field ? json_object_get(row, d->field) : NULL;
		bytes += 64 + (json_is_string(v) ? json_string_length(v) : 1024);
		added++;
	}
	return added;
}

/* A JSON Lines entry that opens with a lone "[" line is one pretty-printed
 * JSON array (a .json export, as Hugging Face's datasets writes them and
 * reads them back): read it whole; its elements are the records, served as
 * table rows. The line starts at `at` in the buffer. */
static int start_array(struct nc_docs *d, size_t at)
{
	uint64_t line = d->line;
	d->pos = at;
	if (slurp(d) != 0)
		return -1;
	json_error_t err;
	json_t *a = json_loadb((const char *)d->buf + d->pos, d->len - d->pos, JSON_ALLOW_NUL, &err);
	d->pos = d->len;
	if (!a)
		return nc_fail("%s:%llu: malformed JSON at column %d: %s", d->entry,
			       (unsigned long long)(line + err.line - 1), err.column, err.text);
	if (!json_is_array(a)) {
		json_decref(a);
		return nc_fail("%s:%llu: not a JSON array", d->entry, (unsigned long long)line);
	}
	d->array = a;
	d->row = 0;
	return 0;
}

static int lone_bracket(const unsigned char *s, size_t n)
{
	size_t i = 0, k = n;
	while (i < k && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (k > i && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\r'))
		k--;
	return k == i + 1 && s[i] == '[';
}

long nc_docs_read(struct nc_docs *d, struct nc_batch *b, size_t max_bytes)
{
	long added = 0;
	size_t start = b->len;
	while (!d->done && (added == 0 || b->len - start < max_bytes)) {
		if (!d->in_entry) {
			int r = next_entry(d);
			if (r < 0)
				return -1;
			if (r == 0) {
				d->done = 1;
				break;
			}
		}
		batch_source(b, d->entry);
		if (d->entry_format == NC_DOCS_PARQUET || d->entry_format == NC_DOCS_CSV || d->array) {
			long got = read_table(d, b, max_bytes);
			if (got < 0)
				return -1;
			added += got;
			if (d->in_entry)
				break;
			continue;
		}
		if (d->entry_format == NC_DOCS_TEXT) {
			long got;
			while ((got = fill(d)) > 0)
				;
			if (got < 0)
				return -1;
			/* An empty file is no document, inside an archive too. */
			if (d->len > d->pos) {
				batch_add(b, d->buf + d->pos, d->len - d->pos, 0, 0);
				added++;
			}
			d->pos = d->len;
			d->in_entry = 0;
			continue;
		}
		const unsigned char *s;
		size_t n;
		int r = next_line(d, &s, &n);
		if (r < 0)
			return -1;
		if (r == 0) {
			d->in_entry = 0;
			continue;
		}
		int json = d->entry_format == NC_DOCS_JSONL;
		if (json) {
			/* Blank lines between JSON records are allowed. */
			size_t i = 0;
			while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
				i++;
			if (i == n)
				continue;
			if (d->records == 0 && lone_bracket(s, n)) {
				if (start_array(d, (size_t)(s - d->buf)) != 0)
					return -1;
				continue;
			}
		}
		d->records++;
		batch_add(b, s, n, d->line, json);
		added++;
	}
	return added;
}

int nc_rec_text(const struct nc_batch *b, const struct nc_rec *r, const char *field,
		const unsigned char **text, size_t *len, unsigned char **own)
{
	*own = NULL;
	if (!r->json && !r->obj) {
		*text = b->data + r->off;
		*len = r->len;
		return 0;
	}
	json_t *root;
	if (nc_rec_json(b, r, (void **)&root) != 0)
		return -1;
	json_t *v = json_is_object(root) ? json_object_get(root, field) : NULL;
	if (!v || !json_is_string(v)) {
		char where[600];
		nc_rec_where(b, r, where, sizeof where);
		json_decref(root);
		return nc_fail("%s: no \"%s\" string in this record", where, field);
	}
	size_t n = json_string_length(v);
	unsigned char *copy = nc_xmalloc(n + 1);
	memcpy(copy, json_string_value(v), n);
	copy[n] = 0;
	json_decref(root);
	*own = copy;
	*text = copy;
	*len = n;
	return 0;
}

int nc_rec_json(const struct nc_batch *b, const struct nc_rec *r, void **json)
{
	if (r->obj) {
		*json = json_incref(r->obj);
		return 0;
	}
	if (!r->json)
		return nc_fail("%s: plain text where JSON records were expected", b->sources[r->source]);
	json_error_t err;
	json_t *root = json_loadb((const char *)b->data + r->off, r->len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
	if (!root)
		return nc_fail("%s:%llu: malformed JSON at column %d: %s", b->sources[r->source],
			       (unsigned long long)r->line, err.column, err.text);
	*json = root;
	return 0;
}

void nc_rec_where(const struct nc_batch *b, const struct nc_rec *r, char *buf, size_t n)
{
	snprintf(buf, n, r->row ? "%s: row %llu" : "%s:%llu", b->sources[r->source],
		 (unsigned long long)r->line);
}
