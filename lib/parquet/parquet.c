/* Parquet files: the footer, the schema tree and row groups (this file),
 * and rows assembled from the decoded columns (lib/parquet/parquet_rows.c). Pages
 * are decoded in lib/parquet/parquet_pages.c. */
#include "parquet.h"
#include "../err.h"
#include "../le.h"
#include "../mem.h"
#include "thrift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA_DEPTH 64   /* levels fit a byte; recursion stays shallow */
#define CONVERTED_LIST 3
#define LOGICAL_LIST 3        /* LogicalType union member */

static const char *const type_names[] = {
	"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY",
};

const char *nc_parquet_type_name(int type)
{
	return type >= 0 && type <= NC_PARQUET_FIXED ? type_names[type] : "unknown";
}

/* ---- FileMetaData ---- */

static int logical_is_list(struct nc_thrift *r)
{
	int16_t last = 0, id;
	int t, list = 0;
	if (nc_thrift_enter(r))
		return 0;
	while ((t = nc_thrift_field(r, &last, &id)) != TH_STOP) {
		list |= id == LOGICAL_LIST;
		nc_thrift_skip(r, t);
	}
	nc_thrift_leave(r);
	return list;
}

static void parse_schema_element(struct nc_thrift *r, struct nc_parquet_node *n)
{
	int16_t last = 0, id;
	int t;
	n->type = -1;
	n->nchildren = -1;
	if (nc_thrift_enter(r))
		return;
	while ((t = nc_thrift_field(r, &last, &id)) != TH_STOP) {
		if (id == 1 && t == TH_I32)
			n->type = nc_thrift_i32(r);
		else if (id == 2 && t == TH_I32)
			n->type_length = nc_thrift_i32(r);
		else if (id == 3 && t == TH_I32)
			n->repetition = nc_thrift_i32(r);
		else if (id == 4 && t == TH_BINARY && !n->name)
			n->name = nc_thrift_string(r);
		else if (id == 5 && t == TH_I32)
			n->nchildren = nc_thrift_i32(r);
		else if (id == 6 && t == TH_I32)
			n->is_list |= nc_thrift_i32(r) == CONVERTED_LIST;
		else if (id == 10 && t == TH_STRUCT)
			n->is_list |= logical_is_list(r);
		else
			nc_thrift_skip(r, t);
	}
	nc_thrift_leave(r);
}

static void parse_schema(struct nc_thrift *r, struct nc_parquet *p)
{
	int elem;
	size_t n;
	if (p->nodes)
		return (void)nc_thrift_fail(r, "schema given twice");
	if (nc_thrift_list(r, &elem, &n))
		return;
	if (elem != TH_STRUCT || n > INT32_MAX)
		return (void)nc_thrift_fail(r, "schema is not a list of elements");
	p->nodes = nc_xcalloc(n, sizeof *p->nodes);
	p->nnodes = (int)n;
	for (size_t i = 0; i < n && !r->err; i++)
		parse_schema_element(r, &p->nodes[i]);
}

static void parse_column_meta(struct nc_thrift *r, struct nc_parquet_chunk *c)
{
	int16_t last = 0, id;
	int t;
	int64_t data_off = -1, dict_off = -1;
	c->has_meta = 1;
	if (nc_thrift_enter(r))
		return;
	while ((t = nc_thrift_field(r, &last, &id)) != TH_STOP) {
		if (id == 1 && t == TH_I32)
			c->type = nc_thrift_i32(r);
		else if (id == 4 && t == TH_I32)
			c->codec = nc_thrift_i32(r);
		else if (id == 5 && t == TH_I64)
			c->num_values = nc_thrift_zigzag(r);
		else if (id == 7 && t == TH_I64)
			c->size = nc_thrift_zigzag(r);
		else if (id == 9 && t == TH_I64)
			data_off = nc_thrift_zigzag(r);
		else if (id == 11 && t == TH_I64)
			dict_off = nc_thrift_zigzag(r);
		else
			nc_thrift_skip(r, t);
	}
	nc_thrift_leave(r);
	/* The pages start with the dictionary page when there is one. */
	c->start = dict_off > 0 && dict_off < data_off ? dict_off : data_off;
}

