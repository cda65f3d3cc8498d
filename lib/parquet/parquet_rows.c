/* Parquet rows: nested values put back together from the repetition and
 * definition levels of their leaf columns (the Dremel record assembly).
 *
 * Every leaf under a node holds one entry per instance of that node, so a
 * node's state at the current position can be read from its first leaf:
 * a definition level below the node's own means it is null (or an empty
 * list), and a repetition level equal to a repeated node's own means one
 * more element of that list follows. Reading a node consumes exactly its
 * entries from every leaf beneath it. */
#include "parquet.h"
#include "../err.h"
#include "../mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	struct nc_parquet_column col;
	size_t i, v;          /* next entry, next value */
	int loaded;
};

struct assembly {
	struct nc_parquet *p;
	int rg;
	struct cursor *cur;   /* one per column; only the selected are loaded */
	size_t row;
	int err;
};

static int row_fail(struct assembly *a, const struct nc_parquet_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int row_fail(struct assembly *a, const struct nc_parquet_node *n, const char *fmt, ...)
{
	if (a->err)
		return -1;   /* keep the first message */
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	a->err = 1;
	return nc_fail("%s: row group %d: column %s: row %zu: %s", a->p->name, a->rg, n->path, a->row, what);
}

static const struct nc_parquet_node *node(struct assembly *a, int i)
{
	return &a->p->nodes[i];
}

static struct cursor *first_leaf(struct assembly *a, int i)
{
	while (node(a, i)->column < 0)
		i = node(a, i)->children[0];
	return &a->cur[node(a, i)->column];
}

static int peek_def(struct assembly *a, int i)
{
	struct cursor *c = first_leaf(a, i);
	if (c->i >= c->col.n) {
		row_fail(a, node(a, i), "levels run out");
		return 0;
	}
	return c->col.def[c->i];
}

/* Consume the one entry each leaf under an undefined node holds. */
static void skip_undefined(struct assembly *a, int i)
{
	const struct nc_parquet_node *n = node(a, i);
	if (n->column < 0) {
		for (int k = 0; k < n->nchildren; k++)
			skip_undefined(a, n->children[k]);
		return;
	}
	struct cursor *c = &a->cur[n->column];
	if (c->i >= c->col.n)
		row_fail(a, n, "levels run out");
	else if (c->col.def[c->i] == n->def)
		row_fail(a, n, "a value under an undefined parent (columns disagree)");
	else
		c->i++;
}

static json_t *leaf_json(struct assembly *a, const struct nc_parquet_node *n, const struct nc_parquet_value *v)
{
	json_t *j = NULL;
	switch (n->type) {
	case NC_PARQUET_BYTE_ARRAY:
	case NC_PARQUET_FIXED:
		if (!(j = json_stringn((const char *)v->s, v->len)))
			row_fail(a, n, "string is not valid UTF-8");
		return j;
	case NC_PARQUET_BOOLEAN:
		return json_boolean(v->i);
	case NC_PARQUET_INT32:
	case NC_PARQUET_INT64:
		return json_integer(v->i);
	default:
		if (!(j = json_real(v->d)))
			row_fail(a, n, "%g cannot be written in JSON", v->d);
		return j;
	}
}

static json_t *leaf_value(struct assembly *a, int i)
{
	const struct nc_parquet_node *n = node(a, i);
	struct cursor *c = &a->cur[n->column];
	if (c->i >= c->col.n) {
		row_fail(a, n, "levels run out");
		return NULL;
	}
	if (c->col.def[c->i] != n->def) {
		row_fail(a, n, "definition level %d where the value must be present", c->col.def[c->i]);
		return NULL;
	}
	if (c->v >= c->col.nvals) {
		row_fail(a, n, "values run out");
		return NULL;
	}
	c->i++;
	return leaf_json(a, n, &c->col.vals[c->v++]);
}

static json_t *field_value(struct assembly *a, int i);
static json_t *node_value(struct assembly *a, int i);

/* The elements of repeated node r, each read as node e. */
static json_t *list_value(struct assembly *a, int r, int e)
{
	json_t *arr = json_array();
	if (peek_def(a, r) < node(a, r)->def) {
		skip_undefined(a, r);   /* an empty list */
		return arr;
	}
	int level = node(a, r)->rep;
	struct cursor *c = first_leaf(a, r);
	do {
		json_t *v = e == r ? node_value(a, r) : field_value(a, e);
		if (!v) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, v);
	} while (!a->err && c->i < c->col.n && c->col.rep[c->i] == level);
	return arr;
}