static void parse_column_chunk(struct nc_thrift *r, struct nc_parquet_chunk *c)
{
	int16_t last = 0, id;
	int t;
	if (nc_thrift_enter(r))
		return;
	while ((t = nc_thrift_field(r, &last, &id)) != TH_STOP) {
		if (id == 1 && t == TH_BINARY) {
			size_t len;
			nc_thrift_binary(r, &len);
			c->external |= len > 0;   /* some writers store an empty path */
		} else if (id == 3 && t == TH_STRUCT)
			parse_column_meta(r, c);
		else
			nc_thrift_skip(r, t);
	}
	nc_thrift_leave(r);
}

static void parse_row_group(struct nc_thrift *r, struct nc_parquet_rowgroup *g, int *nchunks)
{
	int16_t last = 0, id;
	int t, elem;
	size_t n;
	*nchunks = -1;
	if (nc_thrift_enter(r))
		return;
	while ((t = nc_thrift_field(r, &last, &id)) != TH_STOP) {
		if (id == 1 && t == TH_LIST && !g->chunks) {
			if (nc_thrift_list(r, &elem, &n) || elem != TH_STRUCT || n > INT32_MAX) {
				nc_thrift_fail(r, "row group columns are not a list of structs");
				break;
			}
			g->chunks = nc_xcalloc(n, sizeof *g->chunks);
			*nchunks = (int)n;
			for (size_t i = 0; i < n && !r->err; i++)
				parse_column_chunk(r, &g->chunks[i]);
		} else if (id == 3 && t == TH_I64)
			g->num_rows = nc_thrift_zigzag(r);
		else
			nc_thrift_skip(r, t);
	}
	nc_thrift_leave(r);
}


/* Row groups are checked against the schema once both are read. */
static void parse_row_groups(struct nc_thrift *r, struct nc_parquet *p, int **counts)
{
	int elem;
	size_t n;
	if (p->rgs)
		return (void)nc_thrift_fail(r, "row groups given twice");
	if (nc_thrift_list(r, &elem, &n))
		return;
	if (elem != TH_STRUCT || n > INT32_MAX)
		return (void)nc_thrift_fail(r, "row groups are not a list of structs");
	p->rgs = nc_xcalloc(n, sizeof *p->rgs);
	*counts = nc_xcalloc(n, sizeof **counts);
	p->nrgs = (int)n;
	for (size_t i = 0; i < n && !r->err; i++)
		parse_row_group(r, &p->rgs[i], &(*counts)[i]);
}

static int parse_footer(struct nc_parquet *p, const unsigned char *meta, size_t len, int **counts)
{
	struct nc_thrift r;
	char what[600];
	snprintf(what, sizeof what, "%s: file metadata", p->name);
	nc_thrift_init(&r, meta, len, p->data, what);
	int16_t last = 0, id;
	int t;
	int64_t rows = -1;
	while ((t = nc_thrift_field(&r, &last, &id)) != TH_STOP) {
		if (id == 2 && t == TH_LIST)
			parse_schema(&r, p);
		else if (id == 3 && t == TH_I64)
			rows = nc_thrift_zigzag(&r);
		else if (id == 4 && t == TH_LIST)
			parse_row_groups(&r, p, counts);
		else
			nc_thrift_skip(&r, t);
	}
	if (r.err)
		return -1;
	if (!p->nodes || rows < 0 || (!p->rgs && rows > 0))
		return nc_fail("%s: file metadata lacks its schema, row count or row groups", p->name);
	p->num_rows = (uint64_t)rows;
	return 0;
}

/* ---- the schema tree ---- */

static char *child_path(const char *parent, const char *name)
{
	size_t a = strlen(parent), b = strlen(name);
	char *s = nc_xmalloc(a + b + 2);
	memcpy(s, parent, a);
	s[a] = '.';
	memcpy(s + (a ? a + 1 : 0), name, b + 1);
	return s;
}

/* Which node a LIST's values are: its repeated child, or that child's
 * only field (the spec's backward-compatibility rules for old writers). */
static void find_list_element(struct nc_parquet *p, struct nc_parquet_node *n)
{
	n->list_elem = -1;
	if (!n->is_list || n->type >= 0 || n->nchildren != 1)
		return;
	struct nc_parquet_node *r = &p->nodes[n->children[0]];
	if (r->repetition != NC_PARQUET_REPEATED)
		return;
	n->list_elem = n->children[0];
	if (r->type >= 0 || r->nchildren != 1 || strcmp(r->name, "array") == 0)
		return;
	size_t k = strlen(n->name);
	if (strncmp(r->name, n->name, k) == 0 && strcmp(r->name + k, "_tuple") == 0)
		return;
	n->list_elem = r->children[0];
}

static int schema_fail(struct nc_parquet *p, int i, const char *what)
{
	const char *name = p->nodes[i].name ? p->nodes[i].name : "(unnamed)";
	return nc_fail("%s: schema element %d (%s): %s", p->name, i, name, what);
}

/* Build the subtree whose root is element *next; depth bounds recursion. */
static int build_node(struct nc_parquet *p, int *next, int parent, int depth)
{
	if (*next >= p->nnodes)
		return nc_fail("%s: schema ends inside a group", p->name);
	int i = (*next)++;
	struct nc_parquet_node *n = &p->nodes[i], *up = parent >= 0 ? &p->nodes[parent] : NULL;
	if (!n->name)
		n->name = nc_xstrdup("");
	if (depth > MAX_SCHEMA_DEPTH)
		return schema_fail(p, i, "nested too deeply");
	if (up && (n->repetition < NC_PARQUET_REQUIRED || n->repetition > NC_PARQUET_REPEATED))
		return schema_fail(p, i, "bad repetition");
	n->path = up ? child_path(up->path, n->name) : nc_xstrdup("");
	n->def = up ? up->def + (n->repetition != NC_PARQUET_REQUIRED) : 0;
	n->rep = up ? up->rep + (n->repetition == NC_PARQUET_REPEATED) : 0;
	n->column = -1;
	if (n->nchildren < 0 || (up && n->type >= 0 && n->nchildren == 0)) {
		if (!up || n->type < 0)
			return schema_fail(p, i, "neither a group nor a typed leaf");
		if (n->type == NC_PARQUET_FIXED && n->type_length <= 0)
			return schema_fail(p, i, "FIXED_LEN_BYTE_ARRAY without a length");
		n->nchildren = 0;
		n->column = p->ncolumns++;
		return 0;
	}
	n->type = -1;
	if (n->nchildren == 0 || n->nchildren > p->nnodes - *next)
		return schema_fail(p, i, n->nchildren ? "more children than elements" : "a group without fields");
	n->children = nc_xmalloc((size_t)n->nchildren * sizeof *n->children);
	for (int k = 0; k < n->nchildren; k++) {
		n->children[k] = *next;
		if (build_node(p, next, i, depth + 1))
			return -1;
	}
	find_list_element(p, n);
	return 0;
}

static int build_schema(struct nc_parquet *p)
{
	int next = 0;
	if (p->nnodes == 0)
		return nc_fail("%s: empty schema", p->name);
	if (build_node(p, &next, -1, 0))
		return -1;
	if (next != p->nnodes)
		return nc_fail("%s: schema has %d elements outside its tree", p->name, p->nnodes - next);
	p->leaves = nc_xmalloc((size_t)p->ncolumns * sizeof *p->leaves);
	for (int i = 0; i < p->nnodes; i++)
		if (p->nodes[i].column >= 0)
			p->leaves[p->nodes[i].column] = i;
	return 0;
}

/* ---- row groups against the schema and the file ---- */