static json_t *group_value(struct assembly *a, int i)
{
	const struct nc_parquet_node *n = node(a, i);
	if (n->list_elem >= 0)
		return list_value(a, n->children[0], n->list_elem);
	json_t *obj = json_object();
	for (int k = 0; k < n->nchildren; k++) {
		const struct nc_parquet_node *f = node(a, n->children[k]);
		json_t *v = field_value(a, n->children[k]);
		if (!v || json_object_set_new(obj, f->name, v)) {
			if (v)
				row_fail(a, f, "field name is not valid UTF-8");
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

/* A node's value at the current position, its own repetition aside. */
static json_t *node_value(struct assembly *a, int i)
{
	const struct nc_parquet_node *n = node(a, i);
	if (n->repetition == NC_PARQUET_OPTIONAL && peek_def(a, i) < n->def) {
		skip_undefined(a, i);
		return a->err ? NULL : json_null();
	}
	if (a->err)
		return NULL;
	return n->column >= 0 ? leaf_value(a, i) : group_value(a, i);
}

static json_t *field_value(struct assembly *a, int i)
{
	return node(a, i)->repetition == NC_PARQUET_REPEATED ? list_value(a, i, i) : node_value(a, i);
}

/* ---- selecting fields and loading their columns ---- */

static int find_field(struct nc_parquet *p, const char *name)
{
	const struct nc_parquet_node *root = &p->nodes[0];
	for (int k = 0; k < root->nchildren; k++)
		if (strcmp(p->nodes[root->children[k]].name, name) == 0)
			return root->children[k];
	return -1;
}

static int missing_field(struct nc_parquet *p, const char *name)
{
	char list[512] = "";
	size_t len = 0;
	const struct nc_parquet_node *root = &p->nodes[0];
	for (int k = 0; k < root->nchildren && len < sizeof list; k++)
		len += snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "",
				p->nodes[root->children[k]].name);
	return nc_fail("%s: no field \"%s\" (fields: %s)", p->name, name, list);
}

/* Resolve the requested names to top-level nodes, each once. */
static int select_fields(struct nc_parquet *p, const char *const *names, int nnames, int **out, int *nout)
{
	const struct nc_parquet_node *root = &p->nodes[0];
	int n = nnames ? nnames : root->nchildren;
	int *sel = nc_xmalloc((size_t)n * sizeof *sel), k = 0;
	for (int j = 0; j < n; j++) {
		int f = nnames ? find_field(p, names[j]) : root->children[j];
		if (f < 0) {
			free(sel);
			return missing_field(p, names[j]);
		}
		int dup = 0;
		for (int m = 0; m < k && nnames; m++)
			dup |= sel[m] == f;
		if (!dup)
			sel[k++] = f;
	}
	*out = sel;
	*nout = k;
	return 0;
}

static int load_columns(struct assembly *a, int i)
{
	const struct nc_parquet_node *n = node(a, i);
	if (n->column < 0) {
		for (int k = 0; k < n->nchildren; k++)
			if (load_columns(a, n->children[k]))
				return -1;
		return 0;
	}
	if (n->type == NC_PARQUET_INT96 || n->type < 0 || n->type > NC_PARQUET_FIXED)
		return nc_fail("%s: column %s: unsupported physical type %s (%d)", a->p->name, n->path,
			       nc_parquet_type_name(n->type), n->type);
	struct cursor *c = &a->cur[n->column];
	if (nc_parquet_read_column(a->p, a->rg, n->column, &c->col))
		return -1;
	c->loaded = 1;
	return 0;
}

/* Every loaded column must hold one level-0 entry per row. */
static int check_row_count(struct assembly *a)
{
	int64_t want = a->p->rgs[a->rg].num_rows;
	for (int k = 0; k < a->p->ncolumns; k++) {
		struct cursor *c = &a->cur[k];
		if (!c->loaded)
			continue;
		size_t rows = 0;
		for (size_t i = 0; i < c->col.n; i++)
			rows += c->col.rep[i] == 0;
		if (c->col.n && c->col.rep[0] != 0)
			rows = SIZE_MAX;
		if ((int64_t)rows != want)
			return nc_fail("%s: row group %d: column %s: levels make %zu rows, the row group has %lld",
				       a->p->name, a->rg, node(a, a->p->leaves[k])->path, rows, (long long)want);
	}
	return 0;
}

/* After the last row every entry and value of every column is used. */
static int check_consumed(struct assembly *a)
{
	for (int k = 0; k < a->p->ncolumns; k++) {
		struct cursor *c = &a->cur[k];
		if (c->loaded && (c->i != c->col.n || c->v != c->col.nvals))
			return nc_fail("%s: row group %d: column %s: %zu entries and %zu values left over",
				       a->p->name, a->rg, node(a, a->p->leaves[k])->path, c->col.n - c->i,
				       c->col.nvals - c->v);
	}
	return 0;
}

static json_t *row_value(struct assembly *a, const int *sel, int nsel)
{
	json_t *obj = json_object();
	for (int k = 0; k < nsel; k++) {
		json_t *v = field_value(a, sel[k]);
		if (!v || json_object_set_new(obj, node(a, sel[k])->name, v)) {
			if (v)
				row_fail(a, node(a, sel[k]), "field name is not valid UTF-8");
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static int assemble(struct assembly *a, const int *sel, int nsel, json_t ***rows, size_t *nrows)
{
	size_t n = (size_t)a->p->rgs[a->rg].num_rows;
	json_t **out = nc_xmalloc(n * sizeof *out);
	for (a->row = 0; a->row < n; a->row++) {
		out[a->row] = row_value(a, sel, nsel);
		if (!out[a->row] || a->err) {
			json_decref(out[a->row]);
			for (size_t r = 0; r < a->row; r++)
				json_decref(out[r]);
			free(out);
			return -1;
		}
	}
	*rows = out;
	*nrows = n;
	return 0;
}

int nc_parquet_read_rows(struct nc_parquet *p, int rg, const char *const *fields, int nfields,
			 json_t ***rows, size_t *nrows)
{
	*rows = NULL;
	*nrows = 0;
	if (rg < 0 || rg >= p->nrgs)
		return nc_fail("%s: no row group %d (the file has %d)", p->name, rg, p->nrgs);
	int *sel = NULL, nsel = 0;
	if (select_fields(p, fields, nfields < 0 ? 0 : nfields, &sel, &nsel))
		return -1;
	struct assembly a = {p, rg, nc_xcalloc((size_t)p->ncolumns, sizeof *a.cur), 0, 0};
	int rc = 0;
	for (int k = 0; k < nsel && rc == 0; k++)
		rc = load_columns(&a, sel[k]);
	if (rc == 0)
		rc = check_row_count(&a);
	if (rc == 0)
		rc = assemble(&a, sel, nsel, rows, nrows);
	if (rc == 0 && check_consumed(&a)) {
		for (size_t r = 0; r < *nrows; r++)
			json_decref((*rows)[r]);
		free(*rows);
		*rows = NULL;
		*nrows = 0;
		rc = -1;
	}
	for (int k = 0; k < p->ncolumns; k++)
		nc_parquet_column_free(&a.cur[k].col);
	free(a.cur);
	free(sel);
	return rc;
}