static int check_chunk(struct nc_parquet *p, int g, int col, size_t meta_start)
{
	const struct nc_parquet_chunk *c = &p->rgs[g].chunks[col];
	const struct nc_parquet_node *leaf = &p->nodes[p->leaves[col]];
	const char *why = NULL;
	if (!c->has_meta)
		why = "no column metadata (encrypted?)";
	else if (c->external)
		why = "pages in another file are not supported";
	else if (c->type != leaf->type)
		why = "physical type differs from the schema";
	else if (c->num_values < 0)
		why = "negative value count";
	/* A chunk of no values is never read; pyarrow writes its data page
	 * offset as 0 for an empty table. */
	else if (c->num_values > 0 && (c->start < 4 || c->size < 0 || (uint64_t)c->start > meta_start ||
				       (uint64_t)c->size > meta_start - (uint64_t)c->start))
		why = "pages lie outside the file (truncated?)";
	if (why)
		return nc_fail("%s: row group %d: column %s: %s", p->name, g, leaf->path, why);
	return 0;
}

static int check_row_groups(struct nc_parquet *p, const int *counts, size_t meta_start)
{
	for (int g = 0; g < p->nrgs; g++) {
		if (counts[g] != p->ncolumns)
			return nc_fail("%s: row group %d has %d columns, the schema %d", p->name, g, counts[g],
				       p->ncolumns);
		if (p->rgs[g].num_rows < 0)
			return nc_fail("%s: row group %d: negative row count", p->name, g);
		for (int c = 0; c < p->ncolumns; c++)
			if (check_chunk(p, g, c, meta_start))
				return -1;
	}
	return 0;
}

/* ---- open and close ---- */

static int read_footer(struct nc_parquet *p)
{
	const unsigned char *d = p->data;
	size_t n = p->size;
	if (n < 4 || memcmp(d, "PAR1", 4) != 0)
		return nc_fail("%s: not a parquet file (no PAR1 magic at the start)", p->name);
	if (n >= 8 && memcmp(d + n - 4, "PARE", 4) == 0)
		return nc_fail("%s: encrypted parquet files are not supported", p->name);
	if (n < 12 || memcmp(d + n - 4, "PAR1", 4) != 0)
		return nc_fail("%s: truncated parquet file (no PAR1 magic at the end, %zu bytes)", p->name, n);
	size_t len = le32(d + n - 8);
	if (len > n - 12)
		return nc_fail("%s: footer of %zu bytes overruns the file (%zu bytes)", p->name, len, n);
	size_t meta_start = n - 8 - len;
	int *counts = NULL;
	int rc = parse_footer(p, d + meta_start, len, &counts);
	if (rc == 0)
		rc = build_schema(p);
	if (rc == 0)
		rc = check_row_groups(p, counts, meta_start);
	free(counts);
	return rc;
}

int nc_parquet_open(struct nc_parquet *p, const unsigned char *data, size_t size, const char *name)
{
	memset(p, 0, sizeof *p);
	p->data = data;
	p->size = size;
	p->name = nc_xstrdup(name ? name : "(parquet)");
	p->max_page_bytes = (size_t)1 << 30;
	p->max_chunk_bytes = (size_t)1 << 36;
	p->max_entries = (size_t)1 << 30;
	if (read_footer(p)) {
		nc_parquet_close(p);
		return -1;
	}
	return 0;
}

uint64_t nc_parquet_num_rows(const struct nc_parquet *p)
{
	return p->num_rows;
}

int nc_parquet_num_row_groups(const struct nc_parquet *p)
{
	return p->nrgs;
}

void nc_parquet_close(struct nc_parquet *p)
{
	for (int i = 0; i < p->nnodes; i++) {
		free(p->nodes[i].name);
		free(p->nodes[i].path);
		free(p->nodes[i].children);
	}
	free(p->nodes);
	free(p->leaves);
	for (int g = 0; g < p->nrgs; g++)
		free(p->rgs[g].chunks);
	free(p->rgs);
	free(p->name);
	memset(p, 0, sizeof *p);
}
